/**
 * RFC 9421 Appendix B.2.4 "Signing a Response Using ecdsa-p256-sha256", with the key of
 * Appendix B.1.3 `test-key-ecc-p256` (public half, SPKI). The published values were taken from
 * the RFC text (rfcinfo.com mirror of RFC 9421 Appendix B.2.4) and cross-checked against the same
 * vector in two independent open-source implementations' test suites.
 *
 * B.2.4 signs a RESPONSE with components "@status" "content-type" "content-digest"
 * "content-length" and only created/keyid — not icecore's profile, so it cannot pass
 * verifyRequest() (which rightly refuses it). What it can check exactly:
 *   - our @signature-params serialisation and §2.5 base construction reproduce the published base;
 *   - our ecdsa-p256-sha256 primitive (raw r||s, §3.3.4) verifies the RFC's published signature;
 *   - our parser reads the published Signature-Input/Signature fields and refuses them on profile.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { serializeSignatureParams, signatureBaseFromValues } from "../../src/httpsig/signature-base.ts";
import { verifyBase } from "../../src/httpsig/algorithm.ts";
import { SignatureFailure, parseSignature } from "../../src/httpsig/verify.ts";
import { independentBaseFromLines, independentSignatureParams } from "./independent-base.ts";

// RFC 9421 Appendix B.1.3, public key (SubjectPublicKeyInfo).
const TEST_KEY_ECC_P256_SPKI =
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf" + "w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==";

// RFC 9421 Appendix B.2.4 (RFC 8792 line wrapping undone).
const B24_BODY = '{"message": "good dog"}';
const B24_CONTENT_DIGEST = "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:";
const B24_BASE =
  '"@status": 200\n' +
  '"content-type": application/json\n' +
  `"content-digest": ${B24_CONTENT_DIGEST}\n` +
  '"content-length": 23\n' +
  '"@signature-params": ("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"';
const B24_SIGNATURE_INPUT = 'sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"';
const B24_SIGNATURE = "sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:";

const publicKey = await crypto.subtle.importKey("spki", Buffer.from(TEST_KEY_ECC_P256_SPKI, "base64"), { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
const signatureBytes = new Uint8Array(Buffer.from(B24_SIGNATURE.slice("sig-b24=:".length, -1), "base64"));

describe("RFC 9421 Appendix B.2.4 (ecdsa-p256-sha256)", () => {
  test("the vector is self-consistent: its Content-Digest is SHA-512 of its body", () => {
    expect(B24_CONTENT_DIGEST).toBe(`sha-512=:${createHash("sha512").update(B24_BODY).digest("base64")}:`);
    expect(B24_BODY.length).toBe(23);
  });

  test("our @signature-params serialisation and §2.5 base reproduce the published base", () => {
    const components = ["@status", "content-type", "content-digest", "content-length"];
    const params = serializeSignatureParams(components, new Map<string, string | number>([["created", 1618884473], ["keyid", "test-key-ecc-p256"]]));
    expect(`sig-b24=${params}`).toBe(B24_SIGNATURE_INPUT);
    const lines = [
      ["@status", "200"],
      ["content-type", "application/json"],
      ["content-digest", B24_CONTENT_DIGEST],
      ["content-length", "23"],
    ] as const;
    expect(signatureBaseFromValues(lines, params)).toBe(B24_BASE);
    // The independent builder agrees too.
    expect(independentBaseFromLines(lines, independentSignatureParams(components, [["created", 1618884473], ["keyid", "test-key-ecc-p256"]]))).toBe(B24_BASE);
  });

  test("the published signature verifies with our ecdsa-p256-sha256 primitive (raw r||s)", async () => {
    expect(signatureBytes.length).toBe(64);
    expect(await verifyBase(publicKey, B24_BASE, signatureBytes)).toBe(true);
  });

  test("any change to the published base or signature is refused", async () => {
    expect(await verifyBase(publicKey, B24_BASE.replace("200", "201"), signatureBytes)).toBe(false);
    const flipped = signatureBytes.slice();
    flipped[10] = flipped[10]! ^ 0x01;
    expect(await verifyBase(publicKey, B24_BASE, flipped)).toBe(false);
    expect(await verifyBase(publicKey, B24_BASE, signatureBytes.subarray(0, 63))).toBe(false);
  });

  test("our parser reads the published fields but refuses them under icecore's profile", () => {
    const headers = new Headers({ "Signature-Input": B24_SIGNATURE_INPUT, Signature: B24_SIGNATURE });
    let failure: unknown;
    try {
      parseSignature(headers, { hasBody: true });
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeInstanceOf(SignatureFailure);
    expect((failure as SignatureFailure).kind).toBe("invalid");
    expect((failure as SignatureFailure).reason).toContain("@status");
  });
});
