/**
 * X.509 v3 certificates (RFC 5280) of icecore's one profile (SPEC §3: ECDSA P-256, SHA-256),
 * encoded with der.ts and signed with WebCrypto: the TBSCertificate is encoded once, signed, and
 * the signature wrapped as an ECDSA-Sig-Value (RFC 5758 §3.2).
 *
 * A documented deviation from SPEC §1's library (@peculiar/x509): loading and running a schema
 * library cost ≈ 8 ms of the start-up path (docs/performance.md). The tests hold the minted bytes
 * to @peculiar/asn1-x509's encoding of the same fields (test/pki/der-equivalence.test.ts) and
 * parse every certificate with @peculiar/x509 and openssl (test/pki/authority.test.ts). Only the
 * encoding is ours; key generation, hashing and signing are WebCrypto's and Bun's.
 */
import { ECDSA_SHA256 } from "./algorithms.ts";
import {
  PRINTABLE,
  bitString,
  boolean,
  explicit,
  ia5Octets,
  implicitPrimitive,
  namedBits,
  objectIdentifier,
  octetString,
  printableString,
  sequence,
  setOfOne,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
  type Der,
} from "./der.ts";

/** RFC 5280 §4.2.1.3 named bits, as @peculiar/asn1-x509 numbers them (bit i = 1 << i). */
export const KeyUsageFlags = { digitalSignature: 1, keyCertSign: 32, cRLSign: 64 } as const;
/** RFC 5280 §4.2.1.12. */
export const id_kp_serverAuth = "1.3.6.1.5.5.7.3.1";
export const id_kp_clientAuth = "1.3.6.1.5.5.7.3.2";

const OID = {
  commonName: "2.5.4.3", // RFC 4519 §2.3
  ecPublicKey: "1.2.840.10045.2.1", // RFC 5480 §2.1.1
  secp256r1: "1.2.840.10045.3.1.7", // RFC 5480 §2.1.1.1
  ecdsaWithSHA256: "1.2.840.10045.4.3.2", // RFC 5758 §3.2
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

/** P-256 public points are 65 bytes uncompressed; WebCrypto signatures are r‖s, 32 bytes each. */
const P256_COORDINATE_BYTES = 32;

/** One extension of the profile, as data (the test encodes the same data with the library). */
export type ExtensionSpec =
  /** RFC 5280 §4.2.1.9, always critical: a CA with its path length, or a leaf (cA FALSE). */
  | { basicConstraints: { pathLength: number } | null }
  /** RFC 5280 §4.2.1.3, critical. */
  | { keyUsage: number }
  /** RFC 5280 §4.2.1.12, not critical (as @peculiar/x509 made it). */
  | { extendedKeyUsage: readonly string[] }
  /** RFC 5280 §4.2.1.2. */
  | { subjectKeyIdentifier: Uint8Array }
  /** RFC 5280 §4.2.1.1: the issuer's subject key identifier. */
  | { authorityKeyIdentifier: Uint8Array }
  /** RFC 5280 §4.2.1.6: iPAddress (4 or 16 octets) and dNSName entries, not critical. */
  | { subjectAltName: readonly ({ ip: Uint8Array } | { dns: string })[] };

export interface TbsFields {
  /** 1–20 octets, positive (RFC 5280 §4.1.2.2). */
  serialNumber: Uint8Array;
  /** Names are `CN=<commonName>`. */
  issuer: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** The subject's P-256 public key, the uncompressed point (RFC 5480 §2.2). */
  subjectPublicKey: Uint8Array;
  extensions: readonly ExtensionSpec[];
}

/** A P-256 public key as a certificate certifies it. */
export interface CertifiedKey {
  readonly point: Uint8Array;
  /** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
  readonly keyIdentifier: Uint8Array;
}

export async function certifiedKeyOf(publicKey: CryptoKey): Promise<CertifiedKey> {
  const point = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  return { point, keyIdentifier: new Bun.CryptoHasher("sha1").update(point).digest() as Uint8Array };
}

/** The X.500 name `CN=<commonName>`: a PrintableString when it fits one, else a UTF8String. */
export function commonName(name: string): Der {
  const value = PRINTABLE.test(name) ? printableString(name) : utf8String(name);
  return sequence(setOfOne(sequence(objectIdentifier(OID.commonName), value)));
}

/** RFC 5480 §2: id-ecPublicKey with the namedCurve secp256r1, and the uncompressed point. */
export function subjectPublicKeyInfo(point: Uint8Array): Der {
  return sequence(sequence(objectIdentifier(OID.ecPublicKey), objectIdentifier(OID.secp256r1)), bitString(point));
}

/** RFC 5280 §4.1: Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }. */
function extension(id: string, critical: boolean, value: Der): Der {
  return critical ? sequence(objectIdentifier(id), boolean(true), octetString(value)) : sequence(objectIdentifier(id), octetString(value));
}

function encodeExtension(spec: ExtensionSpec): Der {
  if ("basicConstraints" in spec) {
    const ca = spec.basicConstraints;
    // cA DEFAULT FALSE is omitted in DER (X.690 §11.5): a leaf's value is an empty SEQUENCE.
    return extension(OID.basicConstraints, true, ca ? sequence(boolean(true), smallInteger(ca.pathLength)) : sequence());
  }
  if ("keyUsage" in spec) return extension(OID.keyUsage, true, namedBits(spec.keyUsage));
  if ("extendedKeyUsage" in spec) return extension(OID.extKeyUsage, false, sequence(...spec.extendedKeyUsage.map(objectIdentifier)));
  if ("subjectKeyIdentifier" in spec) return extension(OID.subjectKeyIdentifier, false, octetString(spec.subjectKeyIdentifier));
  if ("authorityKeyIdentifier" in spec) return extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, spec.authorityKeyIdentifier)));
  // GeneralName: [7] iPAddress OCTET STRING, [2] dNSName IA5String, both IMPLICIT.
  const names = spec.subjectAltName.map((name) => ("ip" in name ? implicitPrimitive(7, name.ip) : implicitPrimitive(2, ia5Octets(name.dns))));
  return extension(OID.subjectAltName, false, sequence(...names));
}

const SIGNATURE_ALGORITHM = sequence(objectIdentifier(OID.ecdsaWithSHA256)); // RFC 5758 §3.2: no parameters

/** RFC 5280 §4.1.2: the TBSCertificate, version 3. */
export function tbsCertificate(fields: TbsFields): Der {
  return sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(fields.serialNumber),
    SIGNATURE_ALGORITHM,
    commonName(fields.issuer),
    sequence(time(fields.notBefore), time(fields.notAfter)),
    commonName(fields.subject),
    subjectPublicKeyInfo(fields.subjectPublicKey),
    explicit(3, sequence(...fields.extensions.map(encodeExtension))),
  );
}

/**
 * WebCrypto's r‖s (IEEE P1363) as the DER ECDSA-Sig-Value X.509 carries (RFC 5758 §3.2,
 * RFC 3279 §2.2.3): each half a minimal positive INTEGER.
 */
export function ecdsaSigValue(rs: Uint8Array): Der {
  return sequence(unsignedInteger(rs.subarray(0, P256_COORDINATE_BYTES)), unsignedInteger(rs.subarray(P256_COORDINATE_BYTES)));
}

/** RFC 5280 §4.1 / RFC 5758 §3.2: an ecdsa-with-SHA256 certificate, as DER. */
export async function signCertificate(fields: TbsFields, signingKey: CryptoKey): Promise<Uint8Array> {
  const tbs = tbsCertificate(fields);
  const rs = new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, signingKey, tbs));
  return sequence(tbs, SIGNATURE_ALGORITHM, bitString(ecdsaSigValue(rs)));
}
