import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { CompactEncrypt, calculateJwkThumbprint, importJWK } from "jose";
import * as v from "valibot";
import { problemResponse } from "../../src/api/problem.ts";
import { problemOf } from "../../src/api/problem-map.ts";
import { validJson } from "../../src/api/request-checks.ts";
import { readBody } from "../../src/api/middleware/body.ts";
import { decodeBody } from "../../src/api/middleware/jwe-body.ts";
import { mintServerKey, type ServerKey } from "../../src/api/server-key.ts";
import { createBodyEncryptor, encryptJsonBody, importServerKey } from "../../src/client/body-encryption.ts";
import { createRequestSigner, prepareSignedRequest } from "../../src/client/request-signer.ts";
import { BASE_URL, makeHarness } from "./httpsig-harness.ts";

const URL_ = "http://127.0.0.1:41234/v1/commands/x";

async function jweApp(serverKey: ServerKey) {
  const calls = { n: 0, body: undefined as unknown };
  const app = new Hono<any>();
  app.onError((err, c) => {
    const problem = problemOf(err);
    return problem ? problemResponse(c, problem) : c.text(String(err), 500);
  });
  app.post("/v1/commands/:name", readBody(), decodeBody({ serverKey: serverKey.privateKey }), validJson(v.unknown()), (c) => {
    calls.n++;
    calls.body = c.req.valid("json");
    return c.json({ ok: true });
  });
  return { app, calls };
}

const post = (app: Hono<any>, body: Uint8Array | string, contentType = "application/jose") =>
  app.request(URL_, { method: "POST", body, headers: { "Content-Type": contentType } });

async function expect400(res: Response, code: string) {
  expect(res.status).toBe(400);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(((await res.json()) as { code: string }).code).toBe(code);
}

const VALUE = { args: { names: ["vim", "git"], n: 3, nested: { ok: true, s: "é ✓" } } };

describe("server key", () => {
  test("ECDH P-256, private half non-extractable, public JWK with alg/use/kid = RFC 7638 thumbprint", async () => {
    const key = await mintServerKey();
    expect(key.privateKey.extractable).toBe(false);
    expect(key.privateKey.algorithm).toMatchObject({ name: "ECDH", namedCurve: "P-256" });
    expect(key.privateKey.usages).toEqual(["deriveBits"]);
    await expect(crypto.subtle.exportKey("pkcs8", key.privateKey)).rejects.toThrow();
    await expect(crypto.subtle.exportKey("jwk", key.privateKey)).rejects.toThrow();
    const { kty, crv, x, y, alg, use, kid } = key.publicJwk;
    expect({ kty, crv, alg, use }).toEqual({ kty: "EC", crv: "P-256", alg: "ECDH-ES", use: "enc" });
    expect(Object.keys(key.publicJwk).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    expect(kid).toBe(await calculateJwkThumbprint({ kty, crv, x, y }, "sha256"));
    expect("d" in key.publicJwk).toBe(false);
  });

  test("two mints give two different keys", async () => {
    const [a, b] = await Promise.all([mintServerKey(), mintServerKey()]);
    expect(a.publicJwk.kid).not.toBe(b.publicJwk.kid);
  });
});

describe("decodeBody: application/jose", () => {
  test("round trip: the client's JWE decrypts to the same JSON value", async () => {
    const serverKey = await mintServerKey();
    const { app, calls } = await jweApp(serverKey);
    const encryptor = await createBodyEncryptor(serverKey.publicJwk);
    const { bytes, contentType } = await encryptor.encrypt(VALUE);
    expect(contentType).toBe("application/jose");
    expect(new TextDecoder().decode(bytes)).not.toContain("vim");
    const res = await post(app, bytes, contentType);
    expect(res.status).toBe(200);
    expect(calls.body).toEqual(VALUE);
  });

  test("a JWE to a different key → 400 jwe_invalid", async () => {
    const serverKey = await mintServerKey();
    const other = await mintServerKey();
    const { app, calls } = await jweApp(serverKey);
    const { bytes } = await encryptJsonBody(VALUE, await importServerKey(other.publicJwk));
    await expect400(await post(app, bytes), "jwe_invalid");
    expect(calls.n).toBe(0);
  });

  test("alg/enc other than ECDH-ES/A256GCM are refused, even when decryptable", async () => {
    const serverKey = await mintServerKey();
    const { app, calls } = await jweApp(serverKey);
    const pub = await importJWK({ ...serverKey.publicJwk, alg: undefined }, "ECDH-ES+A256KW");
    const plaintext = new TextEncoder().encode(JSON.stringify(VALUE));
    const variants = [
      await new CompactEncrypt(plaintext).setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM" }).encrypt(pub),
      await new CompactEncrypt(plaintext).setProtectedHeader({ alg: "ECDH-ES", enc: "A128GCM" }).encrypt(await importServerKey(serverKey.publicJwk)),
      await new CompactEncrypt(plaintext).setProtectedHeader({ alg: "ECDH-ES", enc: "A256CBC-HS512" }).encrypt(await importServerKey(serverKey.publicJwk)),
      await new CompactEncrypt(plaintext).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(crypto.getRandomValues(new Uint8Array(32))),
      await new CompactEncrypt(plaintext).setProtectedHeader({ alg: "ECDH-ES", enc: "A256GCM", zip: "DEF" }).encrypt(await importServerKey(serverKey.publicJwk)),
    ];
    for (const jwe of variants) await expect400(await post(app, jwe), "jwe_invalid");
    expect(calls.n).toBe(0);
  });

  test("a header claiming ECDH-ES/A256GCM on a tampered JWE → jwe_invalid", async () => {
    const serverKey = await mintServerKey();
    const { app } = await jweApp(serverKey);
    const { bytes } = await encryptJsonBody(VALUE, await importServerKey(serverKey.publicJwk));
    const parts = new TextDecoder().decode(bytes).split(".");
    const ct = Buffer.from(parts[3]!, "base64url");
    ct[0] = ct[0]! ^ 1;
    parts[3] = ct.toString("base64url");
    await expect400(await post(app, parts.join(".")), "jwe_invalid");
  });

  test("garbage compact serializations → jwe_invalid", async () => {
    const serverKey = await mintServerKey();
    const { app } = await jweApp(serverKey);
    for (const body of ["not a jwe", "a.b.c", "....", "eyJhbGciOiJub25lIn0.x.y.z.w", '{"protected":"x"}', "é.é.é.é.é"]) {
      await expect400(await post(app, body), "jwe_invalid");
    }
  });

  test("a JWE whose plaintext is not JSON → malformed_json", async () => {
    const serverKey = await mintServerKey();
    const { app } = await jweApp(serverKey);
    const jwe = await new CompactEncrypt(new TextEncoder().encode("{not json"))
      .setProtectedHeader({ alg: "ECDH-ES", enc: "A256GCM" })
      .encrypt(await importServerKey(serverKey.publicJwk));
    await expect400(await post(app, jwe), "malformed_json");
  });
});

describe("decodeBody: application/json", () => {
  test("valid JSON is parsed; malformed → 400 malformed_json", async () => {
    const serverKey = await mintServerKey();
    const { app, calls } = await jweApp(serverKey);
    expect((await post(app, JSON.stringify(VALUE), "application/json")).status).toBe(200);
    expect(calls.body).toEqual(VALUE);
    for (const bad of ["{", "[1,]", "{'a':1}", "NaN", "\u0000"]) await expect400(await post(app, bad, "application/json"), "malformed_json");
    expect(calls.n).toBe(1);
  });
});

describe("full chain: signed + encrypted request", () => {
  test("body → signature → decode accepts a signed JWE body; the same bytes unsigned are refused before decryption", async () => {
    const h = await makeHarness();
    const signer = createRequestSigner({ key: h.clientKey, clientId: h.client.clientId });
    const encryptor = await createBodyEncryptor(h.serverKey.publicJwk);
    const url = `${BASE_URL}/v1/commands/package.install`;
    const prepared = await prepareSignedRequest(signer, { method: "POST", url, body: await encryptor.encrypt(VALUE) });
    expect(prepared.headers.get("content-type")).toBe("application/jose");
    expect(prepared.headers.get("content-digest")).toStartWith("sha-256=:");
    const res = await h.app.request(new Request(url, { method: prepared.method, headers: prepared.headers, body: prepared.body as Uint8Array<ArrayBuffer> }));
    expect(res.status).toBe(200);
    expect(h.calls.body).toEqual(VALUE);
    expect(h.calls.clientId).toBe(h.client.clientId);

    // A JWE to the right key but without a signature is never decrypted: 401 first.
    const unsigned = await h.app.request(new Request(url, { method: "POST", headers: { "Content-Type": "application/jose" }, body: prepared.body as Uint8Array<ArrayBuffer> }));
    expect(unsigned.status).toBe(401);
    expect(h.calls.n).toBe(1);
  });
});
