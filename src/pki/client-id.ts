import { createHash } from "node:crypto";

/** SPEC §3: `client_id` is the lowercase hex SHA-256 of the client certificate's DER. */
export function clientIdOf(certificateDer: ArrayBuffer | Uint8Array): string {
  return createHash("sha256").update(new Uint8Array(certificateDer)).digest("hex");
}
