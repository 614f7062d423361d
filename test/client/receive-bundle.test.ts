/**
 * SPEC §4.4, §4.6, §4.7 and the §4 mutual check: the reference client's side of the handoff,
 * against a REAL server in another process: a Python 3 script that binds an abstract Unix socket,
 * accepts, `sendall`s the bytes and closes at once (exactly what the seed's Go server does).
 * Bun's own socket clients intermittently lose the data in that case (PLATFORM-NOTES,
 * "Unix-socket clients"), which is why src/platform/linux.ts reads with raw syscalls.
 *
 * The client must only trust a server that is its ancestor, so ONE Python host serves the whole
 * file and starts each client (test/fixtures/receive-client.ts) as its own child. The bundle
 * reaches Python on stdin, never through a file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { HandoffFailed, receiveBundle } from "../../src/client/receive-bundle.ts";
import { BundleInvalid, BundleSchema, MAX_BUNDLE_BYTES, decodeBundle, encodeBundle, type BundleParts, type ServerKeyJwk } from "../../src/handoff/bundle.ts";
import { mintAuthority, mintClientIdentity, type CertificateAuthority, type ClientIdentity } from "../../src/pki/authority.ts";
import * as v from "valibot";
import { BUN, FIXTURES, PKCS8_BEGIN, PKCS8_END } from "../support/paths.ts";
import { track } from "../support/reaper.ts";

const isLinux = process.platform === "linux";
const PYTHON = Bun.which("python3");
const canRun = isLinux && PYTHON !== null;
if (!canRun) console.info(`receive-bundle.test.ts: skipping the socket tests (${isLinux ? "no python3" : `abstract sockets need Linux, not ${process.platform}`})`);

let ca: CertificateAuthority;
let client: ClientIdentity;
let serverKey: ServerKeyJwk;
let host: Subprocess<"pipe", "pipe", "inherit"> | null = null;
let hostLines: AsyncIterator<string> | null = null;

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
}

beforeAll(async () => {
  ca = await mintAuthority();
  client = await mintClientIdentity(ca, 1, { ttlMs: 3600_000 });
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  serverKey = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as ServerKeyJwk;
  if (canRun) {
    host = track(Bun.spawn([PYTHON!, join(FIXTURES, "bundle-server-host.py")], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }), "run");
    hostLines = lines(host.stdout)[Symbol.asyncIterator]();
  }
});

afterAll(async () => {
  if (host) {
    host.kill("SIGKILL");
    await host.exited;
  }
});

function parts(overrides: Partial<BundleParts> = {}): BundleParts {
  // Copies: encodeBundle's caller owns these buffers.
  return {
    caCertPem: ca.certPem.slice(),
    clientCertPem: client.certPem.slice(),
    clientKeyPem: client.keyPem.slice(),
    apiUrl: "https://127.0.0.1:41234",
    clientId: client.clientId,
    notAfter: client.notAfter,
    serverKey,
    ...overrides,
  };
}

const validBundle = (): Uint8Array => encodeBundle(parts());

function freshName(): string {
  return `@icecore-${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`;
}

type ClientOutcome = { ok: true; bundle: Record<string, unknown>; ms: number } | { ok: false; error: string; message: string; ms: number };

/**
 * One round on the host: it binds `name` (unless mode "none"), starts the client as its child,
 * serves one connection as `mode` says, and reports what the client printed and how many
 * connections it accepted.
 */
async function round(mode: string, payload: Uint8Array, opts: { name?: string; delay?: number; timeoutMs?: number; client?: string[] } = {}): Promise<{ client: ClientOutcome; accepted: number }> {
  const request = {
    mode,
    name: opts.name ?? freshName(),
    payload: Buffer.from(payload).toString("base64"),
    delay: opts.delay ?? 0,
    timeout_ms: opts.timeoutMs ?? 3000,
    client: opts.client ?? [BUN, join(FIXTURES, "receive-client.ts")],
  };
  host!.stdin.write(JSON.stringify(request) + "\n");
  await host!.stdin.flush();
  const next = await hostLines!.next();
  if (next.done) throw new Error("the bundle server host exited");
  return JSON.parse(next.value);
}

async function failure(mode: string, payload: Uint8Array, opts: Parameters<typeof round>[2] = {}): Promise<{ error: string; message: string; ms: number }> {
  const { client: outcome } = await round(mode, payload, opts);
  if (outcome.ok) throw new Error("receiveBundle succeeded where it had to fail");
  return outcome;
}

describe.skipIf(!canRun)("receiveBundle against a write-and-close-at-once server (SPEC §4.7)", () => {
  // Guards: reading with raw syscalls (linux.ts) instead of Bun's socket clients, which drop the
  // data when the server writes and closes at once. All 30 must succeed.
  test("gets the bundle on each of 30 runs", async () => {
    const expected = JSON.parse(new TextDecoder().decode(validBundle()));
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      const { client: outcome } = await round("send", validBundle());
      if (!outcome.ok) failures.push(`${outcome.error}: ${outcome.message}`);
      else expect(outcome.bundle).toEqual(expected);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  // Guards: the SPEC §4 mutual check. This test process is the host's PARENT, not its child: the
  // host is not our ancestor, so the client refuses it before reading a byte.
  test("a server that is not an ancestor of the client is refused before reading", async () => {
    const name = freshName();
    // The host binds `name` after a pause and keeps it bound until `release` exists: its own
    // child only waits for that file and never connects, so the connection below meets the
    // listener however late the bind comes on a busy machine (it used to race the host's child,
    // which took the one connection and ended the endpoint).
    const release = join(mkdtempSync(join(tmpdir(), "icecore-receive-")), "release");
    const waitForRelease = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)";
    const served = round("send", validBundle(), { name, delay: 0.2, client: [PYTHON!, "-c", waitForRelease, release] });
    let outcome: unknown;
    try {
      outcome = await receiveBundle(name, { timeoutMs: 30_000, harden: false }).then(
        () => "received",
        (error: Error) => error,
      );
    } finally {
      writeFileSync(release, "");
    }
    const { accepted } = await served;
    rmSync(dirname(release), { recursive: true, force: true });
    expect(outcome).toBeInstanceOf(HandoffFailed);
    expect((outcome as Error).message).toMatch(/is not an ancestor of this process/);
    // Ours was the one connection the host saw: the refusal is the client's own check.
    expect(accepted).toBe(1);
  });

  // Guards: the retry loop with backoff (100, 200, 400 ms…) while nobody listens yet.
  test("the client starting ~300 ms before the server still gets the bundle (retry)", async () => {
    const { client: outcome } = await round("send", validBundle(), { delay: 0.3, timeoutMs: 5000 });
    if (!outcome.ok) throw new Error(`${outcome.error}: ${outcome.message}`);
    expect(outcome.bundle.client_id).toBe(client.clientId);
    expect(outcome.ms).toBeGreaterThanOrEqual(250);
  });

  // Guards: the deadline: a child whose endpoint never appears must fail, and promptly.
  test("nobody ever listens → HandoffFailed within the timeout and a margin (and not much before)", async () => {
    const outcome = await failure("none", new Uint8Array(0), { timeoutMs: 1000 });
    expect(outcome.error).toBe("HandoffFailed");
    expect(outcome.message).toContain("before the timeout");
    expect(outcome.ms).toBeLessThanOrEqual(1000 + 1000);
    expect(outcome.ms).toBeGreaterThanOrEqual(950);
  });

  // Guards: a refused peer (closed with nothing written) is reported as such, not retried forever
  // nor mistaken for an empty bundle.
  test("a server that closes without writing → error saying this process was not accepted", async () => {
    const outcome = await failure("close", new Uint8Array(0));
    expect(outcome.error).toBe("HandoffFailed");
    expect(outcome.message).toMatch(/not accepted/);
  });

  // Guards: reading until the server closes (not just the first chunk).
  test("a bundle sent in small pieces with pauses is read whole", async () => {
    const { client: outcome } = await round("trickle", validBundle(), { timeoutMs: 5000 });
    if (!outcome.ok) throw new Error(`${outcome.error}: ${outcome.message}`);
    expect(outcome.bundle.client_key).toBe(new TextDecoder().decode(client.keyPem));
  });

  // Guards: the read deadline: a server that never closes cannot hang the child.
  test("a server that writes but never closes → HandoffFailed within the timeout and a margin", async () => {
    const outcome = await failure("hold", validBundle(), { timeoutMs: 1000 });
    expect(outcome.error).toBe("HandoffFailed");
    expect(outcome.message).toMatch(/timed out reading/);
    expect(outcome.ms).toBeLessThanOrEqual(1000 + 1000);
  });

  describe("malformed bundles get clear errors (decodeBundle via receiveBundle)", () => {
    async function serveAndReceive(payload: Uint8Array): Promise<{ error: string; message: string }> {
      const outcome = await failure("send", payload);
      expect(outcome.error).toBe("HandoffFailed");
      return outcome;
    }

    // Guards: the trailing-newline framing check.
    test("truncated (cut mid-object, no newline) → 'not terminated by a newline'", async () => {
      const whole = validBundle();
      const error = await serveAndReceive(whole.slice(0, Math.floor(whole.length / 2)));
      expect(error.message).toMatch(/not terminated by a newline/);
    });

    test("complete JSON without the trailing newline → 'not terminated by a newline'", async () => {
      const whole = validBundle();
      const error = await serveAndReceive(whole.slice(0, whole.length - 1));
      expect(error.message).toMatch(/not terminated by a newline/);
    });

    // Guards: JSON parsing with a clear error.
    test("truncated JSON with a newline appended → 'not valid UTF-8 JSON'", async () => {
      const whole = validBundle();
      const cut = new Uint8Array(1001);
      cut.set(whole.slice(0, 1000));
      cut[1000] = 0x0a;
      const error = await serveAndReceive(cut);
      expect(error.message).toMatch(/not valid UTF-8 JSON/);
    });

    test("invalid UTF-8 → 'not valid UTF-8 JSON'", async () => {
      const error = await serveAndReceive(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]));
      expect(error.message).toMatch(/not valid UTF-8 JSON/);
    });

    // Guards: valibot validation of every field (SPEC §1, §4.7), naming the bad field.
    test.each([
      ["v", (b: Record<string, unknown>) => (b.v = 2)],
      ["client_id", (b: Record<string, unknown>) => (b.client_id = String(b.client_id).toUpperCase())],
      ["api_url", (b: Record<string, unknown>) => (b.api_url = "https://evil.example:443")],
      ["api_url", (b: Record<string, unknown>) => (b.api_url = "http://127.0.0.1:41234")],
      ["client_key", (b: Record<string, unknown>) => (b.client_key = "not a key")],
      ["ca_cert", (b: Record<string, unknown>) => delete b.ca_cert],
      ["not_after", (b: Record<string, unknown>) => (b.not_after = "tomorrow")],
      ["server_key", (b: Record<string, unknown>) => (b.server_key = { kty: "RSA", n: "x", e: "AQAB" })],
    ])("schema-invalid %s → 'the bundle is invalid at <field>'", async (field, mutate) => {
      const value = JSON.parse(new TextDecoder().decode(validBundle())) as Record<string, unknown>;
      mutate(value);
      const error = await serveAndReceive(new TextEncoder().encode(JSON.stringify(value) + "\n"));
      expect(error.message).toContain("the bundle is invalid");
      expect(error.message).toContain(field);
    });

    test("a JSON array or string instead of an object → invalid", async () => {
      expect((await serveAndReceive(new TextEncoder().encode("[1,2,3]\n"))).message).toContain("the bundle is invalid");
      expect((await serveAndReceive(new TextEncoder().encode('"x"\n'))).message).toContain("the bundle is invalid");
    });

    // Guards: the 64 KiB cap (SPEC §4.4), exactly at the boundary.
    test("exactly 64 KiB is accepted; one byte more is refused", async () => {
      const at = paddedBundle(MAX_BUNDLE_BYTES);
      expect(at.length).toBe(MAX_BUNDLE_BYTES);
      const { client: outcome } = await round("send", at);
      expect(outcome.ok).toBe(true);
      const error = await serveAndReceive(paddedBundle(MAX_BUNDLE_BYTES + 1));
      expect(error.message).toMatch(/65536 bytes|64 KiB/);
    });

    test("far over 64 KiB (1 MiB) is refused without reading it all", async () => {
      const error = await serveAndReceive(paddedBundle(1024 * 1024));
      expect(error.message).toMatch(/65536 bytes|64 KiB/);
    });
  });

  // Guards: isEndpointName before connect: a child must not hand its trust to an arbitrary socket.
  // A real listener sits on each bad name; it must see no connection at all.
  test.each([
    ["31 hex digits", (hex: string) => `@icecore-${hex.slice(1)}`],
    ["33 hex digits", (hex: string) => `@icecore-${hex}0`],
    ["upper-case hex", (hex: string) => `@icecore-${hex.toUpperCase().replace(/^[0-9]/, "A")}`],
    ["another prefix", (hex: string) => `@icecorf-${hex}`],
    ["a suffix", (hex: string) => `@icecore-${hex}-x`],
  ])("a name with %s is refused before connecting", async (_what, makeName) => {
    const hex = freshName().slice("@icecore-".length);
    const { client: outcome, accepted } = await round("count", new Uint8Array(0), { name: makeName(hex), timeoutMs: 2000 });
    expect(outcome.ok).toBe(false);
    expect((outcome as { message: string }).message).toMatch(/not an icecore endpoint name/);
    expect(outcome.ms).toBeLessThan(500);
    expect(accepted).toBe(0);
  });

  test("names without the abstract marker, or paths, are refused", async () => {
    const hex = freshName().slice("@icecore-".length);
    for (const bad of [`icecore-${hex}`, `\0icecore-${hex}`, `/tmp/icecore-${hex}.sock`, `\\\\.\\pipe\\icecore-${hex}`, `@icecore-${hex}\n`, ""]) {
      const outcome = await receiveBundle(bad, { timeoutMs: 2000, harden: false }).then(
        () => null,
        (error: Error) => error,
      );
      expect(outcome).toBeInstanceOf(HandoffFailed);
      expect(outcome!.message).toMatch(/not an icecore endpoint name/);
    }
  });
});

/** A valid bundle padded (an extra field; the schema is loose) to exactly `size` bytes. */
function paddedBundle(size: number): Uint8Array {
  const text = new TextDecoder().decode(validBundle());
  const head = text.slice(0, text.length - 2) + ',"pad":"';
  const tail = '"}\n';
  const fill = size - Buffer.byteLength(head) - Buffer.byteLength(tail);
  if (fill < 0) throw new Error("bundle already larger than the requested size");
  return new TextEncoder().encode(head + "x".repeat(fill) + tail);
}

describe("encodeBundle / decodeBundle (SPEC §4.4, §4.6)", () => {
  test("the output is ONE JSON object on one line, ending in \\n, that JSON.parse reads and decodeBundle round-trips", () => {
    const input = parts();
    const expectedKey = new TextDecoder().decode(client.keyPem);
    const bytes = encodeBundle(input);
    const text = new TextDecoder().decode(bytes);
    expect(text.endsWith("\n")).toBe(true);
    expect(text.indexOf("\n")).toBe(text.length - 1);
    expect(bytes.length).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    const parsed = JSON.parse(text);
    expect(parsed).toEqual({
      v: 1,
      ca_cert: new TextDecoder().decode(ca.certPem),
      client_cert: new TextDecoder().decode(client.certPem),
      client_key: expectedKey,
      api_url: "https://127.0.0.1:41234",
      client_id: client.clientId,
      not_after: client.notAfter.toISOString(),
      server_key: serverKey,
    });
    expect(v.is(BundleSchema, parsed)).toBe(true);
    expect(decodeBundle(bytes)).toEqual(parsed);
    // The seed's three fields keep their names (SPEC §4.4).
    expect(Object.keys(parsed).slice(0, 4)).toEqual(["v", "ca_cert", "client_cert", "client_key"]);
  });

  // What encodeBundle promises (read from its code): the output is ONE Uint8Array the sender
  // zeroes; every intermediate piece it built is zeroed; no intermediate STRING holds the key.
  // It does not zero the buffers it is given: the caller owns those (runtime/core.ts zeroes the
  // client key after encoding, and keeps the CA PEM for the next rotation's bundle).
  test("leaves its inputs to the caller: the PEM buffers passed in are intact afterwards", () => {
    const input = parts();
    const before = { ca: input.caCertPem.slice(), cert: input.clientCertPem.slice(), key: input.clientKeyPem.slice() };
    encodeBundle(input);
    expect(input.caCertPem).toEqual(before.ca);
    expect(input.clientCertPem).toEqual(before.cert);
    expect(input.clientKeyPem).toEqual(before.key);
    // The CA PEM is reused for the next bundle (rotation): encoding twice gives the same CA bytes.
    const again = JSON.parse(new TextDecoder().decode(encodeBundle(input)));
    expect(again.ca_cert).toBe(new TextDecoder().decode(ca.certPem));
  });

  // Guards: `piece.fill(0)` in encodeBundle (SPEC §4.6: buffers that held the bundle are overwritten).
  test("zeroes every intermediate buffer that held the key", () => {
    const keyBody = new TextDecoder().decode(client.keyPem).split("\n")[1]!;
    expect(keyBody.length).toBeGreaterThan(20);
    const zeroed: string[] = [];
    const originalFill = Uint8Array.prototype.fill;
    // Record what each buffer held just before encodeBundle zeroes it.
    Uint8Array.prototype.fill = function (this: Uint8Array, value: number, start?: number, end?: number) {
      if (value === 0 && start === undefined && end === undefined) zeroed.push(Buffer.from(this).toString("latin1"));
      return originalFill.call(this, value, start, end);
    } as typeof Uint8Array.prototype.fill;
    let out: Uint8Array;
    try {
      out = encodeBundle(parts());
    } finally {
      Uint8Array.prototype.fill = originalFill;
    }
    expect(new TextDecoder().decode(out)).toContain(keyBody);
    // The escaped client_key piece was among the buffers zeroed…
    expect(zeroed.some((held) => held.includes(keyBody) && held.startsWith(`"${PKCS8_BEGIN}`))).toBe(true);
    // …and so was every other piece: head, field names, the tail with api_url.
    expect(zeroed.some((held) => held.startsWith('{"v":1'))).toBe(true);
    expect(zeroed.some((held) => held.includes('"api_url"'))).toBe(true);
  });

  // Guards: "no intermediate string ever holds the private key" (PEM escaped byte by byte).
  test("never turns the private key into a string on the way", () => {
    const keyLines = new TextDecoder().decode(client.keyPem).split("\n").filter((l) => l.length > 0 && !l.startsWith("-----"));
    const strings: string[] = [];
    const originalEncode = TextEncoder.prototype.encode;
    const originalStringify = JSON.stringify;
    const originalDecode = TextDecoder.prototype.decode;
    TextEncoder.prototype.encode = function (this: TextEncoder, input?: string) {
      strings.push(String(input ?? ""));
      return originalEncode.call(this, input);
    };
    JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
      const result = originalStringify(...args);
      strings.push(result ?? "");
      return result;
    }) as typeof JSON.stringify;
    TextDecoder.prototype.decode = function (this: TextDecoder, ...args: Parameters<TextDecoder["decode"]>) {
      const result = originalDecode.apply(this, args);
      strings.push(result);
      return result;
    };
    try {
      encodeBundle(parts());
    } finally {
      TextEncoder.prototype.encode = originalEncode;
      JSON.stringify = originalStringify;
      TextDecoder.prototype.decode = originalDecode;
    }
    expect(strings.length).toBeGreaterThan(0);
    for (const line of keyLines) for (const s of strings) expect(s.includes(line)).toBe(false);
  });

  // Guards: the byte check in jsonStringOfPem: PEM bytes are copied into JSON unescaped, so a
  // quote or backslash would let a "PEM" inject fields into the bundle.
  test("refuses PEM input that could break out of its JSON string", () => {
    const inject = new TextEncoder().encode(`${PKCS8_BEGIN}\nAAAA","api_url":"https://evil.example:1\n${PKCS8_END}\n`);
    expect(() => encodeBundle(parts({ clientKeyPem: inject }))).toThrow(/not PEM/);
    const backslash = new TextEncoder().encode("-----BEGIN CERTIFICATE-----\nAA\\u0022\n-----END CERTIFICATE-----\n");
    expect(() => encodeBundle(parts({ caCertPem: backslash }))).toThrow(/not PEM/);
    const control = new Uint8Array([0x2d, 0x00, 0x2d]);
    expect(() => encodeBundle(parts({ clientCertPem: control }))).toThrow(/not PEM/);
  });

  // Guards: the escaping itself (a table-driven copy, docs/performance.md): CRLF and LF PEM come
  // back byte for byte; DEL and non-ASCII bytes are refused like control characters.
  test("PEM with CRLF or LF line ends round-trips exactly; DEL and non-ASCII bytes are refused", () => {
    const crlf = new TextEncoder().encode("-----BEGIN CERTIFICATE-----\r\nAAAA\r\nBB==\r\n-----END CERTIFICATE-----\r\n");
    const lf = new TextEncoder().encode("-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----");
    const decoded = decodeBundle(encodeBundle(parts({ caCertPem: crlf.slice(), clientCertPem: lf.slice() })));
    expect(decoded.ca_cert).toBe(new TextDecoder().decode(crlf));
    expect(decoded.client_cert).toBe(new TextDecoder().decode(lf));
    for (const bad of [0x7f, 0x80, 0xc3, 0xff]) {
      expect(() => encodeBundle(parts({ clientCertPem: Uint8Array.of(0x2d, 0x41, bad, 0x0a) }))).toThrow(/not PEM/);
    }
  });

  // Guards: the 64 KiB cap on the server side too.
  test("refuses to build a bundle over 64 KiB", () => {
    const huge = new TextEncoder().encode(`-----BEGIN CERTIFICATE-----\n${"A".repeat(70_000)}\n-----END CERTIFICATE-----\n`);
    expect(() => encodeBundle(parts({ caCertPem: huge }))).toThrow(/65536/);
  });

  test("decodeBundle errors are BundleInvalid with clear messages", () => {
    expect(() => decodeBundle(new Uint8Array(0))).toThrow(BundleInvalid);
    expect(() => decodeBundle(new Uint8Array(0))).toThrow(/not accepted/);
    expect(() => decodeBundle(new TextEncoder().encode("{}"))).toThrow(/newline/);
    expect(() => decodeBundle(new TextEncoder().encode("{\n"))).toThrow(/JSON/);
    expect(() => decodeBundle(new TextEncoder().encode("{}\n"))).toThrow(/invalid/);
    expect(() => decodeBundle(new Uint8Array(MAX_BUNDLE_BYTES + 1).fill(0x20))).toThrow(/over 65536/);
  });
});
