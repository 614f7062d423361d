import { ECDSA_P256, randomSerial } from "./algorithms.ts";
import { KeyUsageFlags, certifiedKeyOf, id_kp_clientAuth, id_kp_serverAuth, signCertificate, subjectPublicKeyInfo, type CertifiedKey, type ExtensionSpec } from "./certificate.ts";
import { clientIdOf } from "./client-id.ts";
import { certificatePem, privateKeyPem } from "./pem.ts";
import { assertP256 } from "./p256.ts";

/** SPEC §3's server SAN addresses, 127.0.0.1 and ::1, as iPAddress octets (RFC 5280 §4.2.1.6). */
const LOOPBACK_V4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK_V6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/** Certificates are back-dated this much so a peer whose clock lags a little still accepts them. */
export const BACKDATE_MS = 60_000;
/** SPEC §3: the CA lives as long as the process, capped at 30 days. */
export const CA_MAX_LIFETIME_MS = 30 * 24 * 3600_000;

/** RFC 5280 §4.2.1.12 key purposes, by their OIDs. */
export const KEY_PURPOSE = { serverAuth: id_kp_serverAuth, clientAuth: id_kp_clientAuth } as const;

export interface CertificateAuthority {
  /** The certificate as DER. */
  readonly certDer: Uint8Array;
  readonly certPem: Uint8Array;
  /** Non-extractable: the CA key can sign, and can never be exported, even by icecore itself. */
  readonly privateKey: CryptoKey;
  readonly notAfter: Date;
  /** The CA's subject common name, every leaf's issuer. */
  readonly subject: string;
  /** Its subject key identifier, every leaf's authority key identifier. */
  readonly keyIdentifier: Uint8Array;
}

export interface ServerIdentity {
  readonly certDer: Uint8Array;
  readonly certPem: Uint8Array;
  readonly keyPem: Uint8Array;
  readonly notAfter: Date;
}

/** A client leaf (EKU clientAuth) for a public key, whoever generated it (SPEC §3). */
export interface ClientCertificate {
  readonly certDer: Uint8Array;
  readonly certPem: Uint8Array;
  readonly clientId: string;
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Public key, kept so the signature layer can verify this client's requests. */
  readonly publicKey: CryptoKey;
  /** The certificate's SubjectPublicKeyInfo (DER): which key it certifies. */
  readonly spkiDer: Uint8Array;
}

/** A client leaf whose key icecore generated: the one that crosses the handoff, once (SPEC §4). */
export interface ClientIdentity extends ClientCertificate {
  readonly keyPem: Uint8Array;
}

export interface LeafOptions {
  ttlMs: number;
  /** Overrides for tests that need expired or not-yet-valid certificates. */
  notBefore?: Date;
  notAfter?: Date;
  /** Overrides for tests that need a CA-signed certificate with the wrong purpose. */
  extendedKeyUsage?: string[];
}

async function generateKeyPair(extractablePrivate: boolean): Promise<CryptoKeyPair> {
  // WebCrypto fixes extractability for both halves; the public half is always exportable.
  return (await crypto.subtle.generateKey(ECDSA_P256, extractablePrivate, ["sign", "verify"])) as CryptoKeyPair;
}

export async function mintAuthority(opts: { lifetimeMs?: number; commonName?: string } = {}): Promise<CertificateAuthority> {
  const now = Date.now();
  const lifetime = Math.min(opts.lifetimeMs ?? CA_MAX_LIFETIME_MS, CA_MAX_LIFETIME_MS);
  const keys = await generateKeyPair(false);
  const notAfter = new Date(now + lifetime);
  const subject = opts.commonName ?? "icecore local CA";
  const key = await certifiedKeyOf(keys.publicKey);
  const certDer = await signCertificate(
    {
      serialNumber: randomSerial(),
      issuer: subject,
      subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      subjectPublicKey: key.point,
      // RFC 5280 §4.2.1.9/§4.2.1.3: a CA that cannot certify another CA (pathLen 0); it signs certificates (and CRLs).
      extensions: [
        { basicConstraints: { pathLength: 0 } },
        { keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign },
        { subjectKeyIdentifier: key.keyIdentifier },
      ],
    },
    keys.privateKey,
  );
  return { certDer, certPem: certificatePem(certDer), privateKey: keys.privateKey, notAfter, subject, keyIdentifier: key.keyIdentifier };
}

async function issueLeaf(
  ca: CertificateAuthority,
  commonName: string,
  purpose: string,
  extra: ExtensionSpec[],
  subjectKey: CertifiedKey,
  opts: LeafOptions,
): Promise<{ certDer: Uint8Array; notBefore: Date; notAfter: Date }> {
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  // A leaf never outlives its issuer: a client would refuse the chain after the CA expires anyway.
  const notAfter = opts.notAfter ?? new Date(Math.min(now + opts.ttlMs, ca.notAfter.getTime()));
  const certDer = await signCertificate(
    {
      serialNumber: randomSerial(),
      issuer: ca.subject,
      subject: commonName,
      notBefore,
      notAfter,
      subjectPublicKey: subjectKey.point,
      extensions: [
        { basicConstraints: null },
        { keyUsage: KeyUsageFlags.digitalSignature },
        { extendedKeyUsage: opts.extendedKeyUsage ?? [purpose] },
        { subjectKeyIdentifier: subjectKey.keyIdentifier },
        { authorityKeyIdentifier: ca.keyIdentifier },
        ...extra,
      ],
    },
    ca.privateKey,
  );
  return { certDer, notBefore, notAfter };
}

/** SPEC §3: SAN IP 127.0.0.1, IP ::1, DNS localhost; EKU serverAuth. */
export async function mintServerIdentity(ca: CertificateAuthority, opts: LeafOptions): Promise<ServerIdentity> {
  const san: ExtensionSpec = { subjectAltName: [{ ip: LOOPBACK_V4 }, { ip: LOOPBACK_V6 }, { dns: "localhost" }] };
  const keys = await generateKeyPair(true);
  const { certDer, notAfter } = await issueLeaf(ca, "icecore server", KEY_PURPOSE.serverAuth, [san], await certifiedKeyOf(keys.publicKey), opts);
  return { certDer, certPem: certificatePem(certDer), keyPem: await privateKeyPem(keys.privateKey), notAfter };
}

/**
 * SPEC §3: CN=icecore-client-<n>; EKU clientAuth, for `publicKey` (an ECDSA P-256 verify key).
 * Renewal passes a key the child generated (SPEC §3 "rotation by renewal"): no private key
 * crosses any channel.
 */
export async function issueClientCertificate(ca: CertificateAuthority, publicKey: CryptoKey, serial: number, opts: LeafOptions): Promise<ClientCertificate> {
  assertP256(publicKey, "ECDSA", "a client's public key");
  const commonName = `icecore-client-${serial}`;
  const subjectKey = await certifiedKeyOf(publicKey);
  const { certDer, notBefore, notAfter } = await issueLeaf(ca, commonName, KEY_PURPOSE.clientAuth, [], subjectKey, opts);
  // The SubjectPublicKeyInfo as the certificate carries it (what WebCrypto's "spki" export gives too).
  return { certDer, certPem: certificatePem(certDer), clientId: clientIdOf(certDer), commonName, notBefore, notAfter, publicKey, spkiDer: subjectPublicKeyInfo(subjectKey.point) };
}

/** A client leaf with a key icecore generates (the handoff's, SPEC §4). */
export async function mintClientIdentity(ca: CertificateAuthority, serial: number, opts: LeafOptions): Promise<ClientIdentity> {
  const keys = await generateKeyPair(true);
  const certificate = await issueClientCertificate(ca, keys.publicKey, serial, opts);
  return { ...certificate, keyPem: await privateKeyPem(keys.privateKey) };
}
