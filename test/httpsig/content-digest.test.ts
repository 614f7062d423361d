import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { checkContentDigest, createContentDigest } from "../../src/httpsig/content-digest.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("RFC 9530 Content-Digest (sha-256)", () => {
  test('RFC 9530 §B example: {"hello": "world"} → sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:', async () => {
    expect(await createContentDigest(enc('{"hello": "world"}'))).toBe("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
  });

  test("matches node:crypto for arbitrary bodies, and verifies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (body) => {
        const field = await createContentDigest(body);
        expect(field).toBe(`sha-256=:${createHash("sha256").update(body).digest("base64")}:`);
        expect(await checkContentDigest(field, body)).toBe("ok");
      }),
    );
  });

  test("mismatch, missing sha-256, malformed, parameterised", async () => {
    const body = enc("{}");
    const other = await createContentDigest(enc("[]"));
    expect(await checkContentDigest(other, body)).toBe("mismatch");
    expect(await checkContentDigest("sha-512=:AAAA:", body)).toBe("no_sha256");
    expect(await checkContentDigest("sha-256=:not base64!:", body)).toBe("malformed");
    expect(await checkContentDigest("sha-256=abc", body)).toBe("malformed");
    expect(await checkContentDigest("sha-256=(:AAAA:)", body)).toBe("malformed");
    expect(await checkContentDigest(`${await createContentDigest(body)};x=1`, body)).toBe("malformed");
    expect(await checkContentDigest("", body)).toBe("no_sha256");
  });

  test("other algorithms alongside sha-256 are ignored, never a substitute", async () => {
    const body = enc('{"a":1}');
    const good = await createContentDigest(body);
    expect(await checkContentDigest(`sha-512=:AAAA:, ${good}`, body)).toBe("ok");
    expect(await checkContentDigest(`sha-512=:${createHash("sha512").update(body).digest("base64")}:`, body)).toBe("no_sha256");
  });

  test("a truncated digest is a mismatch", async () => {
    const body = enc("x");
    const short = `sha-256=:${createHash("sha256").update(body).digest().subarray(0, 31).toString("base64")}:`;
    expect(await checkContentDigest(short, body)).toBe("mismatch");
  });
});
