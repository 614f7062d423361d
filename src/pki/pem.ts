/**
 * RFC 7468 textual encoding: `-----BEGIN <label>-----`, the DER in base64 at 64 characters a
 * line, `-----END <label>-----` (no trailing newline, as @peculiar/x509's PemConverter wrote it).
 * Returned as bytes so callers can zero a key's PEM when done (SPEC §4.6).
 */
const LINE = 64;

function pemOf(der: Uint8Array, label: string): Uint8Array {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += LINE) lines.push(base64.slice(i, i + LINE));
  return new TextEncoder().encode(`-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----`);
}

/** PEM text of a PKCS#8 key (RFC 5958), as bytes; the DER is zeroed once encoded. */
export async function privateKeyPem(key: CryptoKey): Promise<Uint8Array> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const pem = pemOf(der, "PRIVATE KEY");
  der.fill(0);
  return pem;
}

export function certificatePem(der: Uint8Array): Uint8Array {
  return pemOf(der, "CERTIFICATE");
}
