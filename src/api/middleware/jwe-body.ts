/**
 * Turns the raw body into the JSON value routes see as `c.var.body` (SPEC §5 "Bodies").
 *
 * - `application/json`: UTF-8 (RFC 8259 §8.1, decoded fatally so invalid bytes are refused, not
 *   replaced), then JSON.parse.
 * - `application/jose`: a compact JWE (RFC 7516 §7.1) to the bundle's `server_key`. Only
 *   `alg: "ECDH-ES"` (RFC 7518 §4.6, direct key agreement) with `enc: "A256GCM"` (RFC 7518 §5.3)
 *   is accepted. The header is checked before any crypto, and jose is ALSO told the allow-list,
 *   so an algorithm-confusion JWE is refused twice over. Compressed JWEs (`zip`, RFC 7516 §4.1.3)
 *   are refused: decompression would undo the 64 KiB body limit. The plaintext must be JSON.
 * Refusals: 400 `jwe_invalid` (anything wrong with the JWE, including a JWE to another key — the
 * GCM tag fails) and 400 `malformed_json`.
 *
 * Runs after verifySignature(): nothing is decrypted or parsed for an unidentified caller.
 */
import { createMiddleware } from "hono/factory";
import type { MiddlewareHandler } from "hono";
import { compactDecrypt, decodeProtectedHeader } from "jose";
import { ProblemError } from "../problem.ts";
import type { BodyEnv } from "./body.ts";

export const JWE_ALG = "ECDH-ES";
export const JWE_ENC = "A256GCM";

const jweInvalid = (detail: string) => new ProblemError(400, "jwe_invalid", "Invalid JWE", detail);
const malformedJson = (detail: string) => new ProblemError(400, "malformed_json", "Malformed JSON", detail);

export interface DecodeBodyOptions {
  /** The server's ECDH-ES P-256 private key (src/api/server-key.ts), "deriveBits" usage. */
  serverKey: CryptoKey;
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw malformedJson(`${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw malformedJson(`${what} is not valid JSON`);
  }
}

/** Decrypts a compact JWE under icecore's profile; returns the plaintext bytes. */
export async function decryptCompactJwe(jwe: Uint8Array, serverKey: CryptoKey): Promise<Uint8Array> {
  // The compact serialization is five base64url segments (RFC 7516 §7.1): ASCII only.
  const text = new TextDecoder("ascii").decode(jwe).trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text)) {
    throw jweInvalid("the body is not a JWE compact serialization");
  }
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

export function decodeBody(opts: DecodeBodyOptions): MiddlewareHandler<BodyEnv> {
  return createMiddleware<BodyEnv>(async (c, next) => {
    const raw = c.get("rawBody");
    const mediaType = c.get("bodyMediaType");
    if (raw === undefined) throw new Error("decodeBody() must run after readBody()");
    if (mediaType === null || raw.length === 0) {
      c.set("body", undefined);
    } else if (mediaType === "application/json") {
      c.set("body", parseJson(raw, "the body"));
    } else {
      const plaintext = await decryptCompactJwe(raw, opts.serverKey);
      try {
        c.set("body", parseJson(plaintext, "the JWE plaintext"));
      } finally {
        plaintext.fill(0);
      }
    }
    return next();
  });
}
