/**
 * SPEC §3: the PKI icecore mints, checked two independent ways: parsed with @peculiar/x509, and
 * verified by the openssl CLI (a different X.509 implementation) through Bun.spawnSync.
 * Only certificates (public) are written to the scratch directory; private keys go to openssl on
 * stdin, never to a file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, createPublicKey, X509Certificate as NodeX509 } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BACKDATE_MS,
  CA_MAX_LIFETIME_MS,
  mintAuthority,
  mintClientIdentity,
  mintServerIdentity,
  type CertificateAuthority,
  type ClientIdentity,
  type ServerIdentity,
} from "../../src/pki/authority.ts";
import { clientIdOf } from "../../src/pki/client-id.ts";
import { parsedCertificate, x509 } from "../support/x509.ts";
import { PKCS8_BEGIN } from "../support/paths.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** X.509 times have one-second precision; minting takes a few ms. */
const SLACK_MS = 5_000;

const OPENSSL = Bun.which("openssl");
if (OPENSSL === null) console.info("authority.test.ts: openssl CLI not found; skipping the cross-checks with `openssl verify`");

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function derOfPem(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const match = new RegExp(`-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\r\\n]+)-----END ${label}-----`).exec(pem);
  if (match === null) throw new Error(`not a PEM ${label}`);
  return new Uint8Array(Buffer.from(match[1]!.replace(/\s+/g, ""), "base64"));
}

let ca: CertificateAuthority;
let server: ServerIdentity;
let client: ClientIdentity;
let mintedAt: number;
let scratch: string;

beforeAll(async () => {
  mintedAt = Date.now();
  ca = await mintAuthority();
  server = await mintServerIdentity(ca, { ttlMs: DAY });
  client = await mintClientIdentity(ca, 7, { ttlMs: DAY });
  scratch = mkdtempSync(join(tmpdir(), "icecore-pki-test-"));
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function openssl(args: string[], stdin?: Uint8Array): { code: number; out: string } {
  const result = Bun.spawnSync([OPENSSL!, ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode ?? -1, out: result.stdout.toString() + result.stderr.toString() };
}

function certFile(name: string, pem: Uint8Array | string): string {
  const path = join(scratch, name);
  writeFileSync(path, pem, { mode: 0o600 });
  return path;
}

describe("the CA (SPEC §3)", () => {
  // Guards: the CA shape: P-256, CA:true with pathLen 0 (it cannot mint sub-CAs), keyCertSign.
  test("is ECDSA P-256, basicConstraints CA:true pathLen 0 critical, keyUsage keyCertSign critical, self-signed", async () => {
    const cert = parsedCertificate(ca);
    expect(cert.publicKey.algorithm).toMatchObject({ name: "ECDSA", namedCurve: "P-256" });
    expect(cert.signatureAlgorithm).toMatchObject({ name: "ECDSA", hash: { name: "SHA-256" } });
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    expect(bc).not.toBeNull();
    expect(bc!.ca).toBe(true);
    expect(bc!.pathLength).toBe(0);
    expect(bc!.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku).not.toBeNull();
    expect(ku!.usages & x509.KeyUsageFlags.keyCertSign).toBe(x509.KeyUsageFlags.keyCertSign);
    expect(ku!.usages & x509.KeyUsageFlags.digitalSignature).toBe(0);
    expect(ku!.critical).toBe(true);
    expect(await cert.isSelfSigned()).toBe(true);
  });

  // Guards: "keys never leave memory": the CA key is generated non-extractable.
  test("its private key is not extractable: exportKey throws for every format", async () => {
    expect(ca.privateKey.extractable).toBe(false);
    for (const format of ["pkcs8", "jwk"] as const) {
      const error = await crypto.subtle.exportKey(format, ca.privateKey).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
    }
    // …and it is still a working signing key.
    expect(ca.privateKey.usages).toContain("sign");
  });

  // Guards: CA_MAX_LIFETIME_MS and the min() in mintAuthority.
  test("lifetime is capped at 30 days, whatever is asked", async () => {
    expect(CA_MAX_LIFETIME_MS).toBe(30 * DAY);
    const now = Date.now();
    expect(parsedCertificate(ca).notAfter.getTime()).toBeLessThanOrEqual(now + 30 * DAY);
    const greedy = await mintAuthority({ lifetimeMs: 365 * DAY });
    expect(parsedCertificate(greedy).notAfter.getTime()).toBeLessThanOrEqual(Date.now() + 30 * DAY);
    expect(parsedCertificate(greedy).notAfter.getTime()).toBeGreaterThan(Date.now() + 30 * DAY - SLACK_MS);
    const short = await mintAuthority({ lifetimeMs: 2 * HOUR });
    expect(Math.abs(parsedCertificate(short).notAfter.getTime() - (Date.now() + 2 * HOUR))).toBeLessThan(SLACK_MS);
  });

  test("openssl agrees: CA:TRUE, pathlen:0, critical; Certificate Sign", () => {
    if (OPENSSL === null) return;
    const { code, out } = openssl(["x509", "-noout", "-text"], ca.certPem);
    expect(code).toBe(0);
    expect(out).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(out).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign/);
    expect(out).toMatch(/ASN1 OID: prime256v1/);
  });
});

describe("the server leaf (SPEC §3)", () => {
  // Guards: SANs exactly the three loopback names (no wildcard, nothing a rebinding name could match).
  test("SANs are exactly IP 127.0.0.1, IP ::1, DNS localhost", () => {
    const san = parsedCertificate(server).getExtension(x509.SubjectAlternativeNameExtension);
    expect(san).not.toBeNull();
    const names = san!.names.toJSON().map((n) => ({ type: n.type, value: n.value }));
    expect(names).toHaveLength(3);
    expect(names).toEqual(
      expect.arrayContaining([
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
        { type: "dns", value: "localhost" },
      ]),
    );
    // Cross-check with node:crypto's parser.
    const node = new NodeX509(text(server.certPem));
    expect(node.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(node.checkIP("::1")).toBeDefined();
    expect(node.checkHost("localhost")).toBe("localhost");
    expect(node.checkHost("evil.example")).toBeUndefined();
    expect(node.checkIP("127.0.0.2")).toBeUndefined();
  });

  // Guards: purpose separation (the server certificate cannot be used as a client one).
  test("EKU is serverAuth only; not a CA; issued by our CA", async () => {
    const eku = parsedCertificate(server).getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(parsedCertificate(server).getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(parsedCertificate(server).issuer).toBe(parsedCertificate(ca).subject);
    expect(await parsedCertificate(server).verify({ publicKey: parsedCertificate(ca).publicKey, signatureOnly: true })).toBe(true);
  });

  test("openssl verify: valid for sslserver with IP 127.0.0.1 / ::1 / localhost, NOT for sslclient", () => {
    if (OPENSSL === null) return;
    const caFile = certFile("ca.pem", ca.certPem);
    const leaf = certFile("server.pem", server.certPem);
    for (const check of [["-verify_ip", "127.0.0.1"], ["-verify_ip", "::1"], ["-verify_hostname", "localhost"]]) {
      const ok = openssl(["verify", "-x509_strict", "-CAfile", caFile, "-purpose", "sslserver", ...check, leaf]);
      expect({ check, ...ok }).toMatchObject({ code: 0 });
    }
    expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", "-verify_hostname", "evil.example", leaf]).code).not.toBe(0);
    const asClient = openssl(["verify", "-CAfile", caFile, "-purpose", "sslclient", leaf]);
    expect(asClient.code).not.toBe(0);
    expect(asClient.out).toMatch(/(unsuitable|unsupported) certificate purpose/i);
  });
});

describe("the client leaf (SPEC §3)", () => {
  // Guards: the subject naming rule and purpose separation.
  test("CN is icecore-client-<n>, EKU is clientAuth only, not a CA", () => {
    expect(client.commonName).toBe("icecore-client-7");
    expect(parsedCertificate(client).subject).toBe("CN=icecore-client-7");
    const eku = parsedCertificate(client).getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(parsedCertificate(client).getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(parsedCertificate(client).publicKey.algorithm).toMatchObject({ name: "ECDSA", namedCurve: "P-256" });
  });

  test("openssl verify: valid for sslclient, NOT for sslserver, NOT under another CA", async () => {
    if (OPENSSL === null) return;
    const caFile = certFile("ca.pem", ca.certPem);
    const leaf = certFile("client.pem", client.certPem);
    const ok = openssl(["verify", "-x509_strict", "-CAfile", caFile, "-purpose", "sslclient", leaf]);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.out).toContain(": OK");
    const asServer = openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", leaf]);
    expect(asServer.code).not.toBe(0);
    expect(asServer.out).toMatch(/(unsuitable|unsupported) certificate purpose/i);
    const rogue = await mintAuthority({ commonName: "icecore local CA" });
    const rogueFile = certFile("rogue-ca.pem", rogue.certPem);
    expect(openssl(["verify", "-CAfile", rogueFile, "-purpose", "sslclient", leaf]).code).not.toBe(0);
  });

  // Guards: the SPEC §3 definition of client_id (the signature layer keys clients by it).
  test("client_id is the lowercase hex SHA-256 of the certificate's DER, computed independently", () => {
    const fromRaw = createHash("sha256").update(new Uint8Array(parsedCertificate(client).rawData)).digest("hex");
    const fromPem = createHash("sha256").update(derOfPem(text(client.certPem), "CERTIFICATE")).digest("hex");
    const fromNode = createHash("sha256").update(new NodeX509(text(client.certPem)).raw).digest("hex");
    expect(client.clientId).toMatch(/^[0-9a-f]{64}$/);
    expect(client.clientId).toBe(fromRaw);
    expect(client.clientId).toBe(fromPem);
    expect(client.clientId).toBe(fromNode);
    expect(clientIdOf(parsedCertificate(client).rawData)).toBe(fromRaw);
    expect(clientIdOf(new Uint8Array(parsedCertificate(client).rawData))).toBe(fromRaw);
  });

  // Guards: the handed-off key is usable by the child and belongs to ITS certificate.
  test("keyPem is PKCS#8 that WebCrypto imports and that signs for the certificate's public key", async () => {
    const pem = text(client.keyPem);
    expect(pem).toStartWith(PKCS8_BEGIN);
    const der = derOfPem(pem, "PRIVATE KEY");
    const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const message = crypto.getRandomValues(new Uint8Array(64));
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, message);
    const certKey = await parsedCertificate(client).publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
    expect(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, certKey, signature, message)).toBe(true);
    // Negative control: another client's certificate does not verify it.
    const other = await mintClientIdentity(ca, 8, { ttlMs: HOUR });
    const otherKey = await parsedCertificate(other).publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
    expect(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, otherKey, signature, message)).toBe(false);
    // Independent check with node:crypto: the key's public half is the certificate's.
    const fromKey = createPublicKey({ key: pem, format: "pem" }).export({ type: "spki", format: "der" });
    const fromCert = new NodeX509(text(client.certPem)).publicKey.export({ type: "spki", format: "der" });
    expect(Buffer.compare(fromKey, fromCert)).toBe(0);
    // The exposed publicKey (used by the signature layer) is the certificate's too.
    const exposed = Buffer.from(await crypto.subtle.exportKey("spki", client.publicKey));
    expect(Buffer.compare(exposed, fromCert)).toBe(0);
  });

  test("the server's keyPem matches the server certificate too", async () => {
    const fromKey = createPublicKey({ key: text(server.keyPem), format: "pem" }).export({ type: "spki", format: "der" });
    const fromCert = new NodeX509(text(server.certPem)).publicKey.export({ type: "spki", format: "der" });
    expect(Buffer.compare(fromKey, fromCert)).toBe(0);
  });
});

describe("key identifiers (RFC 5280 §4.2.1.1, §4.2.1.2)", () => {
  const sha1 = (bytes: ArrayBuffer) => createHash("sha1").update(new Uint8Array(bytes)).digest("hex");
  const subjectKeyId = (c: { certDer: Uint8Array }) => parsedCertificate(c).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;

  // Guards: SKI on every certificate (method 1: SHA-1 of the public key's bits), AKI = the CA's SKI.
  test("SKI is the SHA-1 of each certificate's public key; every leaf's AKI is the CA's SKI", async () => {
    for (const minted of [ca, server, client]) {
      const parsed = parsedCertificate(minted);
      const spki = new Uint8Array(parsed.publicKey.rawData);
      // The BIT STRING's value is the last 65 octets of a P-256 SubjectPublicKeyInfo (the uncompressed point).
      expect(subjectKeyId(minted)).toBe(sha1(spki.slice(-65).buffer));
    }
    for (const leaf of [server, client]) {
      const aki = parsedCertificate(leaf).getExtension(x509.AuthorityKeyIdentifierExtension);
      expect(aki?.keyId).toBe(subjectKeyId(ca));
      expect(aki?.critical).toBe(false);
    }
    expect(parsedCertificate(ca).getExtension(x509.AuthorityKeyIdentifierExtension)).toBeNull();
  });

  test("openssl agrees: the leaf's Authority Key Identifier is the CA's Subject Key Identifier", () => {
    if (OPENSSL === null) return;
    const ski = /X509v3 Subject Key Identifier:\s+([0-9A-F:]+)/;
    const aki = /X509v3 Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/;
    const caText = openssl(["x509", "-noout", "-text"], ca.certPem).out;
    const caSki = ski.exec(caText)?.[1];
    expect(caSki).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    for (const leaf of [server, client]) {
      const leafText = openssl(["x509", "-noout", "-text"], leaf.certPem).out;
      expect(aki.exec(leafText)?.[1]).toBe(caSki!);
      expect(ski.exec(leafText)?.[1]).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
      expect(leafText).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(leafText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    }
  });
});

describe("serials and validity (SPEC §3)", () => {
  // Guards: randomSerial: 16 random bytes, positive (RFC 5280 §4.1.2.2), never repeated.
  test("serials are 16 bytes, positive and distinct across 200 mints", async () => {
    const serials: string[] = [parsedCertificate(ca).serialNumber];
    const cas = await Promise.all(Array.from({ length: 10 }, () => mintAuthority()));
    for (const other of cas) serials.push(parsedCertificate(other).serialNumber);
    for (let i = 0; i < 190; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => mintClientIdentity(ca, 100 + i + j, { ttlMs: HOUR })));
      for (const leaf of batch) serials.push(parsedCertificate(leaf).serialNumber);
      // Each signature is a DER ECDSA-Sig-Value OpenSSL accepts (it refuses a non-minimal
      // INTEGER); across 190 leaves some r or s has its high bit set or a leading zero octet.
      const caKey = new NodeX509(text(ca.certPem)).publicKey;
      for (const leaf of batch) expect(new NodeX509(text(leaf.certPem)).verify(caKey)).toBe(true);
    }
    expect(serials.length).toBeGreaterThanOrEqual(200);
    for (const serial of serials) {
      // 32 hex digits = 16 octets in the DER INTEGER; first octet < 0x80 (positive) and nonzero (minimal).
      expect(serial).toMatch(/^[0-9a-f]{32}$/i);
      const first = parseInt(serial.slice(0, 2), 16);
      expect(first).toBeLessThan(0x80);
      expect(first).toBeGreaterThan(0);
    }
    expect(new Set(serials.map((s) => s.toLowerCase())).size).toBe(serials.length);
    // Randomness sanity: across 200 serials, every nibble value shows up in the last byte's low nibble.
    expect(new Set(serials.map((s) => s.slice(-1).toLowerCase())).size).toBeGreaterThan(12);
  });

  test("openssl reads a 16-byte positive serial", () => {
    if (OPENSSL === null) return;
    const { code, out } = openssl(["x509", "-noout", "-serial"], client.certPem);
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^serial=[0-7][0-9A-F]{31}$/);
  });

  // Guards: the leaf lifetime is --cert-ttl, and it never outlives its CA.
  test("leaf notAfter = now + ttl (± a few seconds), notBefore not in the future", () => {
    for (const leaf of [server, client]) {
      expect(Math.abs(parsedCertificate(leaf).notAfter.getTime() - (mintedAt + DAY))).toBeLessThan(SLACK_MS);
      expect(parsedCertificate(leaf).notBefore.getTime()).toBeLessThanOrEqual(Date.now());
      expect(parsedCertificate(leaf).notAfter.getTime()).toBeLessThanOrEqual(parsedCertificate(ca).notAfter.getTime());
    }
    expect(Math.abs(client.notAfter.getTime() - parsedCertificate(client).notAfter.getTime())).toBeLessThan(1000);
    // Back-dated by BACKDATE_MS, so a peer whose clock lags a little still accepts them.
    for (const minted of [ca, server, client]) {
      expect(Math.abs(parsedCertificate(minted).notBefore.getTime() - (mintedAt - BACKDATE_MS))).toBeLessThan(SLACK_MS);
    }
    expect(Math.abs(client.notBefore.getTime() - parsedCertificate(client).notBefore.getTime())).toBeLessThan(1000);
  });

  test("a leaf asked to outlive its CA ends with the CA", async () => {
    const shortCa = await mintAuthority({ lifetimeMs: HOUR });
    const leaf = await mintClientIdentity(shortCa, 1, { ttlMs: 30 * DAY });
    const srv = await mintServerIdentity(shortCa, { ttlMs: 30 * DAY });
    expect(parsedCertificate(leaf).notAfter.getTime()).toBeLessThanOrEqual(parsedCertificate(shortCa).notAfter.getTime());
    expect(parsedCertificate(srv).notAfter.getTime()).toBeLessThanOrEqual(parsedCertificate(shortCa).notAfter.getTime());
    expect(leaf.notAfter.getTime()).toBeLessThanOrEqual(shortCa.notAfter.getTime());
    if (OPENSSL === null) return;
    // openssl at a time after the CA's end but before what the leaf asked for: refused.
    const caFile = certFile("short-ca.pem", shortCa.certPem);
    const leafFile = certFile("short-leaf.pem", leaf.certPem);
    const later = Math.floor((Date.now() + 2 * HOUR) / 1000);
    expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslclient", leafFile]).code).toBe(0);
    const afterCa = openssl(["verify", "-attime", String(later), "-CAfile", caFile, "-purpose", "sslclient", leafFile]);
    expect(afterCa.code).not.toBe(0);
    expect(afterCa.out).toMatch(/expired/i);
  });
});
