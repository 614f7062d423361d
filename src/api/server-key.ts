/**
 * The server's key-agreement key for request-body encryption (SPEC §4 bundle `server_key`, §5
 * "application/jose ... ECDH-ES + A256GCM").
 *
 * Minted in memory at start by WebCrypto. The private half is NON-extractable: it can derive
 * bits for ECDH-ES (RFC 7518 §4.6) and nothing else, not even export. The public half goes to
 * the child in the bundle as a JWK (RFC 7517) marked `alg: "ECDH-ES"`, `use: "enc"` (RFC 7517
 * §4.2, §4.4) with `kid` = its RFC 7638 thumbprint, so a child can tell keys apart across runs.
 */
import { calculateJwkThumbprint, exportJWK } from "jose";

export interface ServerKeyJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  alg: "ECDH-ES";
  use: "enc";
  kid: string;
}

export interface ServerKey {
  /** ECDH P-256, usage "deriveBits", extractable: false. */
  readonly privateKey: CryptoKey;
  readonly publicJwk: Readonly<ServerKeyJwk>;
}

export async function mintServerKey(): Promise<ServerKey> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])) as CryptoKeyPair;
  // Public keys stay exportable whatever `extractable` says (WebCrypto §14.3.6).
  const exported = await exportJWK(pair.publicKey);
  if (exported.kty !== "EC" || exported.crv !== "P-256" || !exported.x || !exported.y) throw new Error("unexpected public JWK shape");
  // Only the members RFC 7518 §6.2.1 defines for a public EC key; no key_ops/ext noise.
  const base = { kty: "EC" as const, crv: "P-256" as const, x: exported.x, y: exported.y };
  const kid = await calculateJwkThumbprint(base, "sha256");
  return { privateKey: pair.privateKey, publicJwk: Object.freeze({ ...base, alg: "ECDH-ES" as const, use: "enc" as const, kid }) };
}
