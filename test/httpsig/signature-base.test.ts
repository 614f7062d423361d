import { describe, expect, test } from "bun:test";
import {
  SignatureBaseError,
  buildSignatureBase,
  normaliseMethod,
  serializeSignatureParams,
  signatureBaseFromValues,
  targetUriOf,
} from "../../src/httpsig/signature-base.ts";
import { independentBaseFromLines, independentSignatureParams } from "./independent-base.ts";

describe("signature base (RFC 9421 §2.5)", () => {
  test("matches the independent construction for icecore's three components", () => {
    const headers = new Headers({ "Content-Digest": "  sha-256=:AAAA:  " });
    const params = serializeSignatureParams(["@method", "@target-uri", "content-digest"], new Map<string, string | number>([
      ["created", 1700000000],
      ["nonce", 'n"o\\nce-0123456789'],
      ["keyid", "k"],
      ["alg", "ecdsa-p256-sha256"],
    ]));
    const expectedParams = independentSignatureParams(["@method", "@target-uri", "content-digest"], [
      ["created", 1700000000],
      ["nonce", 'n"o\\nce-0123456789'],
      ["keyid", "k"],
      ["alg", "ecdsa-p256-sha256"],
    ]);
    expect(params).toBe(expectedParams);
    const base = buildSignatureBase(["@method", "@target-uri", "content-digest"], { method: "POST", targetUri: "https://127.0.0.1:1/a?b=c", headers }, params);
    expect(base).toBe(
      independentBaseFromLines(
        [
          ["@method", "POST"],
          ["@target-uri", "https://127.0.0.1:1/a?b=c"],
          ["content-digest", "sha-256=:AAAA:"],
        ],
        expectedParams,
      ),
    );
    expect(base.endsWith("\n")).toBe(false);
    expect(base.split("\n")).toHaveLength(4);
  });

  test("duplicate components, a missing covered field, unknown components and non-ASCII are errors", () => {
    const msg = { method: "POST", targetUri: "https://h/", headers: new Headers() };
    expect(() => signatureBaseFromValues([["@method", "POST"], ["@method", "POST"]], "()")).toThrow(SignatureBaseError);
    expect(() => buildSignatureBase(["content-digest"], msg, "()")).toThrow(SignatureBaseError);
    expect(() => buildSignatureBase(["@authority"], msg, "()")).toThrow(SignatureBaseError);
    expect(() => signatureBaseFromValues([["@target-uri", "https://h/é"]], "()")).toThrow(SignatureBaseError);
    expect(() => signatureBaseFromValues([["@method", "PO\nST"]], "()")).toThrow(SignatureBaseError);
  });

  test("targetUriOf: fragment dropped, default port dropped, host lowercased, dot segments resolved", () => {
    expect(targetUriOf("https://127.0.0.1:41234/v1/x?y=1#frag")).toBe("https://127.0.0.1:41234/v1/x?y=1");
    expect(targetUriOf("HTTPS://LOCALHOST:443/a/../b")).toBe("https://localhost/b");
    expect(targetUriOf("https://[::1]:8443/v1 x")).toBe("https://[::1]:8443/v1%20x");
  });

  test("normaliseMethod follows fetch: the six standard methods upper-cased, others untouched", () => {
    expect(normaliseMethod("post")).toBe("POST");
    expect(normaliseMethod("Delete")).toBe("DELETE");
    expect(normaliseMethod("patch")).toBe("patch");
  });
});
