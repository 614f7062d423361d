/** Small unit checks of the pieces the route tests exercise end to end. */
import { afterAll, describe, expect, test } from "bun:test";
import { validateArgs } from "../../src/commands/argv-builder.ts";
import { createConcurrencyLimiter } from "../../src/commands/concurrency.ts";
import { placeholderName } from "../../src/commands/deny-rules.ts";
import { catalogueOf, removeScratch } from "./helpers.ts";

afterAll(removeScratch);

describe("concurrency limiter", () => {
  test("caps per client; release is idempotent", () => {
    const l = createConcurrencyLimiter({ perClient: 2 });
    const r1 = l.tryAcquire("a")!;
    const r2 = l.tryAcquire("a")!;
    expect(l.tryAcquire("a")).toBeNull();
    expect(l.tryAcquire("b")).not.toBeNull();
    r1();
    r1();
    expect(l.inFlight("a")).toBe(1);
    expect(() => l.acquire("a")).not.toThrow();
    expect(() => l.acquire("a")).toThrow(expect.objectContaining({ code: "too_many_requests" }));
    r2();
  });
});

describe("string validation order", () => {
  const c = catalogueOf({
    "t.p": { description: "d", executable: "/usr/bin/true", argv: ["{p}"], params: { p: { type: "string", maxLength: 64, pattern: "(a+)+b" } } },
  }).get("t.p")!;

  test("maxLength runs before the pattern: a huge string against a backtracking pattern is refused at once", () => {
    const started = performance.now();
    expect(() => validateArgs(c, { p: "a".repeat(1 << 20) + "c" })).toThrow(expect.objectContaining({ code: "validation_failed" }));
    expect(performance.now() - started).toBeLessThan(100);
  });

  test("NUL, lone surrogates and leading dashes have their own messages", () => {
    const messages = (p: string) => {
      try {
        validateArgs(c, { p });
      } catch (err) {
        return (err as { details: { issues: { message: string }[] } }).details.issues.map((i) => i.message);
      }
      return [];
    };
    expect(messages("a\u0000b")).toEqual(["must not contain NUL"]);
    expect(messages("\ud800b")).toEqual(["must be well-formed Unicode (no lone surrogates)"]);
    expect(messages("-ab")).toEqual(['must not begin with "-"']);
    expect(messages("aac")).toEqual(["does not match the allowed pattern"]);
    expect(messages("aab")).toEqual([]);
  });
});

describe("body shape", () => {
  test("placeholders are whole elements only", () => {
    expect(placeholderName("{device}")).toBe("device");
    expect(placeholderName("--x={device}")).toBeNull();
    expect(placeholderName("{ device }")).toBeNull();
    expect(placeholderName("{}")).toBeNull();
  });
});
