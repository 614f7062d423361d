import { describe, expect, test } from "bun:test";
import { SignatureFailure, checkFreshness, parseSignature, type SignatureParameters } from "../../src/httpsig/verify.ts";

const SIG = `sig1=:${Buffer.alloc(64, 1).toString("base64")}:`;
const GOOD_PARAMS = ';created=1700000000;nonce="0123456789abcdef";keyid="k";alg="ecdsa-p256-sha256"';

function failure(input: string | null, sig: string | null = SIG, hasBody = false): SignatureFailure {
  const headers = new Headers();
  if (input !== null) headers.set("Signature-Input", input);
  if (sig !== null) headers.set("Signature", sig);
  try {
    parseSignature(headers, { hasBody });
  } catch (e) {
    if (e instanceof SignatureFailure) return e;
    throw e;
  }
  throw new Error("expected a SignatureFailure");
}

describe("parseSignature", () => {
  test("a well-formed profile signature parses; @signature-params is re-serialised canonically", () => {
    const headers = new Headers({
      "Signature-Input": `sig1=( "@method"   "@target-uri" )${GOOD_PARAMS}`,
      Signature: SIG,
    });
    const parsed = parseSignature(headers, { hasBody: false });
    expect(parsed.label).toBe("sig1");
    expect(parsed.components).toEqual(["@method", "@target-uri"]);
    expect(parsed.params).toEqual({ created: 1700000000, nonce: "0123456789abcdef", keyid: "k", alg: "ecdsa-p256-sha256" });
    expect(parsed.signatureParams).toBe(`("@method" "@target-uri")${GOOD_PARAMS}`);
    expect(parsed.signature.length).toBe(64);
  });

  test("missing fields → missing", () => {
    expect(failure(null, null).kind).toBe("missing");
    expect(failure(`sig1=("@method" "@target-uri")${GOOD_PARAMS}`, null).kind).toBe("missing");
    expect(failure(null).kind).toBe("missing");
  });

  const invalidCases: Array<[string, string, string?, boolean?]> = [
    ["not a dictionary", "sig1=("],
    ["two signatures", `sig1=("@method" "@target-uri")${GOOD_PARAMS}, sig2=("@method" "@target-uri")${GOOD_PARAMS}`],
    ["label mismatch", `sig2=("@method" "@target-uri")${GOOD_PARAMS}`],
    ["member is an item, not an inner list", `sig1="@method"${GOOD_PARAMS}`],
    ["component with parameters", `sig1=("@method";req "@target-uri")${GOOD_PARAMS}`],
    ["component not in the profile", `sig1=("@method" "@target-uri" "@authority")${GOOD_PARAMS}`],
    ["duplicate component", `sig1=("@method" "@method" "@target-uri")${GOOD_PARAMS}`],
    ["@target-uri not covered", `sig1=("@method")${GOOD_PARAMS}`],
    ["@method not covered", `sig1=("@target-uri")${GOOD_PARAMS}`],
    ["content-digest not covered with a body", `sig1=("@method" "@target-uri")${GOOD_PARAMS}`, SIG, true],
    ["alg as a token", 'sig1=("@method" "@target-uri");created=1;nonce="0123456789abcdef";keyid="k";alg=ecdsa-p256-sha256'],
    ["alg rsa", 'sig1=("@method" "@target-uri");created=1;nonce="0123456789abcdef";keyid="k";alg="rsa-pss-sha512"'],
    ["created as a string", 'sig1=("@method" "@target-uri");created="1";nonce="0123456789abcdef";keyid="k";alg="ecdsa-p256-sha256"'],
    ["created decimal", 'sig1=("@method" "@target-uri");created=1.5;nonce="0123456789abcdef";keyid="k";alg="ecdsa-p256-sha256"'],
    ["nonce too long", `sig1=("@method" "@target-uri");created=1;nonce="${"n".repeat(129)}";keyid="k";alg="ecdsa-p256-sha256"`],
    ["empty keyid", 'sig1=("@method" "@target-uri");created=1;nonce="0123456789abcdef";keyid="";alg="ecdsa-p256-sha256"'],
    ["unknown parameter", `sig1=("@method" "@target-uri")${GOOD_PARAMS};foo="bar"`],
    ["expires not an integer", `sig1=("@method" "@target-uri")${GOOD_PARAMS};expires="soon"`],
    ["signature is a token", `sig1=("@method" "@target-uri")${GOOD_PARAMS}`, "sig1=abc"],
    ["signature has parameters", `sig1=("@method" "@target-uri")${GOOD_PARAMS}`, `${SIG};x=1`],
    ["signature is an inner list", `sig1=("@method" "@target-uri")${GOOD_PARAMS}`, "sig1=(:AAAA:)"],
  ];
  for (const [name, input, sig, hasBody] of invalidCases) {
    test(`invalid: ${name}`, () => {
      expect(failure(input, sig ?? SIG, hasBody ?? false).kind).toBe("invalid");
    });
  }
});

describe("checkFreshness", () => {
  const p = (created: number, expires?: number): SignatureParameters => ({ created, nonce: "n", keyid: "k", alg: "a", ...(expires ? { expires } : {}) });
  test("±window inclusive", () => {
    expect(() => checkFreshness(p(1000), 1060_000, 60)).not.toThrow();
    expect(() => checkFreshness(p(1000), 940_000, 60)).not.toThrow();
    expect(() => checkFreshness(p(1000), 1060_001, 60)).toThrow(SignatureFailure);
    expect(() => checkFreshness(p(1000), 939_999, 60)).toThrow(SignatureFailure);
  });
  test("an expires in the past is stale", () => {
    let e: unknown;
    try {
      checkFreshness(p(1000, 1010), 1011_000, 60);
    } catch (x) {
      e = x;
    }
    expect((e as SignatureFailure).kind).toBe("stale");
  });
});
