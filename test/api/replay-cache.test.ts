import { describe, expect, test } from "bun:test";
import { ReplayCache } from "../../src/api/replay-cache.ts";

describe("ReplayCache", () => {
  test("records once, then reports a replay until the entry expires", () => {
    const clock = { now: 1_000_000 };
    const cache = new ReplayCache({ now: () => clock.now });
    expect(cache.checkAndRecord("c", "n", clock.now + 61_000)).toEqual({ outcome: "recorded" });
    expect(cache.checkAndRecord("c", "n", clock.now + 61_000)).toEqual({ outcome: "replayed" });
    clock.now += 61_000;
    expect(cache.checkAndRecord("c", "n", clock.now + 61_000)).toEqual({ outcome: "replayed" }); // expiry is inclusive
    clock.now += 1;
    expect(cache.checkAndRecord("c", "n", clock.now + 61_000)).toEqual({ outcome: "recorded" });
  });

  test("keyed by (client, nonce)", () => {
    const cache = new ReplayCache({ now: () => 0 });
    expect(cache.checkAndRecord("a", "n", 10).outcome).toBe("recorded");
    expect(cache.checkAndRecord("b", "n", 10).outcome).toBe("recorded");
    expect(cache.checkAndRecord("a", "m", 10).outcome).toBe("recorded");
    expect(cache.size).toBe(3);
  });

  test("bounded: full of live entries → full with Retry-After; expired ones are swept to make room", () => {
    const clock = { now: 0 };
    const cache = new ReplayCache({ maxEntries: 3, now: () => clock.now });
    cache.checkAndRecord("c", "1", 5_000);
    cache.checkAndRecord("c", "2", 10_000);
    cache.checkAndRecord("c", "3", 20_000);
    expect(cache.checkAndRecord("c", "4", 30_000)).toEqual({ outcome: "full", retryAfterSeconds: 5 });
    // Refusing does not evict live entries: the old nonces are still replays.
    expect(cache.checkAndRecord("c", "1", 5_000).outcome).toBe("replayed");
    clock.now = 5_001;
    expect(cache.checkAndRecord("c", "4", 30_000).outcome).toBe("recorded");
    expect(cache.size).toBe(3);
    expect(cache.checkAndRecord("c", "5", 30_000)).toEqual({ outcome: "full", retryAfterSeconds: 5 });
  });

  test("memory stays bounded under a flood, and expired entries are cleaned up incrementally", () => {
    const clock = { now: 0 };
    const cache = new ReplayCache({ maxEntries: 1000, now: () => clock.now });
    let full = 0;
    for (let i = 0; i < 5000; i++) {
      clock.now = i * 100; // 10 requests a second, each living 2 s
      const r = cache.checkAndRecord("c", `n${i}`, clock.now + 2_000);
      if (r.outcome === "full") full++;
      expect(cache.size).toBeLessThanOrEqual(1000);
    }
    expect(full).toBe(0);
    expect(cache.size).toBeLessThanOrEqual(40);
  });

  test("rejects a nonsensical bound", () => {
    expect(() => new ReplayCache({ maxEntries: 0 })).toThrow(RangeError);
  });
});
