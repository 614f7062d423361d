/**
 * The logger never writes a character a terminal or viewer acts on (docs/hardening.md §11), in either
 * format, and the JSON format still carries the exact value. Through the executable:
 * test/e2e/attack-small.test.ts.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { join } from "node:path";
import { createLogger, GROUP_LINES } from "../../src/log/logger.ts";
import { track } from "../support/reaper.ts";
import { PKCS8_BEGIN } from "../support/paths.ts";

const HOSTILE: Record<string, string> = {
  nul: "\u0000",
  esc: "\u001b[2J",
  del: "\u007f",
  c1_csi: "\u009b31m",
  c1_nel: "\u0085",
  line_separator: "\u2028",
  paragraph_separator: "\u2029",
  arabic_letter_mark: "\u061c",
  lrm: "\u200e",
  rlm: "\u200f",
  rlo: "\u202e",
  lre: "\u202a",
  rli: "\u2067",
  pdi: "\u2069",
};
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function logged(format: "text" | "json", value: string): string {
  const lines: string[] = [];
  createLogger(format, (line) => void lines.push(line)).event("probe", { value });
  return lines[0]!;
}

test.each(Object.entries(HOSTILE))("%s is escaped in text and JSON, and JSON keeps the exact value", (_name, chars) => {
  const value = `a${chars}b`;
  const text = logged("text", value);
  const json = logged("json", value);
  expect(RAW.test(text)).toBe(false);
  expect(RAW.test(json)).toBe(false);
  expect(text).toStartWith('icecore: probe value="a\\u');
  expect(JSON.parse(json).value).toBe(value);
  expect(JSON.parse(text.slice("icecore: probe value=".length))).toBe(value);
});

test("plain values stay as they were: unquoted in text, unchanged in JSON", () => {
  expect(logged("text", "/usr/bin/python3.11")).toBe("icecore: probe value=/usr/bin/python3.11");
  expect(logged("text", "two words")).toBe('icecore: probe value="two words"');
  expect(JSON.parse(logged("json", "héllo ✓ 中文")).value).toBe("héllo ✓ 中文");
  expect(logged("json", "héllo ✓ 中文")).toContain("héllo ✓ 中文");
});

describe("grouped lines (the per-request line, written together)", () => {
  /** A logger whose writes are recorded as they happen, each write being one write(2) to stderr. */
  function recorder() {
    const writes: string[] = [];
    let wake: (() => void) | null = null;
    const logger = createLogger("json", (text) => {
      writes.push(text);
      wake?.();
    }, { grouped: ["request"] });
    const nextWrite = () => new Promise<void>((resolve) => (wake = resolve));
    const lines = () => writes.flatMap((w) => w.split("\n")).map((l) => JSON.parse(l) as { event: string; n?: number });
    return { logger, writes, nextWrite, lines };
  }

  // Guards: GROUP_MS: a lone request line is not held back for long.
  test("a request line is written shortly after, without another event to push it", async () => {
    const r = recorder();
    const written = r.nextWrite();
    r.logger.event("request", { n: 1 });
    expect(r.writes).toEqual([]);
    await written;
    expect(r.lines()).toEqual([expect.objectContaining({ event: "request", n: 1 })]);
  });

  // Guards: GROUP_LINES: under load the lines go out in groups of that many, one write each.
  test(`${GROUP_LINES} pending lines are written at once, in one write`, () => {
    const r = recorder();
    for (let n = 0; n < GROUP_LINES; n++) r.logger.event("request", { n });
    expect(r.writes).toHaveLength(1);
    expect(r.lines().map((l) => l.n)).toEqual(Array.from({ length: GROUP_LINES }, (_, n) => n));
  });

  // Guards: the flush before any other event: the log keeps the order events happened in.
  test("another event writes the pending lines first, so the order is kept", () => {
    const r = recorder();
    r.logger.event("request", { n: 1 });
    r.logger.event("request", { n: 2 });
    r.logger.event("shutdown", { n: 3 });
    expect(r.lines().map((l) => [l.event, l.n])).toEqual([
      ["request", 1],
      ["request", 2],
      ["shutdown", 3],
    ]);
  });

  // Guards: the exit hook: a clean exit loses no line, whatever the timer.
  test("lines pending when the process exits are written before it ends", async () => {
    const script = `
      import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../../src/log/logger.ts"))};
      const logger = createLogger("json", undefined, { grouped: ["request"] });
      for (let n = 0; n < 10; n++) logger.event("request", { n });
      process.exit(3);
    `;
    const proc = track(Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "pipe" }));
    const [status, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(status).toBe(3);
    const lines = err.trim().split("\n").map((l) => JSON.parse(l) as { event: string; n: number });
    expect(lines.map((l) => l.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe("the request line's own formatter (the hottest line, docs/performance.md)", () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom(...Object.values(HOSTILE)), fc.constant("/v1/health"));
  const afterHead = (line: string) => line.slice(line.indexOf(',"event":'));

  test("writes exactly the line event('request', …) writes, in both formats, for any method, path, status, ms and client_id", () => {
    fc.assert(
      fc.property(text, text, fc.integer({ min: 100, max: 599 }), fc.double({ min: 0, max: 1e6, noNaN: true }), fc.option(text, { nil: null }), (method, path, status, ms, clientId) => {
        fc.pre(![method, path, clientId ?? ""].some((s) => s.includes("-----BEGIN")));
        for (const format of ["json", "text"] as const) {
          const lines: string[] = [];
          const logger = createLogger(format, (line) => lines.push(line));
          logger.request(method, path, status, ms, clientId);
          logger.event("request", { method, path, status, ms, client_id: clientId });
          if (format === "json") {
            expect(afterHead(lines[0]!)).toBe(afterHead(lines[1]!));
            expect(JSON.parse(lines[0]!)).toMatchObject({ event: "request", method, path, status, ms, client_id: clientId });
          } else expect(lines[0]).toBe(lines[1]);
          expect(RAW.test(lines[0]!)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a method or path holding a PEM marker is logged as withheld, and the line is still written", () => {
    const lines: string[] = [];
    const logger = createLogger("json", (line) => lines.push(line));
    logger.request("GET", `/v1/${PKCS8_BEGIN}`, 404, 0.1, null);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("-----BEGIN");
    expect(JSON.parse(lines[0]!)).toMatchObject({ path: "(withheld: holds a PEM marker)", status: 404 });
  });
});
