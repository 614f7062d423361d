import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import * as v from "valibot";
import { problemResponse } from "../../src/api/problem.ts";
import { problemOf } from "../../src/api/problem-map.ts";
import { validJson } from "../../src/api/request-checks.ts";
import { DEFAULT_MAX_BODY_BYTES, parseBodyMediaType, readBody } from "../../src/api/middleware/body.ts";
import { decodeBody } from "../../src/api/middleware/jwe-body.ts";
import { mintServerKey } from "../../src/api/server-key.ts";

const URL_ = "http://127.0.0.1:41234/v1/commands/x";

/** readBody + decodeBody + a JSON validator and a counting handler: the body part of the chain on its own. */
async function bodyApp(maxBytes?: number) {
  const serverKey = await mintServerKey();
  const calls = { n: 0, raw: 0 };
  const app = new Hono<any>();
  app.onError((err, c) => {
    const problem = problemOf(err);
    return problem ? problemResponse(c, problem) : c.text(String(err), 500);
  });
  app.post("/v1/commands/:name", readBody(maxBytes ? { maxBytes } : {}), decodeBody({ serverKey: serverKey.privateKey }), validJson(v.unknown()), (c) => {
    calls.n++;
    calls.raw = c.get("rawBody").length;
    const body = c.get("bodyText") === null ? null : c.req.valid("json");
    return c.json({ body, mediaType: c.get("bodyMediaType") });
  });
  return { app, calls };
}

/** A body that never ends: every pull produces another chunk. Counts what was pulled. */
function endlessStream(chunkBytes = 16 * 1024) {
  const stats = { pulled: 0, cancelled: false };
  const { promise: cancelledEvent, resolve: onCancel } = Promise.withResolvers<void>();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      stats.pulled += chunkBytes;
      controller.enqueue(new Uint8Array(chunkBytes).fill(0x20));
    },
    cancel() {
      stats.cancelled = true;
      onCancel();
    },
  });
  return { stream, stats, cancelledEvent };
}

async function codeOf(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return ((await res.json()) as { code: string }).code;
}

describe("parseBodyMediaType", () => {
  test("accepts json (with a utf-8 charset, any case) and bare jose", () => {
    expect(parseBodyMediaType("application/json")).toBe("application/json");
    expect(parseBodyMediaType("Application/JSON; charset=UTF-8")).toBe("application/json");
    expect(parseBodyMediaType('application/json;charset="utf-8"')).toBe("application/json");
    expect(parseBodyMediaType("application/jose")).toBe("application/jose");
  });
  test("refuses everything else", () => {
    for (const t of [null, "", "text/plain", "application/json; charset=latin1", "application/jose+json", "application/jose; x=1", "application/json;;", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
      expect(parseBodyMediaType(t)).toBeNull();
    }
  });
});

describe("readBody", () => {
  test("a JSON body is read and handed on", async () => {
    const { app, calls } = await bodyApp();
    const res = await app.request(URL_, { method: "POST", body: '{"a":1}', headers: { "Content-Type": "application/json; charset=utf-8" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ body: { a: 1 }, mediaType: "application/json" });
    expect(calls.n).toBe(1);
  });

  test("a POST without a body needs no Content-Type", async () => {
    const { app, calls } = await bodyApp();
    const res = await app.request(URL_, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ body: null, mediaType: null });
    expect(calls.raw).toBe(0);
  });

  test("415 unsupported_media_type for text/plain, for no Content-Type, and for a non-utf-8 charset", async () => {
    const { app, calls } = await bodyApp();
    // Bytes, not a string: a string body would make Request add text/plain by itself.
    const body = new TextEncoder().encode('{"a":1}');
    const variants: Array<Record<string, string>> = [{ "Content-Type": "text/plain" }, {}, { "Content-Type": "application/json; charset=iso-8859-1" }];
    for (const headers of variants) {
      const req = new Request(URL_, { method: "POST", body, headers });
      if (Object.keys(headers).length === 0) expect(req.headers.get("content-type")).toBeNull();
      const res = await app.request(req);
      expect(res.status).toBe(415);
      expect(await codeOf(res)).toBe("unsupported_media_type");
    }
    expect(calls.n).toBe(0);
  });

  test("400 malformed_json for bad JSON and for invalid UTF-8", async () => {
    const { app, calls } = await bodyApp();
    for (const body of ['{"a":', new Uint8Array([0x22, 0xff, 0xfe, 0x22])]) {
      const res = await app.request(URL_, { method: "POST", body, headers: { "Content-Type": "application/json" } });
      expect(res.status).toBe(400);
      expect(await codeOf(res)).toBe("malformed_json");
    }
    expect(calls.n).toBe(0);
  });

  test("exactly maxBytes is accepted; one more byte is 413", async () => {
    const { app, calls } = await bodyApp(32);
    const ok = JSON.stringify({ s: "x".repeat(32 - 8) });
    expect(ok.length).toBe(32);
    expect((await app.request(URL_, { method: "POST", body: ok, headers: { "Content-Type": "application/json" } })).status).toBe(200);
    const over = JSON.stringify({ s: "x".repeat(32 - 7) });
    const res = await app.request(URL_, { method: "POST", body: over, headers: { "Content-Type": "application/json" } });
    expect(res.status).toBe(413);
    expect(await codeOf(res)).toBe("payload_too_large");
    expect(calls.n).toBe(1);
  });

  test("413 from a declared Content-Length before a single byte is read", async () => {
    const { app, calls } = await bodyApp();
    const { stream, stats } = endlessStream();
    const res = await app.request(URL_, {
      method: "POST",
      body: stream,
      headers: { "Content-Type": "application/json", "Content-Length": String(DEFAULT_MAX_BODY_BYTES + 1) },
    });
    expect(res.status).toBe(413);
    expect(await codeOf(res)).toBe("payload_too_large");
    // A ReadableStream pulls once to fill its queue (highWaterMark 1) when it is created; the
    // middleware itself read nothing.
    expect(stats.pulled).toBeLessThanOrEqual(16 * 1024);
    expect(calls.n).toBe(0);
  });

  test("413 while reading an endless stream, which is cancelled after at most one chunk past the limit", async () => {
    const { app, calls } = await bodyApp();
    const { stream, stats, cancelledEvent } = endlessStream();
    const res = await app.request(URL_, { method: "POST", body: stream, headers: { "Content-Type": "application/json" } });
    expect(res.status).toBe(413);
    expect(await codeOf(res)).toBe("payload_too_large");
    await cancelledEvent;
    const bound = DEFAULT_MAX_BODY_BYTES + 2 * 16 * 1024;
    expect(stats.pulled).toBeLessThanOrEqual(bound);
    expect(stats.cancelled).toBe(true);
    const pulledThen = stats.pulled;
    // Proving that nothing happens needs a window; 50 ms is many event-loop turns for a drain.
    await Bun.sleep(50);
    expect(stats.pulled).toBe(pulledThen); // nobody keeps draining it afterwards
    expect(calls.n).toBe(0);
  });

  test("400 bad_content_length for a Content-Length that is not a number", async () => {
    const { app } = await bodyApp();
    const res = await app.request(URL_, { method: "POST", body: "{}", headers: { "Content-Type": "application/json", "Content-Length": "12abc" } });
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe("bad_content_length");
  });
});

describe("readBody on a real Bun.serve", () => {
  test("an endless chunked upload gets 413 without the server draining it", async () => {
    const { app, calls } = await bodyApp();
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    try {
      const { stream, stats } = endlessStream();
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/commands/x`, {
        method: "POST",
        body: stream,
        headers: { "Content-Type": "application/json" },
        duplex: "half",
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(await codeOf(res)).toBe("payload_too_large");
      // Proving the server does not drain needs a window (a non-event cannot be awaited).
      await Bun.sleep(100);
      // Kernel socket buffers and fetch's own buffering let the client push somewhat past 64 KiB,
      // but a server that kept reading would have drained megabytes by now.
      expect(stats.pulled).toBeLessThan(1024 * 1024);
      if (process.env.ICECORE_TEST_VERBOSE) console.log(`endless upload: client pulled ${stats.pulled} bytes before the 413`);
      expect(calls.n).toBe(0);
    } finally {
      server.stop(true);
    }
  });

  test("a declared Content-Length over the limit is refused by a real server", async () => {
    const { app } = await bodyApp();
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/commands/x`, {
        method: "POST",
        body: new Uint8Array(DEFAULT_MAX_BODY_BYTES + 1).fill(0x20),
        headers: { "Content-Type": "application/json" },
      });
      expect(res.status).toBe(413);
      expect(await codeOf(res)).toBe("payload_too_large");
    } finally {
      server.stop(true);
    }
  });
});
