/**
 * SPEC §8.5 (faults) for the Core API over real TLS on real loopback sockets: 10,000 connection
 * attempts, malformed TLS, slowloris clients (with a GOOD client certificate, the worst case),
 * a stalled TLS handshake, and a huge declared body. After each attack the server must still
 * answer a good mTLS client with 200 on GET /v1/health (SPEC §5).
 *
 * The fixture runs the real `listenTls` (Bun.serve, `idleTimeout: 10`) + `createApp` in THIS
 * process, so /proc/self/fd counts both ends; an fd leak on the server side shows up there.
 *
 * Every loop is bounded in count and in time; every wait has a deadline; every test has an
 * explicit timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { connect as netConnect, createServer, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { mapLimited, startPkiFixture, tlsRequest, type PkiFixture } from "../support/pki-fixture.ts";

/** Bun's idleTimeout in src/api/server.ts is 10 s; its timer ticks coarsely, so allow 15 s. */
const IDLE_CLOSE_BOUND_MS = 15_000;

let fx: PkiFixture;

beforeAll(async () => {
  fx = await startPkiFixture();
});

afterAll(async () => {
  await fx?.stop();
});

const fdCount = (): number => readdirSync("/proc/self/fd").length;

/** Polls until at most `target` fds are open, or `maxMs` passed; returns the last count. */
async function settleFds(target: number, maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  let count = fdCount();
  while (count > target && performance.now() < deadline) {
    await Bun.sleep(100);
    count = fdCount();
  }
  return count;
}

/** A good mTLS client on a NEW connection: must get 200 {"status":"ok"}; returns the duration. */
async function expectHealthy(timeoutMs = 5_000): Promise<number> {
  const t0 = performance.now();
  const response = await tlsRequest({ port: fx.port, ca: fx.caPem, ...fx.clientTls, timeoutMs });
  const ms = performance.now() - t0;
  if (response.status !== 200) console.error("good client after the attack:", response.status, response.error, response.body.slice(0, 200));
  expect(response.status).toBe(200);
  expect(JSON.parse(response.body)).toEqual({ status: "ok" });
  return ms;
}

interface CloseWatch {
  /** Resolves when the peer closes (end/close/error) or at the deadline ("timeout"). */
  closed: Promise<{ how: string; atMs: number }>;
  /** Bytes the server sent us. */
  received(): Buffer;
}

/** Watches a socket for the SERVER closing it; we never end() it ourselves before the verdict. */
function watchClose(socket: Socket, maxMs: number): CloseWatch {
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<{ how: string; atMs: number }>((resolve) => {
    let settled = false;
    const done = (how: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ how, atMs: performance.now() });
    };
    const timer = setTimeout(() => done("timeout"), maxMs);
    socket.on("end", () => done("end"));
    socket.on("close", () => done("close"));
    socket.on("error", (error: Error & { code?: string }) => done(`error ${error.code ?? error.message}`));
  });
  return { closed, received: () => Buffer.concat(chunks) };
}

/** Opens a raw TCP connection, writes `bytes` (then FIN if `halfClose`), waits for the server to close it. */
function sendRaw(bytes: Buffer, halfClose: boolean, maxMs: number): Promise<{ how: string; ms: number; back: Buffer }> {
  const t0 = performance.now();
  const socket = netConnect({ host: "127.0.0.1", port: fx.port });
  const watch = watchClose(socket, maxMs);
  socket.once("connect", () => {
    socket.write(bytes);
    if (halfClose) socket.end();
  });
  return watch.closed.then(({ how, atMs }) => {
    socket.destroy();
    return { how, ms: atMs - t0, back: watch.received() };
  });
}

/** The first flight a real node:tls client sends (a full TLS ClientHello), captured through a local TCP sink. */
async function captureClientHello(): Promise<Buffer> {
  const sink = createServer();
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const port = (sink.address() as { port: number }).port;
  const captured = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no ClientHello within 5 s")), 5_000);
    sink.once("connection", (peer: Socket) => {
      const parts: Buffer[] = [];
      peer.on("data", (chunk: Buffer) => {
        parts.push(chunk);
        const all = Buffer.concat(parts);
        // One whole TLS record: 5-byte header + its declared length.
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          clearTimeout(timer);
          peer.destroy();
          resolve(all.subarray(0, 5 + all.readUInt16BE(3)));
        }
      });
    });
  });
  const client = tlsConnect({ host: "127.0.0.1", port, ca: fx.caPem, ...fx.clientTls });
  client.on("error", () => {});
  try {
    return await captured;
  } finally {
    client.destroy();
    sink.close();
  }
}

/** Deterministic PRNG (mulberry32) so a failing random payload can be reproduced from its index. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A classic SSLv2 CLIENT-HELLO (2-byte header with the high bit set, msg type 1, version 0x0002). */
function sslv2ClientHello(): Buffer {
  const cipherSpecs = [0x01, 0x00, 0x80, 0x07, 0x00, 0xc0, 0x03, 0x00, 0x80]; // RC4-MD5, DES-EDE3, RC2
  const challenge = Array.from({ length: 16 }, (_, i) => i + 1);
  const body = [0x01, 0x00, 0x02, 0x00, cipherSpecs.length, 0x00, 0x00, 0x00, challenge.length, ...cipherSpecs, ...challenge];
  return Buffer.from([0x80 | (body.length >> 8), body.length & 0xff, ...body]);
}

/** Opens a TLS connection with the GOOD client certificate and resolves once the client handshake is done. */
function goodTlsSocket(maxMs: number): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port: fx.port, ca: fx.caPem, ...fx.clientTls, rejectUnauthorized: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${maxMs} ms`));
    }, maxMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Reads on `socket` until one complete HTTP response head (+ Content-Length body) arrived, bounded. */
function readOneResponse(socket: TLSSocket, maxMs: number): Promise<{ status: number | null; head: string }> {
  return new Promise((resolve) => {
    let raw = Buffer.alloc(0);
    const finish = (status: number | null, head: string) => {
      clearTimeout(timer);
      socket.off("data", onData);
      resolve({ status, head });
    };
    const onData = (chunk: Buffer) => {
      raw = Buffer.concat([raw, chunk]);
      const text = raw.toString("latin1");
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? 0);
      if (raw.length < headEnd + 4 + length) return;
      finish(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? NaN), text.slice(0, headEnd));
    };
    const timer = setTimeout(() => finish(null, raw.toString("latin1")), maxMs);
    socket.on("data", onData);
  });
}

describe("Core API under faults (SPEC §8.5)", () => {
  test("control: a good mTLS client gets 200 on GET /v1/health", async () => {
    await expectHealthy();
  });

  // Guards: the accept path (a connection that leaves before/while the TLS handshake starts must
  // not kill the server nor leave its socket open). Fails if the server stops answering, if any
  // attempt cannot connect, or if the process holds more than FD_SLACK extra fds afterwards
  // (checked by mutation: 20 connections left open show up as +40 fds, both ends being in-process).
  test(
    "10,000 TCP connect-and-close attempts: server still answers 200 and leaks no file descriptor",
    async () => {
      const ATTEMPTS = 10_000;
      const CONCURRENCY = 64;
      const FD_SLACK = 8;
      await expectHealthy();
      await Bun.sleep(200);
      const fdsBefore = fdCount();

      let connected = 0;
      const failures: string[] = [];
      const t0 = performance.now();
      await mapLimited(ATTEMPTS, CONCURRENCY, () => {
        return new Promise<void>((resolve) => {
          const socket = netConnect({ host: "127.0.0.1", port: fx.port });
          let settled = false;
          const done = (failure?: string) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (failure !== undefined) failures.push(failure);
            socket.destroy();
            resolve();
          };
          const timer = setTimeout(() => done("connect timeout (5 s)"), 5_000);
          socket.once("connect", () => {
            connected++;
            socket.destroy();
          });
          socket.once("error", (error: Error & { code?: string }) => done(error.code ?? error.message));
          socket.once("close", () => done());
        });
      });
      const attackMs = performance.now() - t0;
      console.log(`[faults] ${ATTEMPTS} connect+close attempts (${CONCURRENCY} at a time) took ${attackMs.toFixed(0)} ms`);

      if (failures.length > 0) console.error("[faults] failed attempts (first 5):", failures.slice(0, 5));
      expect(failures).toEqual([]);
      expect(connected).toBe(ATTEMPTS);

      const healthMs = await expectHealthy();
      const fdsAfter = await settleFds(fdsBefore + FD_SLACK, 5_000);
      console.log(`[faults] good request after the flood: ${healthMs.toFixed(0)} ms; fds before ${fdsBefore}, after ${fdsAfter}`);
      expect(fdsAfter - fdsBefore).toBeLessThanOrEqual(FD_SLACK);
    },
    60_000,
  );

  // Guards: the TLS record layer refuses garbage at once (alert + close) instead of waiting,
  // crashing or serving it. Fails if any of the 200 connections is still open after 3 s (so it was
  // not refused) or if the good client does not get 200 afterwards.
  test(
    "malformed TLS (random bytes, truncated ClientHello, bogus record length, SSLv2 hello): each is closed, then 200",
    async () => {
      const CLOSE_BOUND_MS = 3_000;
      const hello = await captureClientHello();
      expect(hello[0]).toBe(0x16); // handshake record
      expect(hello[5]).toBe(0x01); // ClientHello

      const random = prng(0x1ceC0de);
      type Case = { kind: string; bytes: Buffer; halfClose: boolean };
      const cases: Case[] = [];
      for (let i = 0; i < 80; i++) {
        const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 2048) }, () => Math.floor(random() * 256)));
        // A first byte of 0x14..0x17 is a valid TLS content type: the record is then legitimately
        // "incomplete" and the server waits for more (a stalled handshake, tested separately below).
        if (bytes[0]! >= 0x14 && bytes[0]! <= 0x17) bytes[0] = 0x42;
        cases.push({ kind: `random#${i}`, bytes, halfClose: false });
      }
      for (let i = 0; i < 40; i++) {
        // A prefix of a real ClientHello, then FIN: the server can never get the rest.
        const cut = 1 + Math.floor(((hello.length - 2) * i) / 40);
        cases.push({ kind: `truncated-hello[0..${cut}]+FIN`, bytes: hello.subarray(0, cut), halfClose: true });
      }
      for (let i = 0; i < 40; i++) {
        // A handshake record header declaring 0xFFFF bytes (> 2^14 + 2048: record_overflow), then part of the hello.
        const header = Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]);
        cases.push({ kind: `bogus-length#${i}`, bytes: Buffer.concat([header, hello.subarray(5, 5 + 1 + i * 20)]), halfClose: false });
      }
      for (let i = 0; i < 40; i++) cases.push({ kind: `sslv2-hello#${i}`, bytes: sslv2ClientHello(), halfClose: false });
      expect(cases.length).toBe(200);

      const t0 = performance.now();
      const results = await mapLimited(cases.length, 20, (i) => sendRaw(cases[i]!.bytes, cases[i]!.halfClose, CLOSE_BOUND_MS + 2_000));
      console.log(`[faults] 200 malformed TLS connections took ${(performance.now() - t0).toFixed(0)} ms`);

      const notClosed = results.flatMap((r, i) => (r.how === "timeout" || r.ms > CLOSE_BOUND_MS ? [`${cases[i]!.kind}: ${r.how} after ${r.ms.toFixed(0)} ms`] : []));
      const servedHttp = results.flatMap((r, i) => (r.back.toString("latin1").startsWith("HTTP/") ? [cases[i]!.kind] : []));
      const alerts = results.filter((r) => r.back.length > 0 && r.back[0] === 0x15).length;
      console.log(`[faults] malformed TLS: ${alerts}/200 answered with a TLS alert record; max close time ${Math.max(...results.map((r) => r.ms)).toFixed(0)} ms`);
      if (notClosed.length > 0) console.error("[faults] not closed by the server:", notClosed.slice(0, 10));
      expect(notClosed).toEqual([]);
      expect(servedHttp).toEqual([]);

      await expectHealthy();
    },
    60_000,
  );

  // Guards: a stalled TLS handshake (a ClientHello that never finishes) is dropped, so handshake
  // slots cannot be held forever. Fails if any stays open past 15 s. (Measured: closed at ~12 s.
  // This holds even with `idleTimeout: 0`: Bun/uWS has its own ~10 s timeout for a connection
  // that has not yet delivered a first request.)
  test(
    "stalled TLS handshake (partial ClientHello, no FIN): closed by the server within 15 s; good client 200 meanwhile",
    async () => {
      const STALLED = 20;
      const hello = await captureClientHello();
      const t0 = performance.now();
      const pending = Array.from({ length: STALLED }, (_, i) =>
        sendRaw(hello.subarray(0, 5 + Math.floor(((hello.length - 6) * i) / STALLED)), false, IDLE_CLOSE_BOUND_MS + 3_000),
      );
      // The good client is checked while the stalled handshakes are in place.
      await Bun.sleep(500);
      const healthMs = await expectHealthy(1_000);
      expect(healthMs).toBeLessThan(1_000);
      const results = await Promise.all(pending);
      const slowest = Math.max(...results.map((r) => r.ms));
      console.log(`[faults] ${STALLED} stalled handshakes closed by the server after at most ${slowest.toFixed(0)} ms (good client: ${healthMs.toFixed(0)} ms; total ${(performance.now() - t0).toFixed(0)} ms)`);
      expect(results.filter((r) => r.how === "timeout" || r.ms > IDLE_CLOSE_BOUND_MS)).toEqual([]);
      await expectHealthy();
    },
    30_000,
  );

  // Guards: slowloris by clients holding a GOOD certificate (mTLS cannot stop them): a request
  // head dripped one byte per 500 ms must neither starve a good client (200 within 1 s) nor hold
  // the connection forever (Bun's idleTimeout: 10 must close it). Half the slow connections drip
  // on a fresh connection, half after one complete keep-alive request (proving the server had
  // accepted them). Fails if the good client is slow or refused, or if any slow connection is
  // still open 15 s after its drip began. Checked by mutation: with `idleTimeout: 0` the 25
  // keep-alive connections stay open and this test fails (the 25 fresh ones are still closed at
  // ~12 s by Bun's built-in first-request timeout), so the keep-alive half is what pins the setting.
  test(
    "slowloris with a good client certificate: a good client gets 200 within 1 s; the idle timeout closes the stalled connections",
    async () => {
      const SLOW = 50;
      const DRIP_MS = 500;
      const head = Buffer.from(`GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${fx.port}\r\nX-Slow: ${"a".repeat(200)}`);

      type Slow = { socket: TLSSocket; watch: CloseWatch; startedAt: number; sent: number; keepAlive: boolean };
      const slow: Slow[] = await mapLimited(SLOW, 10, async (i) => {
        const socket = await goodTlsSocket(5_000);
        socket.on("error", () => {}); // writes after the server closed us
        const keepAlive = i % 2 === 1;
        if (keepAlive) {
          socket.write(`GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${fx.port}\r\n\r\n`);
          const first = await readOneResponse(socket, 5_000);
          expect(first.status).toBe(200);
        }
        const watch = watchClose(socket, 30_000);
        return { socket, watch, startedAt: performance.now(), sent: 0, keepAlive };
      });

      const closedAt = new Map<Slow, { how: string; atMs: number }>();
      for (const s of slow) void s.watch.closed.then((r) => closedAt.set(s, r));

      // One timer drips a byte on every open slow connection; bounded by the head's length and 20 s.
      const dripDeadline = performance.now() + 20_000;
      const drip = setInterval(() => {
        if (performance.now() > dripDeadline) return clearInterval(drip);
        for (const s of slow) {
          if (closedAt.has(s) || s.sent >= head.length || s.socket.destroyed) continue;
          s.socket.write(head.subarray(s.sent, s.sent + 1));
          s.sent++;
        }
      }, DRIP_MS);

      try {
        // The good client is checked while the attack is under way: after two drips.
        await Bun.sleep(2 * DRIP_MS);
        const openDuringCheck = slow.filter((s) => !closedAt.has(s)).length;
        const healthMs = await expectHealthy(1_000);
        console.log(`[faults] slowloris: ${openDuringCheck}/${SLOW} slow connections open; good client got 200 in ${healthMs.toFixed(0)} ms`);
        expect(healthMs).toBeLessThan(1_000);

        // Wait (bounded) for the server to close every slow connection.
        const waitUntil = Math.max(...slow.map((s) => s.startedAt)) + IDLE_CLOSE_BOUND_MS + 500;
        let bound: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(slow.map((s) => s.watch.closed)),
          new Promise<void>((resolve) => (bound = setTimeout(resolve, Math.max(0, waitUntil - performance.now())))),
        ]);
        clearTimeout(bound);
        // closedAt is filled by the same `closed` promises; let their callbacks run.
        await Promise.resolve();

        const lifetimes = slow.map((s) => {
          const c = closedAt.get(s);
          return c === undefined ? Infinity : c.atMs - s.startedAt;
        });
        const stillOpen = slow.filter((s) => !closedAt.has(s));
        const finite = lifetimes.filter(Number.isFinite);
        console.log(
          `[faults] slowloris: ${SLOW - stillOpen.length}/${SLOW} closed by the server; lifetime min ${Math.min(...finite).toFixed(0)} ms, max ${Math.max(...finite).toFixed(0)} ms; ` +
            `bytes dripped max ${Math.max(...slow.map((s) => s.sent))}; server replies: ${[...new Set(slow.map((s) => s.watch.received().toString("latin1").split("\r\n")[0]))].join(" | ")}`,
        );
        if (stillOpen.length > 0) {
          console.error(`[faults] ${stillOpen.length} slow connections still open ${IDLE_CLOSE_BOUND_MS} ms after their drip began (keep-alive: ${stillOpen.filter((s) => s.keepAlive).length}, fresh: ${stillOpen.filter((s) => !s.keepAlive).length})`);
        }
        expect(stillOpen.length).toBe(0);
        expect(Math.max(...lifetimes)).toBeLessThanOrEqual(IDLE_CLOSE_BOUND_MS);
        // None of the slow requests was completed, so none may have been answered with a 200.
        expect(slow.filter((s) => s.watch.received().toString("latin1").startsWith("HTTP/1.1 200"))).toEqual([]);

        await expectHealthy();
      } finally {
        clearInterval(drip);
        for (const s of slow) s.socket.destroy();
      }
    },
    30_000,
  );

  // Guards: a huge declared body is refused from Content-Length before any byte of it is read
  // (SPEC §5 "over 64 KiB 413"), so a client cannot make the server wait for or buffer it, and the
  // stalled connection is then closed. Two layers answer: above Bun's own maxRequestBodySize
  // (default 128 MiB) Bun itself refuses the 1 GB request; below it (100 MiB) the app's readBody
  // does. Fails if no 413 arrives within 2 s, if the connection is kept open, or if the server
  // stops answering others (checked by mutation: without readBody's Content-Length check the
  // 100 MiB case gets no answer within 5 s).
  for (const [label, declared, fromApp] of [
    ["1 GB", 1024 * 1024 * 1024, false],
    ["100 MiB", 100 * 1024 * 1024, true],
  ] as const) {
    test(
      `POST /v1/commands/x declaring Content-Length: ${label} then stalling: 413 quickly, connection closed, others still served`,
      async () => {
        const socket = await goodTlsSocket(5_000);
        socket.on("error", () => {});
        const watch = watchClose(socket, IDLE_CLOSE_BOUND_MS);
        try {
          const t0 = performance.now();
          socket.write(
            `POST /v1/commands/x HTTP/1.1\r\nHost: 127.0.0.1:${fx.port}\r\nContent-Type: application/json\r\n` +
              `Content-Length: ${declared}\r\n\r\n{"args":{`,
          );
          const response = await readOneResponse(socket, 5_000);
          const ms = performance.now() - t0;
          console.log(`[faults] ${label} Content-Length: ${JSON.stringify(response.head.split("\r\n"))} after ${ms.toFixed(0)} ms`);
          expect(response.status).toBe(413);
          expect(ms).toBeLessThan(2_000);
          expect(response.head.toLowerCase()).toMatch(/\r\nconnection: close(\r\n|$)/);
          // Only the app's 413 is RFC 9457; Bun's own one (above 128 MiB) is bare (see the report).
          if (fromApp) expect(response.head.toLowerCase()).toContain("content-type: application/problem+json");

          // Meanwhile others are served, quickly.
          const healthMs = await expectHealthy(1_000);
          expect(healthMs).toBeLessThan(1_000);

          // "Connection: close": the stalled connection must not be kept waiting for its body.
          const closed = await watch.closed;
          console.log(`[faults] ${label} Content-Length: connection ${closed.how} after ${(closed.atMs - t0).toFixed(0)} ms`);
          expect(closed.how).not.toBe("timeout");
          expect(closed.atMs - t0).toBeLessThan(2_000);
        } finally {
          socket.destroy();
        }
        await expectHealthy();
      },
      30_000,
    );
  }
});
