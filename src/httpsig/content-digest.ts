/**
 * RFC 9530 `Content-Digest`, restricted to the one algorithm icecore uses: `sha-256`.
 *
 * Why a digest at all: RFC 9421 signs message *components*, not the body. Covering
 * `content-digest` (RFC 9421 §7.2.8) binds the body to the signature: the signature protects
 * the digest field, and the digest protects the bytes. The verifier must therefore recompute the
 * digest over the exact bytes it received, never trust the field on its own.
 */
import { parseDictionary, serializeDictionary, type Dictionary } from "structured-headers";

/** RFC 9530 §5: the Hash Algorithms registry key for SHA-256. Keys are lowercase (RFC 8941 §3.2). */
export const CONTENT_DIGEST_ALGORITHM = "sha-256";

/** Bun's native hasher: synchronous, so the verifier's path has no thread hop for a 64 KiB-bounded body. */
function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(bytes).digest());
}

/**
 * RFC 9530 §2: `Content-Digest` is a Dictionary (RFC 8941 §3.2) whose values are Byte Sequences.
 * Serialized with structured-headers so the output is the canonical `sha-256=:<base64>:` form.
 */
export async function createContentDigest(body: Uint8Array): Promise<string> {
  const dict: Dictionary = new Map([[CONTENT_DIGEST_ALGORITHM, [sha256(body), new Map()]]]);
  return serializeDictionary(dict);
}

export type ContentDigestCheck = "ok" | "malformed" | "no_sha256" | "mismatch";

/**
 * Checks a received `Content-Digest` against the bytes actually received.
 *
 * RFC 9530 §2 allows several algorithms in one field; a recipient picks the ones it trusts. icecore
 * trusts only sha-256 and requires it (other members are ignored, never a substitute). A field that
 * is not a valid Dictionary, or whose sha-256 member is not a bare Byte Sequence, is malformed.
 */
export async function checkContentDigest(fieldValue: string, body: Uint8Array): Promise<ContentDigestCheck> {
  let dict: Dictionary;
  try {
    dict = parseDictionary(fieldValue);
  } catch {
    return "malformed";
  }
  const member = dict.get(CONTENT_DIGEST_ALGORITHM);
  if (member === undefined) return "no_sha256";
  const [value, params] = member;
  // An Inner List or a parameterised member is not what RFC 9530 §2 defines.
  if (Array.isArray(value) || !(value instanceof ArrayBuffer) || params.size !== 0) return "malformed";
  const expected = sha256(body);
  const received = new Uint8Array(value);
  return equalBytes(expected, received) ? "ok" : "mismatch";
}

/** Length-then-content comparison that does not stop at the first differing byte. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
