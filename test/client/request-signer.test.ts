import { describe, expect, test } from "bun:test";
import { mintAuthority, mintClientIdentity } from "../../src/pki/authority.ts";
import { createRequestSigner, importClientKey, prepareSignedRequest } from "../../src/client/request-signer.ts";
import { createBodyEncryptor, importServerKey } from "../../src/client/body-encryption.ts";
import { mintServerKey } from "../../src/api/server-key.ts";
import { verifyRequest } from "../../src/httpsig/verify.ts";
import { independentRequestBase } from "../httpsig/independent-base.ts";
import { PKCS8_BEGIN, PKCS8_END } from "../support/paths.ts";

const ca = await mintAuthority();
const id = await mintClientIdentity(ca, 1, { ttlMs: 3600_000 });

describe("importClientKey", () => {
  test("imports the bundle's PKCS#8 PEM (bytes or string) as a non-extractable P-256 signing key", async () => {
    for (const pem of [id.keyPem, new TextDecoder().decode(id.keyPem)]) {
      const key = await importClientKey(pem);
      expect(key.type).toBe("private");
      expect(key.extractable).toBe(false);
      expect(key.algorithm).toMatchObject({ name: "ECDSA", namedCurve: "P-256" });
      expect(key.usages).toEqual(["sign"]);
    }
  });

  test("refuses garbage and the certificate PEM", async () => {
    await expect(importClientKey(`${PKCS8_BEGIN}\nAAAA\n${PKCS8_END}\n`)).rejects.toThrow();
    await expect(importClientKey(id.certPem)).rejects.toThrow();
  });
});

describe("createRequestSigner", () => {
  test("signatures verify against the client's certificate key and match the independent base", async () => {
    const signer = createRequestSigner({ key: await importClientKey(id.keyPem), clientId: id.clientId });
    const url = "https://127.0.0.1:41234/v1/commands/system.info";
    const body = new TextEncoder().encode('{"args":{}}');
    const headers = await signer.sign({ method: "post", url, body });
    // "post" is sent as "POST" by fetch, so that is what is signed.
    const created = Number(/;created=(\d+)/.exec(headers["Signature-Input"])![1]);
    const nonce = /;nonce="([^"]+)"/.exec(headers["Signature-Input"])![1]!;
    const ind = independentRequestBase({ method: "POST", targetUri: url, body }, { created, nonce, keyid: id.clientId, alg: "ecdsa-p256-sha256" });
    expect(headers["Signature-Input"]).toBe(`sig1=${ind.signatureParams}`);
    const sig = Buffer.from(/^sig1=:(.*):$/.exec(headers.Signature)![1]!, "base64");
    expect(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, id.publicKey, sig, new TextEncoder().encode(ind.base))).toBe(true);

    const verified = await verifyRequest({ method: "POST", url, headers: new Headers(headers as unknown as Record<string, string>), body }, { resolveKey: () => id.publicKey });
    expect(verified.keyId).toBe(id.clientId);
  });

  test("nonces differ between requests", async () => {
    const signer = createRequestSigner({ key: await importClientKey(id.keyPem), clientId: id.clientId });
    const nonces = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const h = await signer.sign({ method: "DELETE", url: "https://127.0.0.1:1/v1/jobs/1" });
      nonces.add(/;nonce="([^"]+)"/.exec(h["Signature-Input"])![1]!);
    }
    expect(nonces.size).toBe(50);
  });

  test("prepareSignedRequest: Content-Type, Content-Digest over the JWE bytes, signature headers", async () => {
    const serverKey = await mintServerKey();
    const signer = createRequestSigner({ key: await importClientKey(id.keyPem), clientId: id.clientId });
    const enc = await createBodyEncryptor(serverKey.publicJwk);
    const body = await enc.encrypt({ args: { q: "x" } });
    const prepared = await prepareSignedRequest(signer, { method: "POST", url: "https://127.0.0.1:1/v1/commands/a", body });
    expect(prepared.body).toBe(body.bytes);
    expect(prepared.headers.get("content-type")).toBe("application/jose");
    expect(prepared.headers.get("content-digest")).toBe(`sha-256=:${Buffer.from(await crypto.subtle.digest("SHA-256", body.bytes as Uint8Array<ArrayBuffer>)).toString("base64")}:`);
    expect(prepared.headers.get("signature-input")).toContain('"content-digest"');
    const noBody = await prepareSignedRequest(signer, { method: "DELETE", url: "https://127.0.0.1:1/v1/jobs/a" });
    expect(noBody.body).toBeUndefined();
    expect(noBody.headers.has("content-digest")).toBe(false);
    expect(noBody.headers.has("content-type")).toBe(false);
  });
});

describe("importServerKey", () => {
  test("accepts the bundle's server_key and refuses anything else", async () => {
    const { publicJwk } = await mintServerKey();
    await importServerKey(publicJwk);
    await expect(importServerKey({ ...publicJwk, d: "AAAA" })).rejects.toThrow();
    await expect(importServerKey({ ...publicJwk, crv: "P-384" })).rejects.toThrow();
    await expect(importServerKey({ ...publicJwk, alg: "RSA-OAEP" })).rejects.toThrow();
    await expect(importServerKey({ ...publicJwk, use: "sig" })).rejects.toThrow();
    await expect(importServerKey({ kty: "oct", k: "AAAA" })).rejects.toThrow();
    await expect(importServerKey({ ...publicJwk, x: "AAAA" })).rejects.toThrow(); // not on the curve
  });
});
