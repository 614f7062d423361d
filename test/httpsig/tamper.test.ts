/**
 * Property: tampering with ANY covered component of a correctly signed request — method, path,
 * query, a body byte, Content-Digest, created, nonce, keyid, or the signature bytes — is always
 * refused with 401 and never reaches the handler. After each tampered attempt the untouched
 * original is sent and must pass: that keeps the property honest (the harness is not refusing
 * everything) and proves a refused forgery never burns the genuine request's nonce.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { createContentDigest } from "../../src/httpsig/content-digest.ts";
import { BASE_URL, HOUR_MS, makeHarness, mintClientIdentity, send, signedParts, type RequestParts } from "../api/httpsig-harness.ts";

const h = await makeHarness();
const second = await mintClientIdentity(h.ca, 2, { ttlMs: HOUR_MS });
h.register(second);

let counter = 0;
const nextNonce = () => `tamper-nonce-${String(++counter).padStart(8, "0")}`;

const segment = fc.stringMatching(/^[a-z0-9_-]{1,10}$/);
const requestArb = fc.record({
  method: fc.constantFrom("POST", "DELETE"),
  id: segment,
  query: fc.option(fc.stringMatching(/^[a-z]{1,5}=[a-z0-9]{0,5}$/), { nil: undefined }),
  body: fc.option(fc.json({ maxDepth: 2 }), { nil: undefined }),
});

type Tamper =
  | { kind: "method"; to: string }
  | { kind: "path"; segment: string }
  | { kind: "query"; extra: string }
  | { kind: "body"; index: number; xor: number }
  | { kind: "content-digest"; other: Uint8Array }
  | { kind: "created"; delta: number }
  | { kind: "nonce"; suffix: string }
  | { kind: "keyid"; which: "other-client" | "random" }
  | { kind: "signature"; index: number; bit: number };

const tamperArb: fc.Arbitrary<Tamper> = fc.oneof(
  fc.record({ kind: fc.constant("method" as const), to: fc.constantFrom("POST", "DELETE", "PUT", "PATCH") }),
  fc.record({ kind: fc.constant("path" as const), segment }),
  fc.record({ kind: fc.constant("query" as const), extra: fc.stringMatching(/^[a-z]{1,5}=[a-z0-9]{0,5}$/) }),
  fc.record({ kind: fc.constant("body" as const), index: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("content-digest" as const), other: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant("created" as const), delta: fc.integer({ min: -120, max: 120 }).filter((d) => d !== 0) }),
  fc.record({ kind: fc.constant("nonce" as const), suffix: fc.stringMatching(/^[A-Za-z0-9]{1,4}$/) }),
  fc.record({ kind: fc.constant("keyid" as const), which: fc.constantFrom("other-client" as const, "random" as const) }),
  fc.record({ kind: fc.constant("signature" as const), index: fc.integer({ min: 0, max: 63 }), bit: fc.integer({ min: 0, max: 7 }) }),
);

function clone(p: RequestParts): RequestParts {
  return { method: p.method, url: p.url, headers: { ...p.headers }, ...(p.body ? { body: p.body.slice() } : {}) };
}

/** Applies the tamper; returns false when it does not apply to this request (e.g. no body). */
async function apply(p: RequestParts, t: Tamper): Promise<boolean> {
  const input = p.headers["Signature-Input"]!;
  switch (t.kind) {
    case "method":
      if (t.to === p.method) return false;
      p.method = t.to;
      return true;
    case "path": {
      const u = new URL(p.url);
      u.pathname = `${u.pathname}/${t.segment}`;
      p.url = u.href;
      return true;
    }
    case "query": {
      const u = new URL(p.url);
      u.search = u.search ? `${u.search}&${t.extra}` : `?${t.extra}`;
      p.url = u.href;
      return true;
    }
    case "body": {
      if (!p.body) return false;
      const i = t.index % p.body.length;
      p.body[i] = p.body[i]! ^ t.xor;
      return true;
    }
    case "content-digest": {
      if (!p.body) return false;
      const other = await createContentDigest(t.other);
      if (other === p.headers["Content-Digest"]) return false;
      p.headers["Content-Digest"] = other;
      return true;
    }
    case "created":
      p.headers["Signature-Input"] = input.replace(/;created=(\d+)/, (_, n: string) => `;created=${Number(n) + t.delta}`);
      return true;
    case "nonce":
      p.headers["Signature-Input"] = input.replace(/;nonce="([^"]*)"/, (_, n: string) => `;nonce="${n}${t.suffix}"`);
      return true;
    case "keyid": {
      const to = t.which === "other-client" ? second.clientId : Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
      p.headers["Signature-Input"] = input.replace(/;keyid="[^"]*"/, `;keyid="${to}"`);
      return true;
    }
    case "signature": {
      const m = /^sig1=:([^:]*):$/.exec(p.headers.Signature!)!;
      const sig = Buffer.from(m[1]!, "base64");
      sig[t.index] = sig[t.index]! ^ (1 << t.bit);
      p.headers.Signature = `sig1=:${sig.toString("base64")}:`;
      return true;
    }
  }
}

test("random tampering of any covered component is always refused (401, handler not called)", async () => {
  const refusedCodes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(requestArb, tamperArb, async (r, t) => {
      const route = r.method === "POST" ? "/v1/commands/" : "/v1/jobs/";
      const url = `${BASE_URL}${route}${r.id}${r.query ? `?${r.query}` : ""}`;
      const original = await signedParts(h, {
        method: r.method,
        url,
        ...(r.body !== undefined ? { body: r.body } : {}),
        nonce: nextNonce(),
      });
      const tampered = clone(original);
      fc.pre(await apply(tampered, t));

      const before = h.calls.n;
      const res = await send(h, tampered);
      const problem = (await res.json()) as { code: string };
      expect(res.status).toBe(401);
      expect(["signature_invalid", "stale", "unknown_client"]).toContain(problem.code);
      expect(h.calls.n).toBe(before);
      refusedCodes.set(`${t.kind}:${problem.code}`, (refusedCodes.get(`${t.kind}:${problem.code}`) ?? 0) + 1);

      const genuine = await send(h, original);
      expect(genuine.status).toBe(200);
      expect(h.calls.n).toBe(before + 1);
    }),
    { numRuns: 300 },
  );
  if (process.env.ICECORE_TEST_VERBOSE) console.log(Object.fromEntries(refusedCodes));
  // Every kind of tamper was actually exercised.
  const kinds = new Set([...refusedCodes.keys()].map((k) => k.split(":")[0]));
  expect([...kinds].sort()).toEqual(["body", "content-digest", "created", "keyid", "method", "nonce", "path", "query", "signature"]);
});
