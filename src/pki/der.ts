/**
 * The DER (ITU-T X.690 §10) that icecore's one certificate profile needs, and nothing more:
 * definite lengths, SEQUENCE/SET, INTEGER, BOOLEAN, OBJECT IDENTIFIER, BIT/OCTET STRING, three
 * string types, UTCTime/GeneralizedTime, context tags. Encoding only: icecore never parses DER.
 *
 * Why not @peculiar/asn1-schema (which wrote these bytes before): its schema classes run in
 * JavaScriptCore's interpreter at start-up (icecore's code runs once there, docs/performance.md),
 * and building the CA, server and client certificates through them cost ≈ 7 ms of the ≈ 24 ms
 * to api_ready, plus ≈ 1.3 ms to load the packages. test/pki/der-equivalence.test.ts proves
 * that every certificate icecore mints is, byte for byte, what @peculiar/asn1-x509 encodes for
 * the same fields (randomised, every profile and override), and openssl parses each.
 */
export type Der = Uint8Array<ArrayBuffer>;

/** X.690 §8.1.3: short form below 128, else long form (0x80 | number of length octets). */
function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return [0x80 | octets.length, ...octets];
}

/** One tag-length-value, the contents being the concatenation of `parts`. */
export function tlv(tag: number, ...parts: readonly Uint8Array[]): Der {
  let size = 0;
  for (const part of parts) size += part.length;
  const head = lengthOctets(size);
  const out = new Uint8Array(1 + head.length + size);
  out[0] = tag;
  out.set(head, 1);
  let at = 1 + head.length;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const sequence = (...parts: readonly Der[]): Der => tlv(0x30, ...parts);
/** A SET with one element (every SET icecore writes: DER's sort of elements is moot). */
export const setOfOne = (element: Der): Der => tlv(0x31, element);

/** X.690 §11.1: TRUE is 0xFF in DER. */
export const boolean = (value: boolean): Der => tlv(0x01, Uint8Array.of(value ? 0xff : 0x00));

/**
 * X.690 §8.3: a non-negative INTEGER from its big-endian magnitude, in the fewest octets: leading
 * zero octets dropped, one 0x00 put back when the first bit would read as a sign.
 */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return (trimmed[0] ?? 0) & 0x80 ? tlv(0x02, Uint8Array.of(0), trimmed) : tlv(0x02, trimmed.length === 0 ? Uint8Array.of(0) : trimmed);
}

export const smallInteger = (value: number): Der => unsignedInteger(Uint8Array.of(value));

/** X.690 §8.19: the first two arcs as 40·a + b, every arc in base 128, high bit = "more". */
export function objectIdentifier(dotted: string): Der {
  const arcs = dotted.split(".").map(Number);
  const octets: number[] = [];
  const push = (arc: number) => {
    const groups = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) groups.unshift((rest & 0x7f) | 0x80);
    octets.push(...groups);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(0x06, Uint8Array.from(octets));
}

/** X.690 §8.6: a BIT STRING of whole octets (unused bits 0). */
export const bitString = (octets: Uint8Array): Der => tlv(0x03, Uint8Array.of(0), octets);

/**
 * X.690 §11.2.2 / RFC 5280 §4.2.1.3: a named-bit BIT STRING; bit i of `flags` is named bit i,
 * trailing zero bits dropped and counted as unused.
 */
export function namedBits(flags: number): Der {
  let highest = -1;
  for (let bit = 0; bit < 32; bit++) if (flags & (1 << bit)) highest = bit;
  if (highest < 0) return tlv(0x03, Uint8Array.of(0));
  const octets = new Uint8Array(Math.floor(highest / 8) + 1);
  for (let bit = 0; bit <= highest; bit++) if (flags & (1 << bit)) octets[bit >> 3] = (octets[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return tlv(0x03, Uint8Array.of(7 - (highest & 7)), octets);
}

export const octetString = (octets: Uint8Array): Der => tlv(0x04, octets);

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
/** X.680 §41.4: PrintableString's alphabet. */
export const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
export const printableString = (text: string): Der => tlv(0x13, ascii(text));
export const utf8String = (text: string): Der => tlv(0x0c, new TextEncoder().encode(text));
/** An IA5String's octets, for an IMPLICIT tag (RFC 5280 §4.2.1.6 dNSName); ASCII only. */
export const ia5Octets = (text: string): Uint8Array => ascii(text);

/** `[n]` EXPLICIT, constructed. */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** `[n]` IMPLICIT of a primitive type: the octets under a context tag. */
export const implicitPrimitive = (n: number, octets: Uint8Array): Der => tlv(0x80 | n, octets);

const two = (n: number) => String(n).padStart(2, "0");

/**
 * RFC 5280 §4.1.2.5: UTCTime (YYMMDDHHMMSSZ) for 1950–2049, GeneralizedTime (YYYYMMDDHHMMSSZ)
 * otherwise; seconds always present, no fractions (a Date's milliseconds are dropped).
 */
export function time(date: Date): Der {
  const year = date.getUTCFullYear();
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year >= 1950 && year < 2050 ? tlv(0x17, ascii(`${two(year % 100)}${rest}`)) : tlv(0x18, ascii(`${String(year).padStart(4, "0")}${rest}`));
}
