/**
 * SPEC §3: `client_id` is the lowercase hex SHA-256 of the client certificate's DER. Bun's native
 * hasher, not node:crypto: loading that module costs ≈ 2 ms on the start-up path
 * (docs/performance.md), and nothing else there needs it.
 */
export function clientIdOf(certificateDer: ArrayBuffer | Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(new Uint8Array(certificateDer)).digest("hex");
}
