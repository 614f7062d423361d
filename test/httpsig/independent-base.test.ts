/**
 * Cross-checks src/httpsig against test/httpsig/independent-base.ts, which was written from
 * RFC 9421 §2.5 alone: the signer's output must verify (with WebCrypto directly) over the base the
 * independent code builds, and signatures over the independent base must pass src's verifier.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signRequest } from "../../src/httpsig/sign.ts";
import { verifyRequest } from "../../src/httpsig/verify.ts";
import { mintAuthority, mintClientIdentity } from "../../src/pki/authority.ts";
import { importClientKey } from "../../src/client/request-signer.ts";
import { independentRequestBase, independentSign } from "./independent-base.ts";

const ca = await mintAuthority();
const id = await mintClientIdentity(ca, 1, { ttlMs: 3600_000 });
const privateKey = await importClientKey(id.keyPem);

// "." and ".." are dot segments the URL parser would remove: not canonical, so not generated.
const segment = fc.stringMatching(/^[a-z0-9._~-]{1,12}$/).filter((s) => s !== "." && s !== "..");
const queryPart = fc.option(fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,6}$/), fc.stringMatching(/^[A-Za-z0-9]{0,8}$/)), { minLength: 1, maxLength: 3 }), { nil: undefined });
const requestArb = fc.record({
  method: fc.constantFrom("POST", "DELETE"),
  host: fc.constantFrom("127.0.0.1", "localhost", "[::1]"),
  port: fc.integer({ min: 1024, max: 65535 }),
  path: fc.array(segment, { minLength: 1, maxLength: 4 }),
  query: queryPart,
  body: fc.option(fc.uint8Array({ minLength: 1, maxLength: 256 }), { nil: undefined }),
  created: fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }),
  nonce: fc.stringMatching(/^[A-Za-z0-9_-]{16,40}$/),
});

function urlOf(r: { host: string; port: number; path: string[]; query: Array<[string, string]> | undefined }): string {
  // Already canonical (lowercase host, explicit non-default port, no fragment), as WHATWG URL prints it.
  const q = r.query ? "?" + r.query.map(([k, v]) => `${k}=${v}`).join("&") : "";
  return `https://${r.host}:${r.port}/${r.path.join("/")}${q}`;
}

describe("independent RFC 9421 base", () => {
  test("signRequest's headers equal the independent ones, and its signature verifies over the independent base", async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const url = urlOf(r);
        expect(new URL(url).href).toBe(url); // the generator really produces canonical URLs
        const headers = await signRequest({ method: r.method, url, key: privateKey, keyId: id.clientId, created: r.created, nonce: r.nonce, ...(r.body ? { body: r.body } : {}) });
        const ind = independentRequestBase(
          { method: r.method, targetUri: url, ...(r.body ? { body: r.body } : {}) },
          { created: r.created, nonce: r.nonce, keyid: id.clientId, alg: "ecdsa-p256-sha256" },
        );
        expect(headers["Signature-Input"]).toBe(`sig1=${ind.signatureParams}`);
        expect(headers["Content-Digest"]).toBe(ind.contentDigest);
        const m = /^sig1=:([A-Za-z0-9+/]+={0,2}):$/.exec(headers.Signature);
        expect(m).not.toBeNull();
        const sig = Buffer.from(m![1]!, "base64");
        expect(sig.length).toBe(64); // RFC 9421 §3.3.4: r||s, 32 bytes each
        const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, id.publicKey, sig, new TextEncoder().encode(ind.base));
        expect(ok).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  test("a signature over the independent base passes src's verifier (and is refused for another method)", async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const url = urlOf(r);
        const ind = independentRequestBase(
          { method: r.method, targetUri: url, ...(r.body ? { body: r.body } : {}) },
          { created: r.created, nonce: r.nonce, keyid: id.clientId, alg: "ecdsa-p256-sha256" },
        );
        const headers = new Headers({ "Signature-Input": `sig1=${ind.signatureParams}`, Signature: `sig1=:${await independentSign(privateKey, ind.base)}:` });
        if (ind.contentDigest) headers.set("Content-Digest", ind.contentDigest);
        const opts = { resolveKey: () => id.publicKey, now: () => r.created * 1000 };
        const verified = await verifyRequest({ method: r.method, url, headers, ...(r.body ? { body: r.body } : {}) }, opts);
        expect(verified.keyId).toBe(id.clientId);
        expect(verified.params).toMatchObject({ created: r.created, nonce: r.nonce, alg: "ecdsa-p256-sha256" });
        const otherMethod = r.method === "POST" ? "DELETE" : "POST";
        await expect(verifyRequest({ method: otherMethod, url, headers, ...(r.body ? { body: r.body } : {}) }, opts)).rejects.toMatchObject({ kind: "invalid" });
      }),
      { numRuns: 40 },
    );
  });

  test("the independent base for a known request, spelled out", () => {
    const ind = independentRequestBase(
      { method: "POST", targetUri: "https://127.0.0.1:41234/v1/commands/system.info", body: new TextEncoder().encode('{"hello": "world"}') },
      { created: 1700000000, nonce: "abcdefghijklmnop", keyid: "kid", alg: "ecdsa-p256-sha256" },
    );
    expect(ind.base).toBe(
      '"@method": POST\n' +
        '"@target-uri": https://127.0.0.1:41234/v1/commands/system.info\n' +
        '"content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\n' +
        '"@signature-params": ("@method" "@target-uri" "content-digest");created=1700000000;nonce="abcdefghijklmnop";keyid="kid";alg="ecdsa-p256-sha256"',
    );
  });
});
