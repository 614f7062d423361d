/**
 * src/pki/der.ts writes icecore's certificates by hand (for start-up time, docs/performance.md).
 * These properties hold it to @peculiar/asn1-x509's encoding of the same fields, byte for byte:
 * random serials, names (PrintableString and UTF8String, short and long-form lengths), times on
 * both sides of UTCTime's range, points, every extension of the profile in any order and mix,
 * and ECDSA signatures whose halves have leading zeros or a high first bit. The certificates the
 * authority really mints are also split and checked: the signature verifies over our TBS, and
 * the library parses the whole certificate back to the same bytes.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { ecdsaSigValue, tbsCertificate, type ExtensionSpec, type TbsFields } from "../../src/pki/certificate.ts";
import { time } from "../../src/pki/der.ts";
import { mintAuthority, mintClientIdentity, mintServerIdentity } from "../../src/pki/authority.ts";
import { ECDSA_SHA256 } from "../../src/pki/algorithms.ts";
import { referenceEcdsaSigValue, referenceTbsCertificate } from "../support/reference-certificate.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

/** RFC 5280 §4.1.2.2 as icecore draws serials: 1–20 octets, first octet 0x01–0x7f. */
const serial = fc.tuple(fc.integer({ min: 1, max: 0x7f }), bytes(0, 19)).map(([first, rest]) => Uint8Array.of(first, ...rest));
const printable = fc.stringMatching(/^[A-Za-z0-9 '()+,\-./:=?]{0,300}$/);
const anyName = fc.oneof(printable, fc.string({ unit: "grapheme", minLength: 1, maxLength: 90 }));
/** UTCTime's years, to the second: the library writes no fractions there. */
const utcDate = fc.date({ min: new Date("1950-01-01T00:00:00Z"), max: new Date("2049-12-31T23:59:59Z"), noInvalidDate: true });
const oid = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 8 }))
  .map(([a, b, rest]) => [a, b, ...rest].join("."));
const extensionSpec: fc.Arbitrary<ExtensionSpec> = fc.oneof(
  fc.option(fc.integer({ min: 0, max: 127 }).map((pathLength) => ({ pathLength })), { nil: null }).map((ca) => ({ basicConstraints: ca })),
  fc.integer({ min: 0, max: 511 }).map((keyUsage) => ({ keyUsage })),
  fc.array(oid, { minLength: 1, maxLength: 4 }).map((extendedKeyUsage) => ({ extendedKeyUsage })),
  bytes(1, 40).map((subjectKeyIdentifier) => ({ subjectKeyIdentifier })),
  bytes(1, 40).map((authorityKeyIdentifier) => ({ authorityKeyIdentifier })),
  fc
    .array(fc.oneof(bytes(4, 4).map((ip) => ({ ip })), bytes(16, 16).map((ip) => ({ ip })), fc.domain().map((dns) => ({ dns }))), { minLength: 1, maxLength: 5 })
    .map((subjectAltName) => ({ subjectAltName })),
);
const fields: fc.Arbitrary<TbsFields> = fc.record({
  serialNumber: serial,
  issuer: anyName,
  subject: anyName,
  notBefore: utcDate,
  notAfter: utcDate,
  subjectPublicKey: bytes(65, 65),
  extensions: fc.array(extensionSpec, { minLength: 1, maxLength: 8 }),
});

describe("the DER writer against @peculiar/asn1-x509", () => {
  test("every TBSCertificate of the profile encodes to the library's bytes", () => {
    fc.assert(
      fc.property(fields, (f) => {
        expect(hex(tbsCertificate(f))).toBe(hex(referenceTbsCertificate(f)));
      }),
      { numRuns: 400 },
    );
  });

  test("ECDSA-Sig-Value: halves with leading zero octets, a high first bit, or both, as the library writes them", () => {
    const half = fc.oneof(bytes(32, 32), bytes(32, 32).map((b) => b.fill(0, 0, b[0]! % 5)), bytes(32, 32).map((b) => ((b[0] = b[0]! | 0x80), b)));
    fc.assert(
      fc.property(half, half, (r, s) => {
        const rs = Uint8Array.of(...r, ...s);
        expect(hex(ecdsaSigValue(rs))).toBe(hex(referenceEcdsaSigValue(rs)));
      }),
      { numRuns: 400 },
    );
  });

  test("times outside 1950–2049 are GeneralizedTime without fractions (RFC 5280 §4.1.2.5); inside, UTCTime", () => {
    expect(new TextDecoder().decode(time(new Date("2050-01-01T00:00:00.999Z")))).toBe("\x18\x0f20500101000000Z");
    expect(new TextDecoder().decode(time(new Date("1949-12-31T23:59:59.5Z")))).toBe("\x18\x0f19491231235959Z");
    expect(new TextDecoder().decode(time(new Date("2049-12-31T23:59:59.5Z")))).toBe("\x17\x0d491231235959Z");
  });
});

describe("what the authority mints", () => {
  test("CA, server and client certificates: the signature verifies over the TBS, and the library reads back the same DER", async () => {
    const ca = await mintAuthority();
    const server = await mintServerIdentity(ca, { ttlMs: 3600_000 });
    const client = await mintClientIdentity(ca, 7, { ttlMs: 3600_000 });
    const caKey = await crypto.subtle.importKey("spki", AsnConvert.serialize(AsnConvert.parse(ca.certDer, Certificate).tbsCertificate.subjectPublicKeyInfo), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    for (const der of [ca.certDer, server.certDer, client.certDer]) {
      const parsed = AsnConvert.parse(der, Certificate);
      expect(hex(new Uint8Array(AsnConvert.serialize(parsed)))).toBe(hex(der));
      const tbs = new Uint8Array(AsnConvert.serialize(parsed.tbsCertificate));
      // The signature value is DER; WebCrypto verifies r‖s, so unwrap it through the library.
      const { ECDSASigValue } = await import("@peculiar/asn1-ecc");
      const sig = AsnConvert.parse(parsed.signatureValue, ECDSASigValue);
      const half = (n: ArrayBuffer) => {
        const b = new Uint8Array(n);
        const trimmed = b[0] === 0 ? b.subarray(1) : b;
        const out = new Uint8Array(32);
        out.set(trimmed, 32 - trimmed.length);
        return out;
      };
      const rs = Uint8Array.of(...half(sig.r), ...half(sig.s));
      expect(await crypto.subtle.verify(ECDSA_SHA256, caKey, rs, tbs)).toBe(true);
    }
    // The client's spkiDer is what WebCrypto exports for the same key.
    expect(hex(client.spkiDer)).toBe(hex(new Uint8Array(await crypto.subtle.exportKey("spki", client.publicKey))));
  });
});
