/**
 * RFC 9421 §3.3.4 `ecdsa-p256-sha256`: ECDSA over P-256 with SHA-256, signature encoded as the
 * 64-byte concatenation r||s (each a 32-byte big-endian unsigned integer), NOT DER.
 *
 * WebCrypto's ECDSA (WebCrypto §23.1 "ECDSA", sign/verify) already produces and consumes exactly
 * that IEEE P1363 r||s form, so no re-encoding is needed — and none is done by hand.
 */
import { ECDSA_SHA256 } from "../pki/algorithms.ts";

export const ALGORITHM = "ecdsa-p256-sha256";
export const SIGNATURE_BYTES = 64;

/** RFC 9421 §3.1 HTTP_SIGN: the signature base is signed as its US-ASCII bytes. */
export async function signBase(privateKey: CryptoKey, base: string): Promise<Uint8Array> {
  assertP256(privateKey);
  return new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, privateKey, new TextEncoder().encode(base)));
}

/** RFC 9421 §3.2 HTTP_VERIFY. A signature of any length other than 64 bytes is simply invalid. */
export async function verifyBase(publicKey: CryptoKey, base: string, signature: Uint8Array): Promise<boolean> {
  assertP256(publicKey);
  if (signature.length !== SIGNATURE_BYTES) return false;
  return crypto.subtle.verify(ECDSA_SHA256, publicKey, signature as Uint8Array<ArrayBuffer>, new TextEncoder().encode(base));
}

/** RFC 9421 §3.3.7 / §7.3.6: the key must fit the algorithm; never let a key pick a different one. */
function assertP256(key: CryptoKey): void {
  const alg = key.algorithm as { name: string; namedCurve?: string };
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") {
    throw new TypeError(`${ALGORITHM} needs an ECDSA P-256 key, got ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ""}`);
  }
}

/** The order n of the P-256 group (SEC 2 §2.4.2 / FIPS 186-5 D.1.2.3). */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * A replay key for a signature without a `nonce` (SPEC §5): the signature value itself, with `s`
 * normalised to the lower of s and n − s. An ECDSA signature (r, s) has a twin (r, n − s) that
 * verifies too; without the normalisation a captured request could be replayed under its twin.
 */
export function replayKeyOf(signature: Uint8Array): string {
  if (signature.length !== SIGNATURE_BYTES) return Buffer.from(signature).toString("base64");
  const hex = Buffer.from(signature).toString("hex");
  const s = BigInt(`0x${hex.slice(64)}`);
  const low = s > P256_ORDER / 2n ? P256_ORDER - s : s;
  return `${hex.slice(0, 64)}${low.toString(16).padStart(64, "0")}`;
}
