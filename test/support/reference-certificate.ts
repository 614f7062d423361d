/**
 * The reference encoder for test/pki/der-equivalence.test.ts: the TBSCertificate and the
 * ECDSA-Sig-Value of src/pki/certificate.ts's profile, written by @peculiar/asn1-x509,
 * asn1-schema and asn1-ecc (the schema classes @peculiar/x509 is built on, and what minted
 * icecore's certificates until the DER writer replaced them on the start-up path).
 */
import { AsnConvert, AsnIntegerBigIntConverter, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
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
import type { ExtensionSpec, TbsFields } from "../../src/pki/certificate.ts";

const ID_AT_COMMON_NAME = "2.5.4.3";
const buffer = (bytes: Uint8Array) => bytes.slice().buffer;

function nameOf(commonName: string): Name {
  const value = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(commonName) ? { printableString: commonName } : { utf8String: commonName };
  return new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ID_AT_COMMON_NAME, value: new AttributeValue(value) })])]);
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function ipText(octets: Uint8Array): string {
  if (octets.length === 4) return [...octets].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((octets[i]! << 8) | octets[i + 1]!).toString(16));
  return groups.join(":");
}

function extensionOf(spec: ExtensionSpec): Extension {
  if ("basicConstraints" in spec) {
    const ca = spec.basicConstraints;
    return extension(id_ce_basicConstraints, true, ca ? new BasicConstraints({ cA: true, pathLenConstraint: ca.pathLength }) : new BasicConstraints({ cA: false }));
  }
  if ("keyUsage" in spec) return extension(id_ce_keyUsage, true, new KeyUsage(spec.keyUsage));
  if ("extendedKeyUsage" in spec) return extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([...spec.extendedKeyUsage]));
  if ("subjectKeyIdentifier" in spec) return extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(buffer(spec.subjectKeyIdentifier)));
  if ("authorityKeyIdentifier" in spec)
    return extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(buffer(spec.authorityKeyIdentifier)) }));
  return extension(
    id_ce_subjectAltName,
    false,
    new SubjectAlternativeName(spec.subjectAltName.map((name) => new GeneralName("ip" in name ? { iPAddress: ipText(name.ip) } : { dNSName: name.dns }))),
  );
}

/** The library's DER of the TBSCertificate for `fields`. */
export function referenceTbsCertificate(fields: TbsFields): Uint8Array {
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: buffer(fields.serialNumber),
    signature: new AlgorithmIdentifier({ algorithm: id_ecdsaWithSHA256 }),
    issuer: nameOf(fields.issuer),
    validity: new Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
    subject: nameOf(fields.subject),
    subjectPublicKeyInfo: new SubjectPublicKeyInfo({
      algorithm: new AlgorithmIdentifier({ algorithm: id_ecPublicKey, parameters: AsnConvert.serialize(new ECParameters({ namedCurve: id_secp256r1 })) }),
      subjectPublicKey: buffer(fields.subjectPublicKey),
    }),
    extensions: new Extensions(fields.extensions.map(extensionOf)),
  });
  return new Uint8Array(AsnConvert.serialize(tbs));
}

/** The library's DER ECDSA-Sig-Value for WebCrypto's r‖s. */
export function referenceEcdsaSigValue(rs: Uint8Array): Uint8Array {
  const integer = (half: Uint8Array) => buffer(AsnIntegerBigIntConverter.toASN(BigInt(`0x${Buffer.from(half).toString("hex")}`)).valueBlock.valueHexView);
  return new Uint8Array(AsnConvert.serialize(new ECDSASigValue({ r: integer(rs.subarray(0, 32)), s: integer(rs.subarray(32)) })));
}
