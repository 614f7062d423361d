/**
 * X.509 v3 certificates (RFC 5280) built with @peculiar/asn1-x509's schema classes and signed
 * with WebCrypto: the TBSCertificate is serialised once, signed, and the signature wrapped as an
 * ECDSA-Sig-Value (RFC 5758 §3.2, @peculiar/asn1-ecc). Every byte of DER is written by
 * @peculiar/asn1-schema; nothing here encodes ASN.1 by hand.
 *
 * Why not @peculiar/x509 (SPEC §1 names it): it is a layer over these same schema classes that
 * loads a dependency-injection container and every @peculiar/asn1-* package (CMS, CSR, PKCS#9,
 * RSA, post-quantum) at import, then re-parses each certificate it makes. On icecore's start-up
 * path that was ≈ 10 ms of loading and ≈ 25 ms of minting, half the time to the handoff
 * (docs/performance.md). The tests still parse what is minted here with @peculiar/x509 and with
 * openssl (test/pki/authority.test.ts).
 */
import { AsnConvert, AsnIntegerBigIntConverter, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { ECDSASigValue, ECParameters, id_ecPublicKey, id_ecdsaWithSHA256, id_secp256r1 } from "@peculiar/asn1-ecc";
import { ECDSA_SHA256 } from "./algorithms.ts";

export { KeyUsageFlags, id_kp_clientAuth, id_kp_serverAuth } from "@peculiar/asn1-x509";

/** RFC 4519 §2.3 commonName. */
const ID_AT_COMMON_NAME = "2.5.4.3";
/** P-256 public points are 65 bytes uncompressed; WebCrypto signatures are r‖s, 32 bytes each. */
const P256_COORDINATE_BYTES = 32;

/** The X.500 name `CN=<commonName>` (a PrintableString when it fits one, as before; else UTF8String). */
export function commonNameOf(commonName: string): Name {
  const value = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(commonName) ? { printableString: commonName } : { utf8String: commonName };
  return new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ID_AT_COMMON_NAME, value: new AttributeValue(value) })])]);
}

/** A P-256 public key as what the certificate certifies, and its key identifier. */
export interface CertifiedKey {
  readonly info: SubjectPublicKeyInfo;
  /** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
  readonly keyIdentifier: ArrayBuffer;
}

/** RFC 5480 §2: id-ecPublicKey with the namedCurve secp256r1, and the uncompressed point. */
export async function certifiedKeyOf(publicKey: CryptoKey): Promise<CertifiedKey> {
  const point = await crypto.subtle.exportKey("raw", publicKey);
  const info = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: id_ecPublicKey, parameters: AsnConvert.serialize(new ECParameters({ namedCurve: id_secp256r1 })) }),
    subjectPublicKey: point,
  });
  return { info, keyIdentifier: await crypto.subtle.digest("SHA-1", point) };
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** RFC 5280 §4.2.1.9, always critical. A CA gets its path length; a leaf is cA FALSE. */
export const basicConstraints = (ca: { pathLength: number } | null) =>
  extension(id_ce_basicConstraints, true, ca ? new BasicConstraints({ cA: true, pathLenConstraint: ca.pathLength }) : new BasicConstraints({ cA: false }));

/** RFC 5280 §4.2.1.3, critical. */
export const keyUsage = (flags: number) => extension(id_ce_keyUsage, true, new KeyUsage(flags));

/** RFC 5280 §4.2.1.12, not critical (as @peculiar/x509 made it). */
export const extendedKeyUsage = (purposes: readonly string[]) => extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([...purposes]));

/** RFC 5280 §4.2.1.2. */
export const subjectKeyIdentifier = (key: CertifiedKey) => extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(key.keyIdentifier));

/** RFC 5280 §4.2.1.1: the issuer's subject key identifier. */
export const authorityKeyIdentifier = (issuerKeyIdentifier: ArrayBuffer) =>
  extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuerKeyIdentifier) }));

/** RFC 5280 §4.2.1.6: iPAddress and dNSName entries, not critical (the subject is not empty). */
export const subjectAltName = (names: readonly ({ ip: string } | { dns: string })[]) =>
  extension(
    id_ce_subjectAltName,
    false,
    new SubjectAlternativeName(names.map((name) => new GeneralName("ip" in name ? { iPAddress: name.ip } : { dNSName: name.dns }))),
  );

export interface CertificateFields {
  /** 1–20 octets, positive (RFC 5280 §4.1.2.2). */
  serialNumber: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  subjectKey: CertifiedKey;
  extensions: Extension[];
  /** The issuer's ECDSA P-256 private key (the subject's own for a self-signed CA). */
  signingKey: CryptoKey;
}

/** RFC 5280 §4.1 / RFC 5758 §3.2: an ecdsa-with-SHA256 certificate, as DER. */
export async function signCertificate(fields: CertificateFields): Promise<Uint8Array> {
  // RFC 5758 §3.2: the parameters field of ecdsa-with-SHA256 MUST be omitted.
  const signatureAlgorithm = new AlgorithmIdentifier({ algorithm: id_ecdsaWithSHA256 });
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: fields.serialNumber.slice().buffer,
    signature: signatureAlgorithm,
    issuer: fields.issuer,
    validity: new Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
    subject: fields.subject,
    subjectPublicKeyInfo: fields.subjectKey.info,
    extensions: new Extensions(fields.extensions),
  });
  const tbs = AsnConvert.serialize(tbsCertificate);
  const rs = new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, fields.signingKey, tbs));
  const certificate = new Certificate({ tbsCertificate, signatureAlgorithm, signatureValue: ecdsaSigValue(rs) });
  return new Uint8Array(AsnConvert.serialize(certificate));
}

/**
 * WebCrypto's r‖s (IEEE P1363) as the DER ECDSA-Sig-Value X.509 carries (RFC 5758 §3.2 /
 * RFC 3279 §2.2.3): each half becomes a minimal positive INTEGER, encoded by asn1js.
 */
function ecdsaSigValue(rs: Uint8Array): ArrayBuffer {
  const integer = (half: Uint8Array) => {
    const bytes = AsnIntegerBigIntConverter.toASN(BigInt(`0x${Buffer.from(half).toString("hex")}`)).valueBlock.valueHexView;
    return bytes.slice().buffer;
  };
  return AsnConvert.serialize(new ECDSASigValue({ r: integer(rs.subarray(0, P256_COORDINATE_BYTES)), s: integer(rs.subarray(P256_COORDINATE_BYTES)) }));
}
