/**
 * @peculiar/x509, for tests that inspect what icecore mints (src/pki builds certificates with
 * @peculiar/asn1-x509 directly and never loads this library at run time). tsyringe, which it
 * uses, throws at import time unless the Reflect metadata polyfill is loaded first
 * (PLATFORM-NOTES, "X.509").
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

/** A minted certificate (its `certDer`), parsed. */
export function parsedCertificate(minted: { certDer: Uint8Array }): x509.X509Certificate {
  return new x509.X509Certificate(minted.certDer);
}

export { x509 };
