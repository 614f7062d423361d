/**
 * An INDEPENDENT RFC 9421 signature base, written from the RFC's text with plain string
 * concatenation. It deliberately imports nothing from src/httpsig (nor structured-headers), so a
 * mistake shared by icecore's signer and verifier cannot make both agree on a wrong base.
 *
 * RFC 9421 §2.5 (Creating the Signature Base), paraphrased:
 *   for each covered component, in order: the component identifier serialized as an sf-string
 *   (RFC 8941 §4.1.6: wrapped in DQUOTE, with "\" and DQUOTE escaped by "\"), then ":", then a
 *   single space, then the component value, then a single LF;
 *   finally the identifier "@signature-params" (same serialization), ":", a space, and the
 *   signature parameters value — with NO trailing LF.
 * RFC 9421 §2.3: the signature parameters value is an Inner List (RFC 8941 §4.1.1.1): "(" then the
 * component identifiers as sf-strings separated by single spaces, then ")", then each parameter as
 * ";" key "=" value; Integers as decimal (§4.1.4), Strings as sf-strings.
 * RFC 9530 §2 with RFC 8941 §4.1.8: Content-Digest is `sha-256=:` base64(SHA-256(body)) `:`.
 */
import { createHash } from "node:crypto";

/** RFC 8941 §4.1.6. */
export function sfString(value: string): string {
  let out = '"';
  for (const ch of value) {
    if (ch === "\\" || ch === '"') out += "\\";
    out += ch;
  }
  return out + '"';
}

export type IndependentParam = readonly [name: string, value: string | number];

/** RFC 9421 §2.3 @signature-params value, from an ordered list of components and parameters. */
export function independentSignatureParams(components: readonly string[], params: readonly IndependentParam[]): string {
  let out = "(" + components.map(sfString).join(" ") + ")";
  for (const [name, value] of params) out += ";" + name + "=" + (typeof value === "number" ? String(value) : sfString(value));
  return out;
}

/** RFC 9421 §2.5 from already-derived component values. */
export function independentBaseFromLines(lines: ReadonlyArray<readonly [string, string]>, signatureParams: string): string {
  let base = "";
  for (const [id, value] of lines) base += sfString(id) + ": " + value + "\n";
  return base + sfString("@signature-params") + ": " + signatureParams;
}

/** RFC 9530: computed with node:crypto, not WebCrypto, to stay apart from src/httpsig. */
export function independentContentDigest(body: Uint8Array): string {
  return "sha-256=:" + createHash("sha256").update(body).digest("base64") + ":";
}

export interface IndependentRequest {
  method: string;
  /** Must already be in canonical form (what `new URL(x).href` gives, no fragment). */
  targetUri: string;
  body?: Uint8Array;
}

/**
 * The whole of SPEC §5's profile: components "@method" "@target-uri" (+ "content-digest" when a
 * body), parameters created, nonce, keyid, alg — in the order src/httpsig/sign.ts documents.
 */
export function independentRequestBase(
  req: IndependentRequest,
  p: { created: number; nonce: string; keyid: string; alg: string },
): { base: string; signatureParams: string; contentDigest?: string; components: string[] } {
  const hasBody = req.body !== undefined && req.body.length > 0;
  const components = hasBody ? ["@method", "@target-uri", "content-digest"] : ["@method", "@target-uri"];
  const signatureParams = independentSignatureParams(components, [
    ["created", p.created],
    ["nonce", p.nonce],
    ["keyid", p.keyid],
    ["alg", p.alg],
  ]);
  const lines: Array<[string, string]> = [
    ["@method", req.method],
    ["@target-uri", req.targetUri],
  ];
  let contentDigest: string | undefined;
  if (hasBody) {
    contentDigest = independentContentDigest(req.body!);
    lines.push(["content-digest", contentDigest]);
  }
  return { base: independentBaseFromLines(lines, signatureParams), signatureParams, components, ...(contentDigest ? { contentDigest } : {}) };
}

/** Signs a base with WebCrypto ECDSA P-256/SHA-256 (r||s) and renders `Signature: <label>=:b64:`. */
export async function independentSign(privateKey: CryptoKey, base: string): Promise<string> {
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, new TextEncoder().encode(base));
  return Buffer.from(sig).toString("base64");
}
