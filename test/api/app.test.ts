/**
 * SPEC §5 request rules, through the real TLS server (listenTls + createApp) with a good client
 * certificate, one new TLS connection per request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLogger } from "../../src/log/logger.ts";
import { VERSION } from "../../src/version.ts";
import { signRequest } from "../../src/httpsig/sign.ts";
import { importClientKey } from "../../src/client/request-signer.ts";
import { startPkiFixture, tlsRequest, type PkiFixture, type TlsRequestOptions, type TlsResponse } from "../support/pki-fixture.ts";

let fx: PkiFixture;
const logLines: string[] = [];

beforeAll(async () => {
  fx = await startPkiFixture({ logger: createLogger("json", (line) => logLines.push(line)) });
});

afterAll(async () => {
  await fx?.stop();
});

const request = (extra: Partial<TlsRequestOptions> = {}): Promise<TlsResponse> =>
  tlsRequest({ port: fx.port, ca: fx.caPem, ...fx.clientTls, ...extra });

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [key: string]: unknown;
}

function expectProblem(response: TlsResponse, status: number, code?: string): Problem {
  expect(response.status).toBe(status);
  expect(response.headers["content-type"]).toStartWith("application/problem+json");
  const problem = JSON.parse(response.body) as Problem;
  expect(typeof problem.type).toBe("string");
  expect(problem.type.length).toBeGreaterThan(0);
  expect(typeof problem.title).toBe("string");
  expect(problem.status).toBe(status);
  expect(typeof problem.detail).toBe("string");
  expect(typeof problem.code).toBe("string");
  if (code !== undefined) expect(problem.code).toBe(code);
  // Never a stack trace (SPEC §5 errors).
  expect(response.body).not.toMatch(/\bat .+:\d+:\d+|stack/i);
  return problem;
}

function expectSecurityHeaders(response: TlsResponse): void {
  expect(response.headers["x-content-type-options"]).toBe("nosniff");
  expect(response.headers["x-frame-options"]).toBe("DENY");
  const csp = response.headers["content-security-policy"];
  expect(csp).toBeDefined();
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).not.toContain("*");
}

function expectNoCors(response: TlsResponse): void {
  const cors = Object.keys(response.headers).filter((name) => name.startsWith("access-control-"));
  expect(cors).toEqual([]);
}

describe("Host check: DNS rebinding (SPEC §5)", () => {
  test("control: 127.0.0.1:<port>, [::1]:<port>, localhost:<port> (any case) are served", async () => {
    for (const host of [`127.0.0.1:${fx.port}`, `[::1]:${fx.port}`, `localhost:${fx.port}`, `LocalHost:${fx.port}`]) {
      const response = await request({ host });
      expect({ host, status: response.status }).toEqual({ host, status: 200 });
    }
  });

  // Guards: hostCheck (a rebinding page reaches 127.0.0.1 with ITS OWN name in Host).
  test.each([
    ["a foreign name with our port", () => `evil.example:${fx.port}`],
    ["our address with another port", () => "127.0.0.1:1"],
    ["our address with no port", () => "127.0.0.1"],
    ["localhost with no port", () => "localhost"],
    ["a name that starts with localhost", () => `localhost.evil:${fx.port}`],
    ["a name that ends with our address", () => `evil.127.0.0.1:${fx.port}`],
    ["our port with a leading zero", () => `127.0.0.1:0${fx.port}`],
    ["userinfo smuggling", () => `127.0.0.1:${fx.port}@evil.example`],
    ["another loopback address", () => `127.0.0.2:${fx.port}`],
    ["an unbracketed IPv6 loopback", () => `::1:${fx.port}`],
  ])("Host = %s → 421 problem+json", async (_what, host) => {
    const response = await request({ host: host() });
    expectProblem(response, 421, "misdirected_request");
    expectSecurityHeaders(response);
    expectNoCors(response);
  });

  // Bun's HTTP parser answers a Host-less HTTP/1.1 request with 400 itself (RFC 9112 §3.2 says
  // it MUST), before the app sees it. Either refusal is fine; serving it is not.
  test("no Host header at all → refused (400 from the HTTP layer or 421)", async () => {
    const response = await request({ host: null });
    console.info(`no Host header: HTTP ${response.status} ${response.headers["content-type"] ?? ""}`);
    expect([400, 421]).toContain(response.status!);
  });

  test("two Host headers (ours and a foreign one) → refused", async () => {
    const response = await request({ headers: { Host: "evil.example" } });
    expect(response.status).not.toBe(200);
    expect(response.status).toBeGreaterThanOrEqual(400);
  });
});

describe("Origin and Referer: CSRF (SPEC §5)", () => {
  // Guards: originCheck on Origin.
  test("Origin https://evil.example → 403 foreign_origin", async () => {
    const response = await request({ headers: { Origin: "https://evil.example" } });
    expectProblem(response, 403, "foreign_origin");
    expectSecurityHeaders(response);
    expectNoCors(response);
  });

  test.each([
    ["the opaque origin null", () => "null"],
    ["our host over http", () => `http://127.0.0.1:${fx.port}`],
    ["our address with another port", () => `https://127.0.0.1:${fx.port + 1}`],
    ["a suffix trick", () => `https://127.0.0.1:${fx.port}.evil.example`],
    ["another of our names than Host", () => `https://localhost:${fx.port}`],
  ])("Origin = %s → 403 foreign_origin", async (_what, origin) => {
    expectProblem(await request({ headers: { Origin: origin() } }), 403, "foreign_origin");
  });

  test("control: Origin equal to the API's own origin → 200, and still no CORS header", async () => {
    const response = await request({ headers: { Origin: `https://127.0.0.1:${fx.port}` } });
    expect(response.status).toBe(200);
    expectNoCors(response);
    const viaLocalhost = await request({ host: `localhost:${fx.port}`, headers: { Origin: `https://localhost:${fx.port}` } });
    expect(viaLocalhost.status).toBe(200);
  });

  // Guards: originCheck on Referer (a navigation or form post from another page carries Referer).
  test("Referer from another origin → 403 foreign_origin", async () => {
    expectProblem(await request({ headers: { Referer: "https://evil.example/attack.html" } }), 403, "foreign_origin");
    expectProblem(await request({ headers: { Referer: `https://evil.example/?u=https://127.0.0.1:${fx.port}/` } }), 403, "foreign_origin");
    expectProblem(await request({ headers: { Referer: "not a url" } }), 403, "foreign_origin");
  });

  test("control: Referer from our own origin → 200", async () => {
    const response = await request({ headers: { Referer: `https://127.0.0.1:${fx.port}/console?x=1` } });
    expect(response.status).toBe(200);
  });
});

describe("response headers (SPEC §5)", () => {
  // Guards: securityHeaders on success, on errors and on every path.
  test("200, 404 and 421 responses all carry nosniff, DENY and a strict CSP", async () => {
    const ok = await request();
    expect(ok.status).toBe(200);
    expectSecurityHeaders(ok);
    const missing = await request({ path: "/nope" });
    expect(missing.status).toBe(404);
    expectSecurityHeaders(missing);
    const misdirected = await request({ host: "evil.example" });
    expect(misdirected.status).toBe(421);
    expectSecurityHeaders(misdirected);
  });

  // Guards: "No CORS headers are ever sent", even to a preflight or a request with an Origin.
  test("no Access-Control-* header, even when an Origin is sent or a preflight is made", async () => {
    const own = `https://127.0.0.1:${fx.port}`;
    const cases: Array<Partial<TlsRequestOptions>> = [
      { headers: { Origin: own } },
      { headers: { Origin: "https://evil.example" } },
      { path: "/v1/info", headers: { Origin: own } },
      { method: "OPTIONS", headers: { Origin: own, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "signature" } },
      { method: "OPTIONS", path: "/v1/health", headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" } },
    ];
    for (const extra of cases) {
      const response = await request(extra);
      expect(response.status).not.toBeNull();
      expectNoCors(response);
    }
  });
});

describe("problem+json and readiness (SPEC §5)", () => {
  // Guards: problemNotFound (RFC 9457 shape, not Hono's text 404).
  test("unknown path → 404 application/problem+json with type, title, status, detail, code", async () => {
    const problem = expectProblem(await request({ path: "/v1/does-not-exist" }), 404, "not_found");
    expect(problem.title).toBe("Not Found");
  });

  // Guards: listenTls's not-ready answer ("nothing is served before the handoff completes").
  test("before the first handoff → 503 not_ready on every route, with Retry-After", async () => {
    const notReady = await startPkiFixture({ serve: false });
    try {
      for (const path of ["/v1/health", "/v1/info", "/"]) {
        const response = await tlsRequest({ port: notReady.port, ca: notReady.caPem, ...notReady.clientTls, path });
        expectProblem(response, 503, "not_ready");
        expect(response.headers["retry-after"]).toBeDefined();
        expectSecurityHeaders(response);
      }
    } finally {
      await notReady.stop();
    }
  });

  test("served from the first delivery on", async () => {
    const gated = await startPkiFixture({ serve: false });
    try {
      const base = { port: gated.port, ca: gated.caPem, ...gated.clientTls };
      expect((await tlsRequest(base)).status).toBe(503);
      await gated.core.serveApi();
      expect((await tlsRequest(base)).status).toBe(200);
    } finally {
      await gated.stop();
    }
  });
});

describe("GET /v1/info (SPEC §5)", () => {
  test("version, platform, api_url and the rotation schedule; the caller's certificate only when signed", async () => {
    const before = await request({ path: "/v1/info" });
    expect(before.status).toBe(200);
    const bare = JSON.parse(before.body);
    expect(bare.version).toBe(VERSION);
    expect(bare.platform).toBe(`${process.platform}-${process.arch}`);
    expect(bare.api_url).toBe(fx.url);
    expect(typeof bare.uptime_ms).toBe("number");
    expect(bare.client).toBeNull();
    expect(bare.rotation).toEqual({ cert_ttl_ms: 3600_000, rotate_at_fraction: 2 / 3, grace_ms: 60_000 });

    const url = `${fx.url}/v1/info`;
    const signature = await signRequest({ method: "GET", url, key: await importClientKey(fx.client.keyPem), keyId: fx.client.clientId });
    const after = await request({ path: "/v1/info", headers: signature as unknown as Record<string, string> });
    expect(after.status).toBe(200);
    const info = JSON.parse(after.body);
    expect(info.client.client_id).toBe(fx.client.clientId);
    expect(info.client.child_id).toBe(fx.childId);
    expect(info.client.not_after).toBe(fx.client.notAfter.toISOString());
    // 2/3 of the hour the fixture's leaves live, counted from their issue a moment ago.
    expect(Math.abs(Date.parse(info.client.renew_at) - (Date.now() + (2 / 3) * 3600_000))).toBeLessThan(60_000);
    // Nothing secret in /v1/info.
    expect(after.body).not.toContain("-----BEGIN");
  });
});

describe("request log (SPEC §2)", () => {
  test("refused requests are logged with their status, and no log line carries PEM", async () => {
    logLines.length = 0;
    await request({ host: `evil.example:${fx.port}`, path: "/v1/health?secret=1" });
    await request({ headers: { Origin: "https://evil.example" } });
    const events = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e.event === "request");
    expect(events.map((e) => e.status)).toEqual([421, 403]);
    expect(events[0]!.path).toBe("/v1/health");
    for (const line of logLines) expect(line).not.toContain("-----BEGIN");
  });

  test("a path holding a PEM marker is answered (404) and logged, with the path withheld", async () => {
    logLines.length = 0;
    const answer = await request({ path: "/v1/-----BEGIN-----" });
    expect(answer.status).toBe(404);
    const events = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e.event === "request");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 404, path: "(withheld: holds a PEM marker)" });
    for (const line of logLines) expect(line).not.toContain("-----BEGIN");
  });
});
