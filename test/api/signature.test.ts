import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import {
  BASE_URL,
  HOUR_MS,
  bytes,
  makeHarness,
  mintClientIdentity,
  problemOf,
  send,
  signedParts,
  toRequest,
  type Harness,
} from "./httpsig-harness.ts";
import { independentRequestBase, independentSign } from "../httpsig/independent-base.ts";
import { importClientKey } from "../../src/client/request-signer.ts";
import { createContentDigest } from "../../src/httpsig/content-digest.ts";
import { IdentityRegistry } from "../../src/identity/registry.ts";
import { ReplayCache } from "../../src/api/replay-cache.ts";
import { readBody } from "../../src/api/middleware/body.ts";
import { verifySignature } from "../../src/api/middleware/signature.ts";
import { decodeBody } from "../../src/api/middleware/jwe-body.ts";
import { ProblemError, problemResponse } from "../../src/api/problem.ts";
import { signRequest } from "../../src/httpsig/sign.ts";

const JSON_BODY = '{"args":{"q":"vim"}}';

async function expectRefused(h: Harness, res: Response, code: string): Promise<void> {
  const before = h.calls.n;
  const p = await problemOf(res);
  expect(p.status).toBe(401);
  expect(p.code).toBe(code);
  expect(p.contentType).toBe("application/problem+json");
  expect(h.calls.n).toBe(before);
}

describe("verifySignature: accepted requests", () => {
  test("a correctly signed POST with a JSON body reaches the handler with clientId and body", async () => {
    const h = await makeHarness();
    const res = await send(h, await signedParts(h, { body: JSON_BODY }));
    expect(res.status).toBe(200);
    expect(h.calls.n).toBe(1);
    expect(h.calls.clientId).toBe(h.client.clientId);
    expect(h.calls.body).toEqual({ args: { q: "vim" } });
  });

  test("a signed DELETE without a body passes (no content-digest needed)", async () => {
    const h = await makeHarness();
    const parts = await signedParts(h, { method: "DELETE", url: `${BASE_URL}/v1/jobs/42` });
    expect(parts.headers["Content-Digest"]).toBeUndefined();
    expect(parts.headers["Signature-Input"]).toStartWith('sig1=("@method" "@target-uri");');
    const res = await send(h, parts);
    expect(res.status).toBe(200);
    expect(h.calls.n).toBe(1);
  });

  test("GET is not signed and sets no clientId", async () => {
    const h = await makeHarness();
    const res = await h.app.request(`${BASE_URL}/v1/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { clientId: unknown }).clientId).toBeNull();
  });

  test("a request signed by an independent implementation of RFC 9421 §2.5 is accepted", async () => {
    const h = await makeHarness();
    const body = bytes(JSON_BODY);
    const created = Math.floor(h.clock.now / 1000);
    const targetUri = `${BASE_URL}/v1/commands/package.search?x=1&y=two`;
    const ind = independentRequestBase(
      { method: "POST", targetUri, body },
      { created, nonce: "independent-nonce-0001", keyid: h.client.clientId, alg: "ecdsa-p256-sha256" },
    );
    const sig = await independentSign(h.clientKey, ind.base);
    const res = await h.app.request(
      new Request(targetUri, {
        method: "POST",
        body,
        headers: {
          "Content-Type": "application/json",
          "Content-Digest": ind.contentDigest!,
          "Signature-Input": `sig1=${ind.signatureParams}`,
          Signature: `sig1=:${sig}:`,
        },
      }),
    );
    expect(res.status).toBe(200);
    expect(h.calls.n).toBe(1);
  });

  test("created exactly at the edge of the ±60 s window is still fresh", async () => {
    const h = await makeHarness();
    const nowS = Math.floor(h.clock.now / 1000);
    h.clock.now = nowS * 1000; // whole second, so the edges are exact
    expect((await send(h, await signedParts(h, { created: nowS - 60 }))).status).toBe(200);
    expect((await send(h, await signedParts(h, { created: nowS + 60 }))).status).toBe(200);
    expect(h.calls.n).toBe(2);
  });
});

describe("verifySignature: refusals (401, handler not called)", () => {
  test("unsigned POST → signature_missing", async () => {
    const h = await makeHarness();
    const res = await h.app.request(`${BASE_URL}/v1/commands/system.info`, { method: "POST" });
    await expectRefused(h, res, "signature_missing");
    expect(res.headers.get("accept-signature")).toContain("ecdsa-p256-sha256");
  });

  test("unsigned POST with a body → signature_missing", async () => {
    const h = await makeHarness();
    const res = await h.app.request(`${BASE_URL}/v1/commands/system.info`, {
      method: "POST",
      body: JSON_BODY,
      headers: { "Content-Type": "application/json" },
    });
    await expectRefused(h, res, "signature_missing");
  });

  test("unsigned DELETE → signature_missing", async () => {
    const h = await makeHarness();
    await expectRefused(h, await h.app.request(`${BASE_URL}/v1/jobs/1`, { method: "DELETE" }), "signature_missing");
  });

  test("only one of Signature-Input / Signature → signature_missing", async () => {
    const h = await makeHarness();
    const p = await signedParts(h);
    delete p.headers.Signature;
    await expectRefused(h, await send(h, p), "signature_missing");
  });

  test("signed with another key under our keyid → signature_invalid", async () => {
    const h = await makeHarness();
    const other = await mintClientIdentity(h.ca, 2, { ttlMs: HOUR_MS });
    const p = await signedParts(h, { key: await importClientKey(other.keyPem), body: JSON_BODY });
    await expectRefused(h, await send(h, p), "signature_invalid");
  });

  test("keyid of a client we never registered → unknown_client", async () => {
    const h = await makeHarness();
    const stranger = await mintClientIdentity(h.ca, 3, { ttlMs: HOUR_MS });
    const p = await signedParts(h, { key: await importClientKey(stranger.keyPem), keyId: stranger.clientId });
    await expectRefused(h, await send(h, p), "unknown_client");
  });

  test("an expired client → expired_client", async () => {
    const h = await makeHarness();
    const now = Date.now();
    const old = await mintClientIdentity(h.ca, 4, { ttlMs: HOUR_MS, notBefore: new Date(now - 2 * HOUR_MS), notAfter: new Date(now - 1000) });
    h.register(old);
    const p = await signedParts(h, { key: await importClientKey(old.keyPem), keyId: old.clientId });
    await expectRefused(h, await send(h, p), "expired_client");
  });

  test("a client not valid yet → expired_client", async () => {
    const h = await makeHarness();
    const now = Date.now();
    const early = await mintClientIdentity(h.ca, 5, { ttlMs: HOUR_MS, notBefore: new Date(now + HOUR_MS), notAfter: new Date(now + 2 * HOUR_MS) });
    h.register(early);
    const p = await signedParts(h, { key: await importClientKey(early.keyPem), keyId: early.clientId });
    await expectRefused(h, await send(h, p), "expired_client");
  });

  test("the old client stays valid until its own expiry, then is refused (SPEC §3 rotation)", async () => {
    const h = await makeHarness();
    h.clock.now = h.client.notAfter.getTime() - 1000;
    expect((await send(h, await signedParts(h))).status).toBe(200);
    h.clock.now = h.client.notAfter.getTime() + 1000;
    await expectRefused(h, await send(h, await signedParts(h)), "expired_client"); // created follows the moved clock
  });

  test("tampered method (signed DELETE, sent as POST) → signature_invalid", async () => {
    const h = await makeHarness();
    const p = await signedParts(h, { method: "DELETE", url: `${BASE_URL}/v1/commands/x` });
    p.method = "POST";
    await expectRefused(h, await send(h, p), "signature_invalid");
  });

  test("tampered URI: path, query, host, port and scheme each → signature_invalid", async () => {
    const h = await makeHarness();
    const variants = [
      `${BASE_URL}/v1/commands/disk.unmount`,
      `${BASE_URL}/v1/commands/system.info?extra=1`,
      `https://localhost:41234/v1/commands/system.info`,
      `https://127.0.0.1:41235/v1/commands/system.info`,
      `http://127.0.0.1:41234/v1/commands/system.info`,
    ];
    for (const url of variants) {
      const p = await signedParts(h, { url: `${BASE_URL}/v1/commands/system.info` });
      p.url = url;
      await expectRefused(h, await send(h, p), "signature_invalid");
    }
  });

  test("tampered body with the original Content-Digest → signature_invalid", async () => {
    const h = await makeHarness();
    const p = await signedParts(h, { body: JSON_BODY });
    p.body = bytes(JSON_BODY.replace("vim", "vi!"));
    await expectRefused(h, await send(h, p), "signature_invalid");
  });

  test("tampered body with a recomputed Content-Digest → signature_invalid (the digest is signed)", async () => {
    const h = await makeHarness();
    const p = await signedParts(h, { body: JSON_BODY });
    p.body = bytes('{"args":{"q":"rm"}}');
    p.headers["Content-Digest"] = await createContentDigest(p.body);
    await expectRefused(h, await send(h, p), "signature_invalid");
  });

  test("a body added to a request signed without content-digest → signature_invalid", async () => {
    const h = await makeHarness();
    const p = await signedParts(h); // no body: covers only @method @target-uri
    p.body = bytes(JSON_BODY);
    p.headers["Content-Type"] = "application/json";
    await expectRefused(h, await send(h, p), "signature_invalid");
  });

  test("created 61 s in the past → stale", async () => {
    const h = await makeHarness();
    const p = await signedParts(h, { created: Math.floor(h.clock.now / 1000) - 61 });
    await expectRefused(h, await send(h, p), "stale");
  });

  test("created 61 s in the future → stale", async () => {
    const h = await makeHarness();
    const p = await signedParts(h, { created: Math.floor(h.clock.now / 1000) + 61 });
    await expectRefused(h, await send(h, p), "stale");
  });

  test("the same request sent twice → the second is replayed", async () => {
    const h = await makeHarness();
    const p = await signedParts(h, { body: JSON_BODY });
    expect((await send(h, p)).status).toBe(200);
    await expectRefused(h, await send(h, p), "replayed");
    expect(h.calls.n).toBe(1);
  });

  test("a nonce reused on a different, validly signed request → replayed", async () => {
    const h = await makeHarness();
    const nonce = "the-same-nonce-twice";
    expect((await send(h, await signedParts(h, { nonce }))).status).toBe(200);
    const again = await signedParts(h, { nonce, url: `${BASE_URL}/v1/commands/other` });
    await expectRefused(h, await send(h, again), "replayed");
  });

  test("a forged request does not burn the nonce: the genuine one with that nonce still passes", async () => {
    const h = await makeHarness();
    const nonce = "nonce-a-forger-guessed";
    const other = await mintClientIdentity(h.ca, 6, { ttlMs: HOUR_MS });
    const forged = await signedParts(h, { nonce, key: await importClientKey(other.keyPem) });
    await expectRefused(h, await send(h, forged), "signature_invalid");
    expect((await send(h, await signedParts(h, { nonce }))).status).toBe(200);
  });

  test("the same nonce from two different clients is not a replay (keyed by client and nonce)", async () => {
    const h = await makeHarness();
    const second = await mintClientIdentity(h.ca, 7, { ttlMs: HOUR_MS });
    h.register(second);
    const nonce = "shared-nonce-value-01";
    expect((await send(h, await signedParts(h, { nonce }))).status).toBe(200);
    const p = await signedParts(h, { nonce, key: await importClientKey(second.keyPem), keyId: second.clientId });
    expect((await send(h, p)).status).toBe(200);
    expect(h.calls.clientId).toBe(second.clientId);
  });

  test("profile violations signed with the right key are still signature_invalid", async () => {
    const h = await makeHarness();
    const created = Math.floor(h.clock.now / 1000);
    const targetUri = `${BASE_URL}/v1/commands/system.info`;
    const cases: Array<{ name: string; alg?: string; nonce?: string; keyid?: string; drop?: "created" | "nonce" | "keyid" | "alg" }> = [
      { name: "alg other than ecdsa-p256-sha256", alg: "ed25519" },
      { name: "no created", drop: "created" },
      { name: "nonce too short", nonce: "short" },
    ];
    for (const c of cases) {
      const ind = independentRequestBase(
        { method: "POST", targetUri },
        { created, nonce: c.nonce ?? `nonce-for-${c.name.replace(/\W/g, "-")}`, keyid: h.client.clientId, alg: c.alg ?? "ecdsa-p256-sha256" },
      );
      let params = ind.signatureParams;
      if (c.drop) params = params.replace(new RegExp(`;${c.drop}=("[^"]*"|\\d+)`), "");
      const base = ind.base.replace(ind.signatureParams, params);
      const sig = await independentSign(h.clientKey, base);
      const res = await h.app.request(
        new Request(targetUri, { method: "POST", headers: { "Signature-Input": `sig1=${params}`, Signature: `sig1=:${sig}:` } }),
      );
      await expectRefused(h, res, "signature_invalid");
    }
    // And no keyid at all: there is nobody to look up, so it is invalid, not unknown.
    const ind = independentRequestBase({ method: "POST", targetUri }, { created, nonce: "nonce-without-keyid", keyid: "x", alg: "ecdsa-p256-sha256" });
    const params = ind.signatureParams.replace(';keyid="x"', "");
    const res = await h.app.request(
      new Request(targetUri, {
        method: "POST",
        headers: { "Signature-Input": `sig1=${params}`, Signature: `sig1=:${await independentSign(h.clientKey, ind.base.replace(ind.signatureParams, params))}:` },
      }),
    );
    await expectRefused(h, res, "signature_invalid");
  });

  test("garbage signature fields → signature_invalid", async () => {
    const h = await makeHarness();
    for (const [input, sig] of [
      ["sig1=(", "sig1=:AAAA:"],
      ['sig1=("@method" "@target-uri");created=1', "sig1=notbytes"],
      ['sig1=("@method" "@target-uri")', 'sig2=:AAAA:'],
    ] as const) {
      const res = await h.app.request(`${BASE_URL}/v1/commands/x`, { method: "POST", headers: { "Signature-Input": input, Signature: sig } });
      await expectRefused(h, res, "signature_invalid");
    }
  });

  test("replay cache full of live nonces → 429 replay_cache_full with Retry-After, handler not called", async () => {
    const h = await makeHarness({ replayMaxEntries: 2 });
    expect((await send(h, await signedParts(h))).status).toBe(200);
    expect((await send(h, await signedParts(h))).status).toBe(200);
    const res = await send(h, await signedParts(h));
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await res.json()) as { code: string }).code).toBe("replay_cache_full");
    expect(h.calls.n).toBe(2);
    // Once the window has passed, the old nonces expire and room is made again.
    h.clock.now += 62_000;
    expect((await send(h, await signedParts(h))).status).toBe(200);
  });
});

describe("the replay share belongs to the child (SPEC §5)", () => {
  test("a child that renews keeps its share: the new certificate is refused 429 when the child's share is full; another child is not", async () => {
    const h = await makeHarness({ replayMaxPerClient: 3 });
    for (let i = 0; i < 3; i++) expect((await send(h, await signedParts(h))).status).toBe(200);
    // A renewal: a new leaf for the same child (the harness's client is child 1's only leaf).
    const childId = h.registry.lookup(h.client.clientId)!.childId;
    const renewed = await mintClientIdentity(h.ca, 9, { ttlMs: HOUR_MS });
    h.registry.addLeaf(childId, renewed);
    const key = await importClientKey(renewed.keyPem);
    const refused = await send(h, await signedParts(h, { key, keyId: renewed.clientId }));
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { code: string }).code).toBe("replay_cache_full");
    // Control: another child has its own share.
    const other = await mintClientIdentity(h.ca, 10, { ttlMs: HOUR_MS });
    h.register(other);
    expect((await send(h, await signedParts(h, { key: await importClientKey(other.keyPem), keyId: other.clientId }))).status).toBe(200);
  });
});

describe("RFC 9421 §2.3 optional parameters (SPEC §5 interop)", () => {
  /** Signs with the independent implementation, then drops the named parameters from what is signed. */
  async function signedWithout(h: Harness, drop: ("alg" | "nonce")[], nonce = "nonce-long-enough-0001") {
    const created = Math.floor(h.clock.now / 1000);
    const targetUri = `${BASE_URL}/v1/commands/system.info`;
    const ind = independentRequestBase({ method: "POST", targetUri }, { created, nonce, keyid: h.client.clientId, alg: "ecdsa-p256-sha256" });
    let params = ind.signatureParams;
    for (const name of drop) params = params.replace(new RegExp(`;${name}="[^"]*"`), "");
    const base = ind.base.replace(ind.signatureParams, params);
    const sig = await independentSign(h.clientKey, base);
    return { targetUri, headers: { "Signature-Input": `sig1=${params}`, Signature: `sig1=:${sig}:` }, sig, base };
  }

  test("no alg: the registered key fixes the algorithm, the request passes", async () => {
    const h = await makeHarness();
    const { targetUri, headers } = await signedWithout(h, ["alg"]);
    expect((await h.app.request(new Request(targetUri, { method: "POST", headers }))).status).toBe(200);
    expect(h.calls.n).toBe(1);
  });

  test("no nonce: passes once; the same request again is replayed (the signature is the replay key)", async () => {
    const h = await makeHarness();
    const { targetUri, headers } = await signedWithout(h, ["alg", "nonce"]);
    expect((await h.app.request(new Request(targetUri, { method: "POST", headers }))).status).toBe(200);
    await expectRefused(h, await h.app.request(new Request(targetUri, { method: "POST", headers })), "replayed");
    expect(h.calls.n).toBe(1);
  });

  test("no nonce: the signature's twin (r, n − s), also valid, is still a replay", async () => {
    const h = await makeHarness();
    const { targetUri, headers, sig, base } = await signedWithout(h, ["nonce"]);
    expect((await h.app.request(new Request(targetUri, { method: "POST", headers }))).status).toBe(200);
    const raw = Buffer.from(sig, "base64");
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const s = BigInt(`0x${raw.subarray(32).toString("hex")}`);
    const twin = Buffer.concat([raw.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, "0"), "hex")]);
    const twinHeaders = { ...headers, Signature: `sig1=:${twin.toString("base64")}:` };
    // Control: the twin is a valid signature of the same base (ECDSA malleability is real) …
    const publicKey = h.registry.lookup(h.client.clientId)!.publicKey;
    expect(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey, twin, new TextEncoder().encode(base))).toBe(true);
    // … yet it is refused as the replay it is.
    await expectRefused(h, await h.app.request(new Request(targetUri, { method: "POST", headers: twinHeaders })), "replayed");
    expect(h.calls.n).toBe(1);
  });
});

describe("verifySignature on a real Bun.serve", () => {
  test("@target-uri is rebuilt from the URL the server sees (port, path, query); a Host swap is refused", async () => {
    const ca = (await makeHarness()).ca;
    const client = await mintClientIdentity(ca, 1, { ttlMs: HOUR_MS });
    const registry = new IdentityRegistry();
    registry.addLeaf(registry.addChild(1).childId, client);
    const key = await importClientKey(client.keyPem);
    let calls = 0;
    const app = new Hono<any>();
    app.onError((err, c) => (err instanceof ProblemError ? problemResponse(c, err) : c.text(String(err), 500)));
    const serverKey = ((await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])) as CryptoKeyPair).privateKey;
    app.post("/v1/commands/:name", readBody(), verifySignature({ mode: "required", identities: registry, replayCache: new ReplayCache() }), decodeBody({ serverKey }), (c) => {
      calls++;
      return c.json({ url: c.req.url, body: c.get("bodyText") });
    });
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    try {
      const url = `http://127.0.0.1:${server.port}/v1/commands/package.search?q=vim&x=%20y`;
      const body = bytes(JSON_BODY);
      const sig = await signRequest({ method: "POST", url, body, key, keyId: client.clientId });
      const res = await fetch(url, { method: "POST", body, headers: { ...(sig as unknown as Record<string, string>), "Content-Type": "application/json" } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { url: string }).url).toBe(url);
      expect(calls).toBe(1);

      // Same signature, sent with Host: localhost:<port> — the target URI the server sees differs.
      const sig2 = await signRequest({ method: "POST", url, body, key, keyId: client.clientId });
      const swapped = await fetch(url, {
        method: "POST",
        body,
        headers: { ...(sig2 as unknown as Record<string, string>), "Content-Type": "application/json", Host: `localhost:${server.port}` },
      });
      expect(swapped.status).toBe(401);
      expect(((await swapped.json()) as { code: string }).code).toBe("signature_invalid");
      expect(calls).toBe(1);

      // Control: signed for the localhost authority and sent with that Host, it passes, and the
      // server's view of the URL is the localhost one — so the Host header is what it rebuilt from.
      const localUrl = url.replace("127.0.0.1", "localhost");
      const sig3 = await signRequest({ method: "POST", url: localUrl, body, key, keyId: client.clientId });
      const local = await fetch(url, {
        method: "POST",
        body,
        headers: { ...(sig3 as unknown as Record<string, string>), "Content-Type": "application/json", Host: `localhost:${server.port}` },
      });
      expect(local.status).toBe(200);
      expect(((await local.json()) as { url: string }).url).toBe(localUrl);
      expect(calls).toBe(2);
    } finally {
      server.stop(true);
    }
  });
});

test("toRequest keeps the body bytes intact (harness self-check)", async () => {
  const h = await makeHarness();
  const p = await signedParts(h, { body: JSON_BODY });
  expect(new Uint8Array(await toRequest(p).arrayBuffer())).toEqual(bytes(JSON_BODY));
});
