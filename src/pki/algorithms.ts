/** SPEC §3: every key icecore mints is ECDSA P-256, signatures SHA-256. */
export const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
export const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

/** RFC 5280 §4.1.2.2: positive, at most 20 octets. SPEC §3: 16 random bytes. */
export function randomSerial(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and never a leading zero octet
  return bytes;
}
