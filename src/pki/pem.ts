import { x509 } from "./x509.ts";

const PKCS8_LABEL = "PRIVATE KEY";

/** PEM text of a PKCS#8 key, as bytes, so callers can zero it when done (SPEC §4.6). */
export async function privateKeyPem(key: CryptoKey): Promise<Uint8Array> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  const pem = new TextEncoder().encode(x509.PemConverter.encode(der, PKCS8_LABEL));
  new Uint8Array(der).fill(0);
  return pem;
}

export function certificatePem(cert: x509.X509Certificate): Uint8Array {
  return new TextEncoder().encode(cert.toString("pem"));
}
