/**
 * Turns the raw body into the JSON text the route's validator parses (SPEC §5 "Bodies").
 *
 * - `application/json`: UTF-8 (RFC 8259 §8.1, decoded fatally so invalid bytes are refused, not
 *   replaced).
 * - `application/jose`: a compact JWE (RFC 7516 §7.1) to the bundle's `server_key`. Only
 *   `alg: "ECDH-ES"` (RFC 7518 §4.6, direct key agreement) with `enc: "A256GCM"` (RFC 7518 §5.3)
 *   is accepted. The header is checked before any crypto, and jose is ALSO told the allow-list,
 *   so an algorithm-confusion JWE is refused twice over. Compressed JWEs (`zip`, RFC 7516 §4.1.3)
 *   are refused: decompression would undo the 64 KiB body limit. The plaintext must be UTF-8.
 *   The request is then presented to the route as the `application/json` it carried, so one
 *   validator serves both media types.
 * Refusals: 400 `jwe_invalid` (anything wrong with the JWE, including a JWE to another key — the
 * GCM tag fails) and 400 `malformed_json`.
 *
 * Runs after verifySignature(): nothing is decrypted or parsed for an unidentified caller. jose
 * is loaded on the first encrypted body, not at start (it is not needed for the handoff).
 */
import { createMiddleware } from "hono/factory";
import { ProblemError, problems } from "../problem.ts";
import type { BodyVariables } from "./body.ts";

export const JWE_ALG = "ECDH-ES";
export const JWE_ENC = "A256GCM";

const jweInvalid = (detail: string) => new ProblemError(400, "jwe_invalid", "Invalid JWE", detail);

export interface DecodeBodyOptions {
  /** The server's ECDH-ES P-256 private key (src/api/server-key.ts), "deriveBits" usage. */
  serverKey: CryptoKey;
}

export interface DecodedBodyVariables extends BodyVariables {
  /** The body's JSON text (after decryption for application/jose), or null without a body. */
  bodyText: string | null;
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw problems.malformedJson(`${what} is not valid UTF-8`);
  }
}

/** Decrypts a compact JWE under icecore's profile; returns the plaintext bytes. */
export async function decryptCompactJwe(jwe: Uint8Array, serverKey: CryptoKey): Promise<Uint8Array> {
  // The compact serialization is five base64url segments (RFC 7516 §7.1): ASCII only.
  const text = new TextDecoder("ascii").decode(jwe).trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text)) {
    throw jweInvalid("the body is not a JWE compact serialization");
  }
  const { compactDecrypt, decodeProtectedHeader } = await import("jose");
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(text);
  } catch {
    throw jweInvalid("the JWE protected header is not valid");
  }
  if (header.alg !== JWE_ALG || header.enc !== JWE_ENC) {
    throw jweInvalid(`the JWE must use alg "${JWE_ALG}" and enc "${JWE_ENC}"`);
  }
  if (header.zip !== undefined) throw jweInvalid("compressed JWEs are not accepted");
  try {
    const { plaintext } = await compactDecrypt(text, serverKey, {
      keyManagementAlgorithms: [JWE_ALG],
      contentEncryptionAlgorithms: [JWE_ENC],
      maxDecompressedLength: 0,
    });
    return plaintext;
  } catch {
    // jose's message may name internals; the client learns only that decryption failed.
    throw jweInvalid("the JWE could not be decrypted with the server key");
  }
}

export function decodeBody(opts: DecodeBodyOptions) {
  return createMiddleware<{ Variables: DecodedBodyVariables }>(async (c, next) => {
    const raw = c.get("rawBody");
    const mediaType = c.get("bodyMediaType");
    if (raw === undefined) throw new Error("decodeBody() must run after readBody()");
    if (mediaType === null || raw.length === 0) {
      c.set("bodyText", null);
      return next();
    }
    let text: string;
    if (mediaType === "application/json") {
      text = utf8(raw, "the body");
    } else {
      const plaintext = await decryptCompactJwe(raw, opts.serverKey);
      try {
        text = utf8(plaintext, "the JWE plaintext");
      } finally {
        plaintext.fill(0);
      }
      // The route sees the JSON the JWE carried (Hono's validator reads the content type).
      const headers = new Headers(c.req.raw.headers);
      headers.set("content-type", "application/json");
      c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers });
    }
    // Hono's request keeps body reads as promises in bodyCache; its validator reads `text` from there.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
    c.set("bodyText", text);
    return next();
  });
}
