/**
 * SPEC §8.3 (and §5 "TLS ≥ 1.2, client certificate required", "the reference client verifies the
 * SERVER certificate against the bundle's CA only"), over real TLS on real sockets.
 *
 * Every refusal test asserts `status === null`: with TLS 1.3 the client's handshake completes
 * before the server judges the client certificate, so only an HTTP status line is acceptance.
 * Each refusal test is paired with the good-client control, so a dead server cannot make a
 * refusal test pass.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { constants as cryptoConstants } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintAuthority, mintClientIdentity, type CertificateAuthority } from "../../src/pki/authority.ts";
import { parsedCertificate, x509 } from "../support/x509.ts";
import { decodeBundle, encodeBundle } from "../../src/handoff/bundle.ts";
import { createCoreClient } from "../../src/client/core-client.ts";
import { SSL_OP_NO_TICKET } from "../../src/api/server.ts";
import {
  HOUR_MS,
  mapLimited,
  startPkiFixture,
  tlsMaterialOf,
  tlsRequest,
  type PkiFixture,
  type TlsRequestOptions,
  type TlsResponse,
} from "../support/pki-fixture.ts";

let fx: PkiFixture;

beforeAll(async () => {
  fx = await startPkiFixture();
});

afterAll(async () => {
  await fx?.stop();
});

const withGoodClient = (extra: Partial<TlsRequestOptions> = {}): TlsRequestOptions => ({
  port: fx.port,
  ca: fx.caPem,
  ...fx.clientTls,
  ...extra,
});

function expectRefused(response: TlsResponse, what: string): void {
  if (response.status !== null) console.error(`${what}: ACCEPTED with HTTP ${response.status}: ${response.body.slice(0, 200)}`);
  expect(response.status).toBeNull();
  expect(response.error).toBeDefined();
}

describe("mTLS on the Core API (SPEC §8.3)", () => {
  // Control for every refusal below: the same server, the same request, a good client → 200.
  test("control: a CA-signed clientAuth certificate gets 200 from GET /v1/health", async () => {
    const response = await tlsRequest(withGoodClient());
    expect(response.error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: "ok" });
  });

  // Guards: `requestCert: true, rejectUnauthorized: true` in listenTls (no cert → no service).
  test("no client certificate → refused at the TLS layer", async () => {
    const response = await tlsRequest({ port: fx.port, ca: fx.caPem });
    expectRefused(response, "no client certificate");
    console.info(`no client certificate: ${response.error}`);
  });

  // Guards: the client chain is verified against OUR CA (`ca:` in listenTls), not merely "some
  // certificate with the right names". The rogue CA and leaf carry exactly our subject names.
  test("a certificate from another CA with the same names is refused on every one of 1,000 attempts", async () => {
    const rogueCa = await mintAuthority({ commonName: "icecore local CA" });
    const rogue = await mintClientIdentity(rogueCa, 1, { ttlMs: HOUR_MS });
    expect(parsedCertificate(rogue).subject).toBe(parsedCertificate(fx.client).subject);
    expect(parsedCertificate(rogue).issuer).toBe(parsedCertificate(fx.client).issuer);
    expect(parsedCertificate(rogueCa).subject).toBe(parsedCertificate(fx.ca).subject);
    const rogueTls = tlsMaterialOf(rogue);

    const ATTEMPTS = 1000;
    const started = performance.now();
    const results = await mapLimited(ATTEMPTS, 8, async (i) => {
      // Every 100th slot also runs the control, so the server is shown alive throughout.
      const control = i % 100 === 0 ? await tlsRequest(withGoodClient()) : null;
      const attempt = await tlsRequest({ port: fx.port, ca: fx.caPem, ...rogueTls });
      return { attempt, control };
    });
    const ms = performance.now() - started;
    const accepted = results.filter((r) => r.attempt.status !== null);
    const errors = new Map<string, number>();
    for (const { attempt } of results) errors.set(attempt.error ?? "(none)", (errors.get(attempt.error ?? "(none)") ?? 0) + 1);
    console.info(
      `rogue-CA client certificate: ${accepted.length} of ${ATTEMPTS} attempts accepted in ${ms.toFixed(0)} ms ` +
        `(concurrency 8); refusals: ${JSON.stringify(Object.fromEntries(errors))}`,
    );
    expect(accepted.length).toBe(0);
    const controls = results.flatMap((r) => (r.control ? [r.control.status] : []));
    expect(controls).toEqual(Array(ATTEMPTS / 100).fill(200));
  }, 120_000);

  // Guards: the server checks the certificate's PURPOSE (EKU clientAuth), not only its issuer.
  test("a CA-signed certificate with EKU serverAuth only is refused", async () => {
    const wrongPurpose = await mintClientIdentity(fx.ca, 2, { ttlMs: HOUR_MS, extendedKeyUsage: [x509.ExtendedKeyUsage.serverAuth] });
    const eku = parsedCertificate(wrongPurpose).getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expectRefused(await tlsRequest({ port: fx.port, ca: fx.caPem, ...tlsMaterialOf(wrongPurpose) }), "serverAuth-only certificate");
    // The server's own certificate is CA-signed too, and serverAuth-only: it must not work as a client.
    expectRefused(await tlsRequest({ port: fx.port, ca: fx.caPem, ...tlsMaterialOf(await fx.serverRoleIdentity()) }), "the server's certificate as a client");
  });

  // Guards: validity period checks on the client certificate (expired leaves must stop working).
  test("an expired client certificate (notAfter in the past) is refused", async () => {
    const now = Date.now();
    const expired = await mintClientIdentity(fx.ca, 3, { ttlMs: HOUR_MS, notBefore: new Date(now - 2 * HOUR_MS), notAfter: new Date(now - 60_000) });
    expect(parsedCertificate(expired).notAfter.getTime()).toBeLessThan(now);
    expectRefused(await tlsRequest({ port: fx.port, ca: fx.caPem, ...tlsMaterialOf(expired) }), "expired certificate");
  });

  test("a not-yet-valid client certificate (notBefore in the future) is refused", async () => {
    const now = Date.now();
    const early = await mintClientIdentity(fx.ca, 4, { ttlMs: HOUR_MS, notBefore: new Date(now + HOUR_MS), notAfter: new Date(now + 2 * HOUR_MS) });
    expect(parsedCertificate(early).notBefore.getTime()).toBeGreaterThan(now);
    expectRefused(await tlsRequest({ port: fx.port, ca: fx.caPem, ...tlsMaterialOf(early) }), "not-yet-valid certificate");
  });

  // Guards: the value listenTls passes as secureOptions is OpenSSL's "no session tickets" bit.
  test("SSL_OP_NO_TICKET is node:crypto's constant", () => {
    expect(SSL_OP_NO_TICKET).toBe(cryptoConstants.SSL_OP_NO_TICKET);
  });

  // Guards: SPEC §3 "the old client_id stays valid until its own expiry, then is refused", and
  // §8.3 "an expired cert" refused: this must also hold on a RESUMED TLS session (a resumed
  // handshake does not present or re-check the certificate). Needs session tickets / resumption
  // off in listenTls (e.g. `secureOptions: constants.SSL_OP_NO_TICKET`, which Bun honours).
  test.each(["TLSv1.3", "TLSv1.2"] as const)(
    "%s: a client whose certificate has expired cannot resume its earlier TLS session",
    async (version) => {
      const now = Date.now();
      const VALID_MS = 2500;
      const shortLived = await mintClientIdentity(fx.ca, 5, { ttlMs: VALID_MS, notBefore: new Date(now - 60_000), notAfter: new Date(now + VALID_MS) });
      const pinned = { minVersion: version, maxVersion: version };
      const first = await tlsRequest({ port: fx.port, ca: fx.caPem, ...tlsMaterialOf(shortLived), tls: pinned });
      expect(first.status).toBe(200);

      // X.509 times have one-second precision: wait until the certificate is certainly expired.
      await Bun.sleep(Math.max(0, parsedCertificate(shortLived).notAfter.getTime() - Date.now()) + 1500);
      // Control: a full handshake with the expired certificate is refused.
      expectRefused(await tlsRequest({ port: fx.port, ca: fx.caPem, ...tlsMaterialOf(shortLived), tls: pinned }), "expired certificate, full handshake");

      // With tickets off the server issues no session, so the attempt below is a full handshake
      // and is refused; checked by mutation: without SSL_OP_NO_TICKET both versions get a
      // session and resume it with HTTP 200, and this test fails.
      console.info(`${version}: the server ${first.session === undefined ? "issued no resumable session" : "issued a session"}`);
      const resumed = await tlsRequest({
        port: fx.port,
        ca: fx.caPem,
        ...tlsMaterialOf(shortLived),
        tls: { ...pinned, ...(first.session === undefined ? {} : { session: first.session }) },
      });
      console.info(`${version}: resuming the expired client's session → ${resumed.status === null ? `refused (${resumed.error})` : `HTTP ${resumed.status}`}`);
      expectRefused(resumed, "expired certificate, resumed session");
    },
    15_000,
  );

  // Guards: "no plain-HTTP listener at all": the port speaks TLS only.
  test("plain HTTP on the TLS port gets no 2xx (nor any HTTP answer)", async () => {
    const reply = await new Promise<{ bytes: Buffer; error: string | null }>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = netConnect(fx.port, "127.0.0.1", () => {
        socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${fx.port}\r\nConnection: close\r\n\r\n`);
        socket.write(`GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${fx.port}\r\nConnection: close\r\n\r\n`);
      });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ bytes: Buffer.concat(chunks), error: "timeout (server kept the connection open)" });
      }, 5000);
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", (error: Error) => {
        clearTimeout(timer);
        resolve({ bytes: Buffer.concat(chunks), error: error.message });
      });
      socket.on("close", () => {
        clearTimeout(timer);
        resolve({ bytes: Buffer.concat(chunks), error: null });
      });
    });
    const text = reply.bytes.toString("latin1");
    console.info(`plain HTTP on the TLS port: ${reply.bytes.length} bytes back ${JSON.stringify(text.slice(0, 120))}; ${reply.error ?? "closed"}`);
    expect(text).not.toMatch(/^HTTP\/1\.[01] 2\d\d/);
    expect(text).not.toContain('{"status":"ok"}');
  });

  // Guards: SPEC §5 "TLS ≥ 1.2". The positive control (openssl s_server allowing TLS 1.1) shows
  // this very client CAN speak TLS 1.1, so icecore's refusal is the server's, not the client's.
  test("TLS 1.1 and lower are refused; TLS 1.2 is accepted", async () => {
    const tls11 = await tlsRequest(withGoodClient({ tls: { minVersion: "TLSv1", maxVersion: "TLSv1.1" } }));
    console.info(`TLS ≤ 1.1 against icecore: ${tls11.error}`);
    expectRefused(tls11, "TLS 1.1");
    expect(tls11.handshake).toBe(false);

    const tls12 = await tlsRequest(withGoodClient({ tls: { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" } }));
    expect(tls12.status).toBe(200);

    if (Bun.which("openssl") === null) {
      console.info("TLS 1.1 positive control skipped: no openssl CLI to run a TLS 1.1 server");
      return;
    }
    const port = await freePort();
    // s_server needs the certificate and key in files; use a throwaway self-signed pair made by openssl itself.
    const dir = mkdtempSync(join(tmpdir(), "icecore-tls11-"));
    try {
      const gen = Bun.spawnSync(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/k.pem`, "-out", `${dir}/c.pem`, "-subj", "/CN=tls11-control", "-days", "1", "-addext", "subjectAltName=IP:127.0.0.1"],
        { stdout: "ignore", stderr: "pipe" },
      );
      expect(gen.exitCode).toBe(0);
      const control = Bun.spawn(
        ["openssl", "s_server", "-accept", `127.0.0.1:${port}`, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-www", "-cert", `${dir}/c.pem`, "-key", `${dir}/k.pem`],
        { stdout: "ignore", stderr: "ignore" },
      );
      try {
        let answer: TlsResponse | null = null;
        for (let i = 0; i < 50; i++) {
          answer = await tlsRequest({
            port,
            ca: await Bun.file(`${dir}/c.pem`).text(),
            path: "/",
            tls: { minVersion: "TLSv1", maxVersion: "TLSv1.1" },
            timeoutMs: 2000,
          });
          if (answer.status !== null) break;
          await Bun.sleep(50);
        }
        console.info(`TLS 1.1 positive control (openssl s_server -tls1_1): HTTP ${answer?.status} ${answer?.error ?? ""}`);
        expect(answer?.status).toBe(200);
      } finally {
        control.kill();
        await control.exited;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the client verifies the SERVER against the bundle's CA only (SPEC §5)", () => {
  let rogueServer: PkiFixture;
  let rogueCa: CertificateAuthority;

  beforeAll(async () => {
    // Same names, same SANs, same everything, but signed by a CA the client does not trust.
    rogueCa = await mintAuthority({ commonName: "icecore local CA" });
    rogueServer = await startPkiFixture({ ca: rogueCa });
  });

  afterAll(async () => {
    await rogueServer?.stop();
  });

  // Guards: server-certificate verification in the client (rejectUnauthorized with our CA pinned).
  test("node:tls with our CA refuses a server whose certificate comes from another CA", async () => {
    // Control: the rogue server is a working server for a client that trusts ITS CA.
    const control = await tlsRequest({ port: rogueServer.port, ca: rogueServer.caPem, ...rogueServer.clientTls });
    expect(control.status).toBe(200);

    const response = await tlsRequest({ port: rogueServer.port, ca: fx.caPem, ...fx.clientTls });
    console.info(`our client against a rogue-CA server: ${response.error}`);
    expect(response.status).toBeNull();
    expect(response.handshake).toBe(false);
    expect(response.error).toMatch(/certificate|verify|signature|issuer/i);
  });

  // Guards: createCoreClient pins bundle.ca_cert (and does not fall back to ignoring errors).
  test("the reference client (createCoreClient) refuses the rogue server and talks to the real one", async () => {
    const serverKey = (await crypto.subtle.exportKey(
      "jwk",
      ((await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair).publicKey,
    )) as { kty: "EC"; crv: "P-256"; x: string; y: string };
    const bundleFor = (apiUrl: string) =>
      decodeBundle(
        encodeBundle({
          caCertPem: fx.ca.certPem.slice(),
          clientCertPem: fx.client.certPem.slice(),
          clientKeyPem: fx.client.keyPem.slice(),
          apiUrl,
          clientId: fx.client.clientId,
          notAfter: fx.client.notAfter,
          serverKey: { kty: serverKey.kty, crv: serverKey.crv, x: serverKey.x, y: serverKey.y },
        }),
      );
    const good = await (await createCoreClient(bundleFor(fx.url))).api.v1.health.$get();
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ status: "ok" });

    const rogueClient = await createCoreClient(bundleFor(rogueServer.url));
    const error = await rogueClient.api.v1.health.$get().then(
      () => null,
      (e: Error) => e,
    );
    console.info(`reference client against a rogue-CA server: ${error?.message}`);
    expect(error).toBeInstanceOf(Error);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
