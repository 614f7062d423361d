/**
 * P-256 keys, checked in one place (SPEC §3: every key is ECDSA or ECDH on P-256). Public keys
 * arrive as JWKs (RFC 7517/7518 §6.2.1) in two places: the bundle's `server_key` (ECDH-ES) and a
 * child's renewal request (ECDSA, a key the child generated, SPEC §3).
 */
import * as v from "valibot";

/** RFC 7518 §6.2.1.2/3: x and y of a P-256 point are 32 bytes, 43 base64url characters. */
const coordinate = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "must be 43 base64url characters (a P-256 coordinate)"));

/**
 * A public P-256 JWK. Loose for the optional members a library may add (alg, use, kid, key_ops,
 * ext), but a private part `d` is refused: nobody should ever send or accept one.
 */
export const P256PublicJwkSchema = v.pipe(
  v.looseObject({
    kty: v.literal("EC", 'kty must be "EC"'),
    crv: v.literal("P-256", 'crv must be "P-256"'),
    x: coordinate,
    y: coordinate,
  }),
  v.check((jwk) => !("d" in jwk), "must be a public key (no \"d\" member)"),
);

export type P256PublicJwk = v.InferOutput<typeof P256PublicJwkSchema>;

export type P256Use = "ECDSA" | "ECDH";

/** Is `key` a P-256 key of the given algorithm (and, when given, of the given type)? */
export function isP256(key: CryptoKey, name: P256Use, type?: CryptoKey["type"]): boolean {
  const alg = key.algorithm as { name: string; namedCurve?: string };
  return alg.name === name && alg.namedCurve === "P-256" && (type === undefined || key.type === type);
}

/** Throws a TypeError naming what was expected when `key` is not a P-256 key of that algorithm. */
export function assertP256(key: CryptoKey, name: P256Use, what: string): void {
  if (!isP256(key, name)) {
    const alg = key.algorithm as { name: string; namedCurve?: string };
    throw new TypeError(`${what} must be an ${name} P-256 key, got ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ""}`);
  }
}

/**
 * Imports a public JWK as an ECDSA verify key or an ECDH key with WebCrypto, after checking it
 * with the schema (the point itself is checked by the import: an off-curve point fails).
 */
export async function importP256PublicJwk(jwk: unknown, name: P256Use): Promise<CryptoKey> {
  const parsed = v.parse(P256PublicJwkSchema, jwk);
  const { kty, crv, x, y } = parsed;
  return crypto.subtle.importKey("jwk", { kty, crv, x, y, ext: true }, { name, namedCurve: "P-256" }, true, name === "ECDSA" ? ["verify"] : []);
}
