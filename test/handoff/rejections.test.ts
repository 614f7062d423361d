/** Coalesced rejection records (src/handoff/rejections.ts): a flood costs a few records a window. */
import { expect, test } from "bun:test";
import { RejectionCoalescer, type PeerRejection } from "../../src/handoff/rejections.ts";

const peer = (uid: number, pid: number, reason = `uid ${uid} is not icecore's uid 1000`) => ({ pid, uid, exe: null, reason });

test("the first refusal of each (user, reason) is reported at once and in full; the rest of the window as one counted record", () => {
  const out: PeerRejection[] = [];
  const coalescer = new RejectionCoalescer((r) => out.push(r), 60_000);
  for (let i = 0; i < 10_000; i++) coalescer.add(peer(1001, 5000 + i));
  coalescer.add(peer(1002, 42));
  expect(out).toEqual([
    { pid: 5000, uid: 1001, exe: null, reason: "uid 1001 is not icecore's uid 1000", count: 1 },
    { pid: 42, uid: 1002, exe: null, reason: "uid 1002 is not icecore's uid 1000", count: 1 },
  ]);
  coalescer.flush();
  expect(out.slice(2)).toEqual([{ pid: null, uid: 1001, exe: null, reason: "uid 1001 is not icecore's uid 1000", count: 9_999 }]);
});

test("reasons that differ only in a pid are one kind; a new window reports the first one again", () => {
  const out: PeerRejection[] = [];
  const coalescer = new RejectionCoalescer((r) => out.push(r), 60_000);
  coalescer.add(peer(1000, 1, "pid 1 is not the child (7) or its descendant"));
  coalescer.add(peer(1000, 2, "pid 2 is not the child (7) or its descendant"));
  coalescer.flush();
  coalescer.add(peer(1000, 3, "pid 3 is not the child (7) or its descendant"));
  expect(out.map((r) => [r.pid, r.count])).toEqual([
    [1, 1],
    [null, 1],
    [3, 1],
  ]);
});

test("distinct keys per window are bounded: a flood from many users cannot grow it without end", () => {
  const out: PeerRejection[] = [];
  const coalescer = new RejectionCoalescer((r) => out.push(r), 60_000);
  for (let uid = 0; uid < 1000; uid++) coalescer.add(peer(uid, uid));
  expect(out.length).toBeLessThanOrEqual(17);
  coalescer.flush();
  expect(out.reduce((n, r) => n + r.count, 0)).toBe(1000);
});

test("the window ends by itself (timer), reporting what it counted", async () => {
  const out: PeerRejection[] = [];
  let flushed!: () => void;
  const done = new Promise<void>((resolve) => (flushed = resolve));
  const coalescer = new RejectionCoalescer((r) => {
    out.push(r);
    if (r.count > 1) flushed();
  }, 50);
  coalescer.add(peer(1001, 1));
  coalescer.add(peer(1001, 2));
  coalescer.add(peer(1001, 3));
  await done;
  expect(out.map((r) => r.count)).toEqual([1, 2]);
});
