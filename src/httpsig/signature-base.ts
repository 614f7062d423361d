/**
 * RFC 9421 §2.5 "Creating the Signature Base", for the components icecore's profile covers.
 *
 * Shared by the signer (src/httpsig/sign.ts) and the verifier (src/httpsig/verify.ts) so both
 * derive exactly the same bytes. A bug shared by both would go unnoticed by round-trip tests,
 * which is why test/httpsig/independent-base.ts rebuilds the base from the RFC's text alone.
 */
import { serializeInnerList, serializeItem, type Parameters } from "structured-headers";

/** SPEC §5: the components icecore signs. RFC 9421 §2.2.1 (@method), §2.2.2 (@target-uri), RFC 9530 field. */
export const METHOD = "@method";
export const TARGET_URI = "@target-uri";
export const CONTENT_DIGEST = "content-digest";
export const SUPPORTED_COMPONENTS: readonly string[] = [METHOD, TARGET_URI, CONTENT_DIGEST];

/** What the base is derived from: the request as the signer sends it or the verifier sees it. */
export interface MessageView {
  method: string;
  /** Already normalised with targetUriOf(). */
  targetUri: string;
  headers: Headers;
}

export class SignatureBaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SignatureBaseError";
  }
}

/**
 * RFC 9421 §2.2.2: `@target-uri` is the full target URI (RFC 9110 §7.1), which never carries a
 * fragment. Both sides run the URL through the WHATWG parser so scheme/host case, default ports,
 * dot segments and percent-encoding are normalised identically to what fetch puts on the wire
 * and what Bun.serve reconstructs as `request.url`.
 */
export function targetUriOf(url: string | URL): string {
  const u = new URL(url);
  u.hash = "";
  return u.href;
}

/**
 * RFC 9421 §2.2.1: `@method` is the method name as sent, case-sensitive, not normalised. fetch
 * (Fetch standard, "normalize a method") upper-cases these six before sending, so the signer does
 * the same, or a caller passing "post" would sign a value the server never sees.
 */
const FETCH_NORMALISED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
export function normaliseMethod(method: string): string {
  const upper = method.toUpperCase();
  return FETCH_NORMALISED.has(upper) ? upper : method;
}

/**
 * icecore's profile allows only visible US-ASCII in component values. RFC 9421 §2.5 forbids
 * newlines outright (they would forge extra base lines); the rest is our stricter choice, since
 * every value we cover (a method, a WHATWG-serialised URL, an RFC 9530 digest) is ASCII anyway.
 */
function assertPrintableAscii(what: string, value: string): void {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new SignatureBaseError(`${what} contains characters outside visible US-ASCII`);
}

/** RFC 9421 §2.1: a field's value is its combined values with leading and trailing SP/HTAB removed. */
function fieldValue(headers: Headers, name: string): string {
  const raw = headers.get(name);
  if (raw === null) throw new SignatureBaseError(`covered field "${name}" is absent from the message`);
  return raw.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** The component value for one covered component identifier (RFC 9421 §2.1, §2.2). */
export function componentValue(id: string, message: MessageView): string {
  switch (id) {
    case METHOD:
      return message.method;
    case TARGET_URI:
      return message.targetUri;
    case CONTENT_DIGEST:
      return fieldValue(message.headers, CONTENT_DIGEST);
    default:
      throw new SignatureBaseError(`component ${JSON.stringify(id)} is not part of icecore's signature profile`);
  }
}

/**
 * RFC 9421 §2.3: the `@signature-params` value is the covered components as an Inner List of
 * sf-strings (RFC 8941 §3.1.1) with the signature parameters attached, in the order given.
 * The same string is the value of the Signature-Input member (RFC 9421 §4.1), so the verifier
 * re-serialises what it parsed and gets the canonical form RFC 9421 §2.5 requires.
 */
export function serializeSignatureParams(components: readonly string[], params: Parameters): string {
  return serializeInnerList([components.map((c) => [c, new Map()]), params]);
}

/**
 * RFC 9421 §2.5, for already-derived values: one line per covered component,
 * `<sf-serialised identifier>: <value>\n`, then `"@signature-params": <params>` with no trailing
 * newline. Duplicated identifiers are an error (§2.5 step 2.1).
 */
export function signatureBaseFromValues(lines: ReadonlyArray<readonly [id: string, value: string]>, signatureParams: string): string {
  const seen = new Set<string>();
  let base = "";
  for (const [id, value] of lines) {
    if (seen.has(id)) throw new SignatureBaseError(`component ${JSON.stringify(id)} is covered twice`);
    seen.add(id);
    assertPrintableAscii(`component ${JSON.stringify(id)}`, value);
    // The identifier is an sf-string Item; serializeItem quotes and escapes it (RFC 8941 §4.1.6).
    base += `${serializeItem(id, new Map())}: ${value}\n`;
  }
  assertPrintableAscii("@signature-params", signatureParams);
  base += `${serializeItem("@signature-params", new Map())}: ${signatureParams}`;
  return base;
}

/** RFC 9421 §2.5 for icecore's components: derive each value from the message, then build the base. */
export function buildSignatureBase(components: readonly string[], message: MessageView, signatureParams: string): string {
  return signatureBaseFromValues(
    components.map((id) => [id, componentValue(id, message)] as const),
    signatureParams,
  );
}
