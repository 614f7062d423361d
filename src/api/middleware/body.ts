/**
 * Reads the request body, bounded, BEFORE anything else looks at it (SPEC §5 "Bodies").
 *
 * - Only `application/json` (parameters allowed; a charset must be utf-8, RFC 8259 §8.1) and
 *   `application/jose` (a compact JWE, RFC 7516 §9 / RFC 7515 §9.2.1) are accepted: else 415.
 * - More than `maxBytes` (default 64 KiB): 413, decided from Content-Length before reading when
 *   it is declared, and otherwise WHILE reading: the stream is read chunk by chunk and cancelled
 *   the moment the limit is passed, so a client streaming an endless body costs at most one
 *   chunk beyond the limit, never memory proportional to what it sends.
 * - The raw bytes are kept (`rawBody`) because the signature middleware must check RFC 9530
 *   Content-Digest over exactly the bytes received, and the decoder parses them afterwards.
 *
 * A request "has a body" when its stream exists and Content-Length is not 0. Bodiless requests
 * (GET, most DELETEs) get an empty `rawBody` and `bodyMediaType` null, and no Content-Type check.
 */
import { createMiddleware } from "hono/factory";
import { ProblemError } from "../problem.ts";

export type BodyMediaType = "application/json" | "application/jose";

/** Context variables this middleware sets. */
export interface BodyVariables {
  /** The body's bytes exactly as received; empty when there is none. */
  rawBody: Uint8Array;
  /** The accepted media type, or null when there is no body. */
  bodyMediaType: BodyMediaType | null;
}

export const DEFAULT_MAX_BODY_BYTES = 65_536;

const unsupported = (detail: string) =>
  new ProblemError(415, "unsupported_media_type", "Unsupported Media Type", detail, {
    headers: { "Accept-Post": "application/json, application/jose" },
  });

const tooLarge = (maxBytes: number) =>
  new ProblemError(413, "payload_too_large", "Content Too Large", `the body exceeds ${maxBytes} bytes`, {
    // The unread rest of the body makes the connection unusable for another request.
    headers: { Connection: "close" },
  });

/**
 * RFC 9110 §8.3.1: `type/subtype *( OWS ";" OWS parameter )`, type, subtype and parameter names
 * case-insensitive, values optionally quoted. Returns null when the type is not one we accept.
 */
export function parseBodyMediaType(contentType: string | null): BodyMediaType | null {
  if (contentType === null) return null;
  const [essence = "", ...rawParams] = contentType.split(";");
  const type = essence.trim().toLowerCase();
  const params = new Map<string, string>();
  for (const raw of rawParams) {
    const eq = raw.indexOf("=");
    if (eq <= 0) return null;
    const name = raw.slice(0, eq).trim().toLowerCase();
    let value = raw.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name === "" || params.has(name)) return null;
    params.set(name, value);
  }
  if (type === "application/json") {
    const charset = params.get("charset");
    return charset === undefined || charset.toLowerCase() === "utf-8" ? "application/json" : null;
  }
  // A compact JWE is ASCII by construction; no parameter has a meaning here.
  if (type === "application/jose" && params.size === 0) return "application/jose";
  return null;
}

/** Reads at most maxBytes from the stream; cancels it and throws 413 as soon as it would exceed them. */
export async function readLimited(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        // Not awaited: a misbehaving source must not be able to hold the 413 back.
        reader.cancel().catch(() => {});
        for (const chunk of chunks) chunk.fill(0);
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, total);
}

export function readBody(opts: { maxBytes?: number } = {}) {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  return createMiddleware<{ Variables: BodyVariables }>(async (c, next) => {
    const req = c.req.raw;
    const lengthField = req.headers.get("content-length");
    let declared: number | null = null;
    if (lengthField !== null) {
      // RFC 9110 §8.6: 1*DIGIT. Anything else is a framing error we will not guess about.
      if (!/^[0-9]{1,15}$/.test(lengthField.trim())) {
        throw new ProblemError(400, "bad_content_length", "Bad Request", "Content-Length is not a decimal number");
      }
      declared = Number(lengthField.trim());
    }

    if (req.body === null || declared === 0) {
      c.set("rawBody", new Uint8Array(0));
      c.set("bodyMediaType", null);
      return next();
    }

    const mediaType = parseBodyMediaType(req.headers.get("content-type"));
    if (mediaType === null) throw unsupported("bodies must be application/json or application/jose (a compact JWE)");
    if (declared !== null && declared > maxBytes) throw tooLarge(maxBytes);

    // With a declared length (and no Transfer-Encoding, which would override it, RFC 9112 §6.3)
    // the HTTP/1.1 framing itself bounds the body to that many bytes, already checked against
    // maxBytes: read it whole. Otherwise count while reading.
    const raw = declared !== null && !req.headers.has("transfer-encoding") ? new Uint8Array(await req.arrayBuffer()) : await readLimited(req.body, maxBytes);
    c.set("rawBody", raw);
    c.set("bodyMediaType", raw.length === 0 ? null : mediaType);
    return next();
  });
}
