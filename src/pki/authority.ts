import { x509 } from "./x509.ts";
import { ECDSA_P256, SIGNING_ALGORITHM, randomSerialHex } from "./algorithms.ts";
import { clientIdOf } from "./client-id.ts";
import { certificatePem, privateKeyPem } from "./pem.ts";
import { assertP256 } from "./p256.ts";

/** Certificates are back-dated this much so a peer whose clock lags a little still accepts them. */
export const BACKDATE_MS = 60_000;
/** SPEC §3: the CA lives as long as the process, capped at 30 days. */
export const CA_MAX_LIFETIME_MS = 30 * 24 * 3600_000;

export interface CertificateAuthority {
  readonly cert: x509.X509Certificate;
  readonly certPem: Uint8Array;
  /** Non-extractable: the CA key can sign, and can never be exported, even by icecore itself. */
  readonly privateKey: CryptoKey;
  readonly notAfter: Date;
}

export interface ServerIdentity {
  readonly cert: x509.X509Certificate;
  readonly certPem: Uint8Array;
  readonly keyPem: Uint8Array;
  readonly notAfter: Date;
}

/** A client leaf (EKU clientAuth) for a public key, whoever generated it (SPEC §3). */
export interface ClientCertificate {
  readonly cert: x509.X509Certificate;
  readonly certPem: Uint8Array;
  readonly clientId: string;
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Public key, kept so the signature layer can verify this client's requests. */
  readonly publicKey: CryptoKey;
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
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: `CN=${opts.commonName ?? "icecore local CA"}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, certPem: certificatePem(cert), privateKey: keys.privateKey, notAfter };
}

async function issueLeaf(
  ca: CertificateAuthority,
  subject: string,
  purpose: string,
  extra: x509.Extension[],
  publicKey: CryptoKey,
  opts: LeafOptions,
): Promise<{ cert: x509.X509Certificate; notBefore: Date; notAfter: Date }> {
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  // A leaf never outlives its issuer: a client would refuse the chain after the CA expires anyway.
  const notAfter = opts.notAfter ?? new Date(Math.min(now + opts.ttlMs, ca.notAfter.getTime()));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey,
    signingKey: ca.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(opts.extendedKeyUsage ?? [purpose], false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
      ...extra,
    ],
  });
  return { cert, notBefore, notAfter };
}

/** SPEC §3: SAN IP 127.0.0.1, IP ::1, DNS localhost; EKU serverAuth. */
export async function mintServerIdentity(ca: CertificateAuthority, opts: LeafOptions): Promise<ServerIdentity> {
  const san = new x509.SubjectAlternativeNameExtension([
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
    { type: "dns", value: "localhost" },
  ]);
  const keys = await generateKeyPair(true);
  const { cert, notAfter } = await issueLeaf(ca, "CN=icecore server", x509.ExtendedKeyUsage.serverAuth, [san], keys.publicKey, opts);
  return { cert, certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey), notAfter };
}

/**
 * SPEC §3: CN=icecore-client-<n>; EKU clientAuth, for `publicKey` (an ECDSA P-256 verify key).
 * Renewal passes a key the child generated (SPEC §3 "rotation by renewal"): no private key
 * crosses any channel.
 */
export async function issueClientCertificate(ca: CertificateAuthority, publicKey: CryptoKey, serial: number, opts: LeafOptions): Promise<ClientCertificate> {
  assertP256(publicKey, "ECDSA", "a client's public key");
  const commonName = `icecore-client-${serial}`;
  const { cert, notBefore, notAfter } = await issueLeaf(ca, `CN=${commonName}`, x509.ExtendedKeyUsage.clientAuth, [], publicKey, opts);
  return { cert, certPem: certificatePem(cert), clientId: clientIdOf(cert.rawData), commonName, notBefore, notAfter, publicKey };
}

/** A client leaf with a key icecore generates (the handoff's, SPEC §4). */
export async function mintClientIdentity(ca: CertificateAuthority, serial: number, opts: LeafOptions): Promise<ClientIdentity> {
  const keys = await generateKeyPair(true);
  const certificate = await issueClientCertificate(ca, keys.publicKey, serial, opts);
  return { ...certificate, keyPem: await privateKeyPem(keys.privateKey) };
}
