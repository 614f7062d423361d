import * as v from "valibot";

/** SPEC §4.4: at most 64 KiB, one JSON object and "\n". */
export const MAX_BUNDLE_BYTES = 64 * 1024;

const pem = (label: string) =>
  v.pipe(
    v.string(),
    v.regex(new RegExp(`^-----BEGIN ${label}-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END ${label}-----\\r?\\n?$`), `must be one PEM ${label}`),
  );

export const ServerKeySchema = v.looseObject({
  kty: v.literal("EC"),
  crv: v.literal("P-256"),
  x: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/)),
  y: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/)),
});

/** Bundle v1. Loose: a newer server may add fields; the seed's three keep their names. */
export const BundleSchema = v.looseObject({
  v: v.literal(1),
  ca_cert: pem("CERTIFICATE"),
  client_cert: pem("CERTIFICATE"),
  client_key: pem("PRIVATE KEY"),
  api_url: v.pipe(v.string(), v.regex(/^https:\/\/(127\.0\.0\.1|\[::1\]|localhost):\d{1,5}$/, "must be a loopback https URL")),
  client_id: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex")),
  not_after: v.pipe(v.string(), v.isoTimestamp()),
  server_key: ServerKeySchema,
});

export type Bundle = v.InferOutput<typeof BundleSchema>;
export type ServerKeyJwk = v.InferOutput<typeof ServerKeySchema>;

export interface BundleParts {
  caCertPem: Uint8Array;
  clientCertPem: Uint8Array;
  clientKeyPem: Uint8Array;
  apiUrl: string;
  clientId: string;
  notAfter: Date;
  serverKey: ServerKeyJwk;
}

const encoder = new TextEncoder();

/**
 * The wire form, built straight into one Uint8Array that the sender zeroes after writing
 * (SPEC §4.6). PEM bytes are base64 and newlines only, so they are JSON-escaped by hand:
 * no intermediate string ever holds the private key.
 */
export function encodeBundle(parts: BundleParts): Uint8Array {
  const head = encoder.encode(`{"v":1,"ca_cert":`);
  const pieces: Uint8Array[] = [head];
  const field = (name: string) => encoder.encode(`,"${name}":`);
  pieces.push(jsonStringOfPem(parts.caCertPem), field("client_cert"), jsonStringOfPem(parts.clientCertPem));
  pieces.push(field("client_key"), jsonStringOfPem(parts.clientKeyPem));
  pieces.push(
    encoder.encode(
      `,"api_url":${JSON.stringify(parts.apiUrl)},"client_id":${JSON.stringify(parts.clientId)},` +
        `"not_after":${JSON.stringify(parts.notAfter.toISOString())},"server_key":${JSON.stringify(parts.serverKey)}}\n`,
    ),
  );
  const total = pieces.reduce((n, p) => n + p.length, 0);
  if (total > MAX_BUNDLE_BYTES) throw new Error(`bundle is ${total} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
    piece.fill(0);
  }
  return out;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Each byte's fate in a JSON string of PEM: copied, escaped as \n or \r, or refused (not PEM). */
const COPY = 0;
const ESCAPE_LF = 1;
const ESCAPE_CR = 2;
const REFUSE = 3;
const PEM_BYTE_CLASS = new Uint8Array(256).fill(REFUSE);
PEM_BYTE_CLASS.fill(COPY, 0x20, 0x7f);
PEM_BYTE_CLASS[QUOTE] = REFUSE;
PEM_BYTE_CLASS[BACKSLASH] = REFUSE;
PEM_BYTE_CLASS[NEWLINE] = ESCAPE_LF;
PEM_BYTE_CLASS[CARRIAGE_RETURN] = ESCAPE_CR;

/**
 * JSON string of PEM bytes: only "\n" and "\r" need escaping; anything else non-PEM is refused.
 * Indexed loops over a class table and runs copied with set(): this runs once per handoff, in
 * the interpreter, where a for-of over the bytes cost ≈ 0.4 ms (docs/performance.md).
 */
function jsonStringOfPem(pemBytes: Uint8Array): Uint8Array {
  const length = pemBytes.length;
  let extra = 0;
  for (let at = 0; at < length; at++) {
    const fate = PEM_BYTE_CLASS[pemBytes[at]!]!;
    if (fate === REFUSE) throw new Error("PEM contains a byte that is not PEM");
    if (fate !== COPY) extra++;
  }
  const out = new Uint8Array(length + extra + 2);
  out[0] = QUOTE;
  let from = 0;
  let to = 1;
  for (let at = 0; at < length; at++) {
    const fate = PEM_BYTE_CLASS[pemBytes[at]!]!;
    if (fate === COPY) continue;
    out.set(pemBytes.subarray(from, at), to);
    to += at - from;
    out[to++] = BACKSLASH;
    out[to++] = fate === ESCAPE_LF ? 0x6e : 0x72;
    from = at + 1;
  }
  out.set(pemBytes.subarray(from), to);
  out[to + length - from] = QUOTE;
  return out;
}

export class BundleInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BundleInvalid";
  }
}

/** Client side: exactly one JSON object terminated by "\n", valid against bundle v1. */
export function decodeBundle(bytes: Uint8Array): Bundle {
  if (bytes.length === 0) throw new BundleInvalid("the endpoint closed without sending a bundle (this process was not accepted as the child)");
  if (bytes.length > MAX_BUNDLE_BYTES) throw new BundleInvalid(`the bundle is over ${MAX_BUNDLE_BYTES} bytes`);
  if (bytes[bytes.length - 1] !== NEWLINE) throw new BundleInvalid("the bundle is not terminated by a newline (truncated?)");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new BundleInvalid("the bundle is not valid UTF-8 JSON");
  }
  const result = v.safeParse(BundleSchema, value);
  if (!result.success) {
    const first = result.issues[0];
    const path = first ? v.getDotPath(first) : null;
    throw new BundleInvalid(`the bundle is invalid${path ? ` at ${path}` : ""}: ${first?.message ?? "unknown"}`);
  }
  return result.output;
}
