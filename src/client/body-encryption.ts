/**
 * Encrypts a JSON request body to the server's key from the bundle (`server_key`, SPEC §4), as a
 * compact JWE (RFC 7516 §7.1) with `alg: "ECDH-ES"` (RFC 7518 §4.6: an ephemeral P-256 key per
 * message, direct key agreement) and `enc: "A256GCM"` (RFC 7518 §5.3). jose does all the crypto.
 * Sent as `Content-Type: application/jose` (RFC 7515 §9.2.1).
 */
import { CompactEncrypt, importJWK, type JWK } from "jose";

export const JOSE_MEDIA_TYPE = "application/jose";

/**
 * Checks the bundle's JWK is what SPEC §4 promises (public EC P-256, for ECDH-ES encryption) and
 * imports it. A JWK carrying a private part `d` is refused: the server would never hand that out.
 */
export async function importServerKey(jwk: JWK): Promise<CryptoKey> {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    throw new Error("server_key must be a P-256 EC public JWK");
  }
  if (jwk.d !== undefined) throw new Error("server_key must not contain a private key");
  if (jwk.alg !== undefined && jwk.alg !== "ECDH-ES") throw new Error('server_key alg must be "ECDH-ES"');
  if (jwk.use !== undefined && jwk.use !== "enc") throw new Error('server_key use must be "enc"');
  const { kty, crv, x, y } = jwk;
  const key = await importJWK({ kty, crv, x, y }, "ECDH-ES");
  if (key instanceof Uint8Array) throw new Error("server_key did not import as a public key");
  return key;
}

export interface EncryptedBody {
  bytes: Uint8Array;
  contentType: typeof JOSE_MEDIA_TYPE;
}

/** JSON-serialises `value` and encrypts it; the plaintext buffer is zeroed afterwards. */
export async function encryptJsonBody(value: unknown, serverKey: CryptoKey, opts: { kid?: string } = {}): Promise<EncryptedBody> {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError("the body is not JSON-serialisable");
  const plaintext = new TextEncoder().encode(json);
  try {
    const jwe = await new CompactEncrypt(plaintext)
      .setProtectedHeader({ alg: "ECDH-ES", enc: "A256GCM", ...(opts.kid ? { kid: opts.kid } : {}) })
      .encrypt(serverKey);
    return { bytes: new TextEncoder().encode(jwe), contentType: JOSE_MEDIA_TYPE };
  } finally {
    plaintext.fill(0);
  }
}

export interface BodyEncryptor {
  encrypt(value: unknown): Promise<EncryptedBody>;
}

/** Import once, encrypt many: what createCoreClient keeps for the bundle's lifetime. */
export async function createBodyEncryptor(serverJwk: JWK): Promise<BodyEncryptor> {
  const key = await importServerKey(serverJwk);
  const kid = typeof serverJwk.kid === "string" ? serverJwk.kid : undefined;
  return { encrypt: (value) => encryptJsonBody(value, key, kid ? { kid } : {}) };
}
