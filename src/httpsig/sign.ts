/**
 * Signs an outgoing request the way SPEC §5 requires: RFC 9421 signature `sig1` over
 * `"@method" "@target-uri"` (+ `"content-digest"` when there is a body, RFC 9530), with the
 * parameters `created`, `nonce`, `keyid`, `alg`.
 */
import { serializeDictionary, type InnerList, type Parameters } from "structured-headers";
import { ALGORITHM, signBase } from "./algorithm.ts";
import { createContentDigest } from "./content-digest.ts";
import {
  CONTENT_DIGEST,
  METHOD,
  TARGET_URI,
  buildSignatureBase,
  normaliseMethod,
  serializeSignatureParams,
  targetUriOf,
} from "./signature-base.ts";

/** SPEC §5 names one signature per request; RFC 9421 §4.1 lets the label be anything, we pick `sig1`. */
export const SIGNATURE_LABEL = "sig1";

export interface SignRequestInput {
  method: string;
  url: string | URL;
  /** Headers the request will carry; only consulted to refuse a conflicting Content-Digest. */
  headers?: ConstructorParameters<typeof Headers>[0];
  /** The exact bytes that will be sent (for a JWE body: the compact serialization's bytes). */
  body?: Uint8Array;
  /** ECDSA P-256 private key with the "sign" usage. */
  key: CryptoKey;
  /** SPEC §5: the client_id. */
  keyId: string;
  /** RFC 9421 §2.3 `created`, integer seconds since the epoch; defaults to now. */
  created?: number;
  /** RFC 9421 §2.3 `nonce`; defaults to 16 random bytes, base64url. */
  nonce?: string;
}

/** Headers to add to the request, named as they go on the wire. */
export interface SignatureHeaders {
  "Signature-Input": string;
  Signature: string;
  "Content-Digest"?: string;
}

export function randomNonce(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
}

export async function signRequest(input: SignRequestInput): Promise<SignatureHeaders> {
  const hasBody = input.body !== undefined && input.body.length > 0;
  const headers = new Headers(input.headers);
  const out: SignatureHeaders = { "Signature-Input": "", Signature: "" };

  if (hasBody) {
    const digest = await createContentDigest(input.body!);
    const existing = headers.get(CONTENT_DIGEST);
    if (existing !== null && existing !== digest) throw new Error("the request already carries a different Content-Digest");
    headers.set(CONTENT_DIGEST, digest);
    out["Content-Digest"] = digest;
  }

  const components = hasBody ? [METHOD, TARGET_URI, CONTENT_DIGEST] : [METHOD, TARGET_URI];
  const created = input.created ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(created)) throw new RangeError("created must be an integer number of seconds");
  // RFC 9421 §2.3: created is an Integer, nonce/keyid/alg are Strings. Insertion order is
  // serialisation order, and the verifier re-serialises the parsed order, so any order works;
  // this one is fixed for readability.
  const params: Parameters = new Map<string, string | number>([
    ["created", created],
    ["nonce", input.nonce ?? randomNonce()],
    ["keyid", input.keyId],
    ["alg", ALGORITHM],
  ]);
  const signatureParams = serializeSignatureParams(components, params);
  const inner: InnerList = [components.map((c) => [c, new Map()]), params];
  const base = buildSignatureBase(
    components,
    { method: normaliseMethod(input.method), targetUri: targetUriOf(input.url), headers },
    signatureParams,
  );
  const signature = await signBase(input.key, base);

  // RFC 9421 §4.1 / §4.2: both fields are Dictionaries keyed by the label; Signature's value is a
  // Byte Sequence. The Signature-Input member is the very inner list that was signed.
  out["Signature-Input"] = serializeDictionary(new Map([[SIGNATURE_LABEL, inner]]));
  out.Signature = serializeDictionary(new Map([[SIGNATURE_LABEL, [signature, new Map()]]]));
  return out;
}
