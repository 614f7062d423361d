/**
 * What the child SDK uses to sign its requests (SPEC §5: every POST and DELETE carries an
 * RFC 9421 signature with keyid = client_id). The crypto lives in src/httpsig/sign.ts; this module
 * only turns the bundle's `client_key` (PKCS#8 PEM, SPEC §4) into a CryptoKey and assembles the
 * headers a fetch needs.
 */
import { importPKCS8 } from "jose";
import { signRequest, type SignatureHeaders } from "../httpsig/sign.ts";

/**
 * Imports the bundle's `client_key` as a NON-extractable ECDSA P-256 signing key (jose's
 * importPKCS8 with "ES256" = ECDSA P-256 SHA-256, RFC 7518 §3.4). The caller should zero its PEM
 * bytes afterwards (SPEC §4.6); the transient string jose needs cannot be zeroed in JS.
 */
export async function importClientKey(pkcs8Pem: Uint8Array | string): Promise<CryptoKey> {
  const pem = typeof pkcs8Pem === "string" ? pkcs8Pem : new TextDecoder().decode(pkcs8Pem);
  const key = await importPKCS8(pem, "ES256", { extractable: false });
  const alg = key.algorithm as { name: string; namedCurve?: string };
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") throw new Error("client_key is not an ECDSA P-256 key");
  return key;
}

export interface RequestSigner {
  readonly clientId: string;
  /** Signature-Input, Signature and, with a body, Content-Digest for this exact request. */
  sign(request: { method: string; url: string | URL; body?: Uint8Array }): Promise<SignatureHeaders>;
}

export function createRequestSigner(opts: { key: CryptoKey; clientId: string }): RequestSigner {
  return {
    clientId: opts.clientId,
    sign: (request) => signRequest({ ...request, key: opts.key, keyId: opts.clientId }),
  };
}

export interface PreparedRequest {
  method: string;
  headers: Headers;
  body?: Uint8Array;
}

/**
 * Everything a fetch needs for a signed request: the body is signed as the exact bytes that will
 * be sent (for application/jose, the compact JWE's bytes), so the server's RFC 9530 digest check
 * runs over the same octets.
 */
export async function prepareSignedRequest(
  signer: RequestSigner,
  request: { method: string; url: string | URL; body?: { bytes: Uint8Array; contentType: string } },
): Promise<PreparedRequest> {
  const headers = new Headers();
  const bytes = request.body?.bytes;
  if (request.body) headers.set("Content-Type", request.body.contentType);
  const signature = await signer.sign({ method: request.method, url: request.url, ...(bytes ? { body: bytes } : {}) });
  for (const [name, value] of Object.entries(signature)) if (value !== undefined) headers.set(name, value);
  return { method: request.method, headers, ...(bytes ? { body: bytes } : {}) };
}
