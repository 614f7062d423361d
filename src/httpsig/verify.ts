/**
 * Verifies an incoming request's RFC 9421 signature against icecore's profile (SPEC §5).
 *
 * Split in steps so the API middleware can put its own checks (client lookup, clock window,
 * replay) between them, in the order that gives each failure its SPEC code:
 *   parseSignature()        — RFC 9421 §3.2 steps 1–4: fields present, well-formed, profile met
 *   checkFreshness()        — RFC 9421 §3.2.1 / §7.2.2: `created` (and `expires`) against the clock
 *   verifyParsedSignature() — RFC 9421 §3.2 steps 5–8 + RFC 9530: digest, base, ECDSA
 * verifyRequest() runs them all for callers that have no registry of their own.
 */
import { parseDictionary, serializeInnerList, type Dictionary, type InnerList } from "structured-headers";
import { ALGORITHM, verifyBase } from "./algorithm.ts";
import { checkContentDigest } from "./content-digest.ts";
import {
  CONTENT_DIGEST,
  METHOD,
  SUPPORTED_COMPONENTS,
  SignatureBaseError,
  TARGET_URI,
  buildSignatureBase,
  targetUriOf,
} from "./signature-base.ts";

/** Maps 1:1 to SPEC §5 codes signature_missing, signature_invalid, stale. */
export type SignatureFailureKind = "missing" | "invalid" | "stale";

/** The typed failure every step throws. `reason` is for logs and problem details, never a secret. */
export class SignatureFailure extends Error {
  constructor(
    readonly kind: SignatureFailureKind,
    readonly reason: string,
  ) {
    super(reason);
    this.name = "SignatureFailure";
  }
}

/** RFC 9421 §2.3 parameters icecore accepts; anything else is refused rather than silently signed over. */
const KNOWN_PARAMS = new Set(["created", "expires", "nonce", "alg", "keyid", "tag"]);
/** Bounds that keep the replay cache's memory per entry small (src/api/replay-cache.ts). */
export const NONCE_MIN_LENGTH = 8;
export const NONCE_MAX_LENGTH = 128;
export const KEYID_MAX_LENGTH = 128;

export interface SignatureParameters {
  created: number;
  /** RFC 9421 §2.3: optional; without it the signature value is the replay key (SPEC §5). */
  nonce?: string;
  keyid: string;
  /** RFC 9421 §2.3: optional; the registered key fixes the algorithm. Present, it must be ours. */
  alg?: string;
  expires?: number;
  tag?: string;
}

export interface ParsedSignature {
  label: string;
  components: string[];
  params: SignatureParameters;
  /** RFC 9421 §2.3: the `@signature-params` value, re-serialised canonically from what was parsed. */
  signatureParams: string;
  signature: Uint8Array;
}

export interface IncomingMessage {
  method: string;
  url: string | URL;
  headers: Headers;
  /** Raw bytes as received; empty or absent when the request has no body. */
  body?: Uint8Array;
}

const invalid = (reason: string) => new SignatureFailure("invalid", reason);

function parseField(headers: Headers, name: string): Dictionary {
  try {
    return parseDictionary(headers.get(name)!);
  } catch {
    throw invalid(`${name} is not a valid structured-field Dictionary (RFC 8941 §3.2)`);
  }
}

/**
 * RFC 9421 §3.2 steps 1–4 plus SPEC §5's profile:
 * - both fields present (else `missing`), each a Dictionary with exactly one, matching label;
 * - Signature-Input's member is an Inner List of plain sf-strings, Signature's a Byte Sequence;
 * - covered components ⊆ {@method, @target-uri, content-digest}, with @method and @target-uri
 *   always, content-digest whenever there is a body (RFC 9421 §7.2.8: the body is otherwise unsigned);
 * - `keyid` and `created` present; `alg` and `nonce` optional (RFC 9421 §2.3, so maintained
 *   implementations interoperate with their defaults), but `alg`, when present, exactly
 *   ecdsa-p256-sha256 (RFC 9421 §7.3.6: the message never picks the algorithm; the key does).
 */
export function parseSignature(headers: Headers, opts: { hasBody: boolean }): ParsedSignature {
  if (!headers.has("signature-input") || !headers.has("signature")) {
    throw new SignatureFailure("missing", "the request carries no Signature-Input and Signature fields");
  }
  const inputs = parseField(headers, "signature-input");
  const signatures = parseField(headers, "signature");
  if (inputs.size !== 1 || signatures.size !== 1) throw invalid("exactly one signature is expected");
  const [label, member] = [...inputs][0]!;
  const sigMember = signatures.get(label);
  if (sigMember === undefined) throw invalid(`Signature has no member for label ${JSON.stringify(label)}`);

  const [items, rawParams] = member;
  if (!Array.isArray(items)) throw invalid("the Signature-Input member is not an Inner List (RFC 9421 §4.1)");
  const inner = member as InnerList;

  const components: string[] = [];
  for (const [id, itemParams] of inner[0]) {
    if (typeof id !== "string" || itemParams.size !== 0) throw invalid("covered components must be plain sf-strings");
    if (!SUPPORTED_COMPONENTS.includes(id)) throw invalid(`component ${JSON.stringify(id)} is not accepted`);
    if (components.includes(id)) throw invalid(`component ${JSON.stringify(id)} is covered twice`);
    components.push(id);
  }
  for (const required of opts.hasBody ? [METHOD, TARGET_URI, CONTENT_DIGEST] : [METHOD, TARGET_URI]) {
    if (!components.includes(required)) throw invalid(`the signature does not cover ${JSON.stringify(required)}`);
  }

  for (const key of rawParams.keys()) if (!KNOWN_PARAMS.has(key)) throw invalid(`unknown signature parameter ${JSON.stringify(key)}`);
  const created = rawParams.get("created");
  const expires = rawParams.get("expires");
  const nonce = rawParams.get("nonce");
  const keyid = rawParams.get("keyid");
  const alg = rawParams.get("alg");
  const tag = rawParams.get("tag");
  if (typeof created !== "number" || !Number.isSafeInteger(created)) throw invalid("`created` must be an Integer");
  if (expires !== undefined && (typeof expires !== "number" || !Number.isSafeInteger(expires))) throw invalid("`expires` must be an Integer");
  if (nonce !== undefined && (typeof nonce !== "string" || nonce.length < NONCE_MIN_LENGTH || nonce.length > NONCE_MAX_LENGTH)) {
    throw invalid(`\`nonce\` must be a String of ${NONCE_MIN_LENGTH}–${NONCE_MAX_LENGTH} characters`);
  }
  if (typeof keyid !== "string" || keyid.length === 0 || keyid.length > KEYID_MAX_LENGTH) throw invalid("`keyid` must be a non-empty String");
  if (alg !== undefined && alg !== ALGORITHM) throw invalid(`\`alg\` must be the String "${ALGORITHM}" when present`);
  if (tag !== undefined && typeof tag !== "string") throw invalid("`tag` must be a String");

  const [sigValue, sigParams] = sigMember;
  if (Array.isArray(sigValue) || !(sigValue instanceof ArrayBuffer) || sigParams.size !== 0) {
    throw invalid("the Signature member must be a Byte Sequence (RFC 9421 §4.2)");
  }

  const params: SignatureParameters = { created, keyid };
  if (nonce !== undefined) params.nonce = nonce as string;
  if (alg !== undefined) params.alg = alg as string;
  if (expires !== undefined) params.expires = expires as number;
  if (tag !== undefined) params.tag = tag as string;
  return { label, components, params, signatureParams: serializeInnerList(inner), signature: new Uint8Array(sigValue) };
}

/**
 * RFC 9421 §3.2.1 leaves freshness to the application; SPEC §5 refuses `created` more than the
 * window from now in EITHER direction (a future `created` would stretch a captured request's life).
 * An `expires` in the past is refused too (RFC 9421 §2.3).
 */
export function checkFreshness(params: SignatureParameters, nowMs: number, windowSeconds: number): void {
  const nowSeconds = nowMs / 1000;
  if (Math.abs(nowSeconds - params.created) > windowSeconds) {
    throw new SignatureFailure("stale", `created is ${Math.round(nowSeconds - params.created)} s from the server's clock; the window is ±${windowSeconds} s`);
  }
  if (params.expires !== undefined && params.expires < nowSeconds) throw new SignatureFailure("stale", "the signature has expired");
}

/**
 * RFC 9421 §3.2 steps 5–8: rebuild the base from the message AS RECEIVED (the verifier's own view
 * of method, target URI and Content-Digest), check the digest against the raw bytes (RFC 9530 §2),
 * then the ECDSA signature (RFC 9421 §3.3.4).
 */
export async function verifyParsedSignature(parsed: ParsedSignature, message: IncomingMessage, publicKey: CryptoKey): Promise<void> {
  const body = message.body ?? new Uint8Array(0);
  if (parsed.components.includes(CONTENT_DIGEST)) {
    const field = message.headers.get(CONTENT_DIGEST);
    if (field === null) throw invalid("content-digest is covered but the field is absent");
    const check = await checkContentDigest(field, body);
    if (check !== "ok") throw invalid(`Content-Digest check failed: ${check}`);
  }
  let base: string;
  try {
    base = buildSignatureBase(
      parsed.components,
      { method: message.method, targetUri: targetUriOf(message.url), headers: message.headers },
      parsed.signatureParams,
    );
  } catch (e) {
    if (e instanceof SignatureBaseError) throw invalid(e.message);
    throw e;
  }
  if (!(await verifyBase(publicKey, base, parsed.signature))) throw invalid("the signature does not verify");
}

export interface VerifyRequestOptions {
  /** Resolve `keyid` to the signer's public key; throw to refuse (an unknown key, say). */
  resolveKey: (keyId: string, params: SignatureParameters) => Promise<CryptoKey> | CryptoKey;
  windowSeconds?: number;
  now?: () => number;
}

export interface VerifiedSignature {
  label: string;
  keyId: string;
  params: SignatureParameters;
  components: string[];
}

/** All steps in order. Returns who signed and with what parameters, or throws SignatureFailure. */
export async function verifyRequest(message: IncomingMessage, opts: VerifyRequestOptions): Promise<VerifiedSignature> {
  const parsed = parseSignature(message.headers, { hasBody: (message.body?.length ?? 0) > 0 });
  const key = await opts.resolveKey(parsed.params.keyid, parsed.params);
  checkFreshness(parsed.params, (opts.now ?? Date.now)(), opts.windowSeconds ?? 60);
  await verifyParsedSignature(parsed, message, key);
  return { label: parsed.label, keyId: parsed.params.keyid, params: parsed.params, components: parsed.components };
}
