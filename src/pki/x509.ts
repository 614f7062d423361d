// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which throws at import time
// unless the Reflect metadata polyfill is loaded first (PLATFORM-NOTES, "X.509").
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

export { x509 };
