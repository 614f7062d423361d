/** Identifiers that must be unguessable (endpoint names, child_id, job ids): fresh random bytes, as lowercase hex. */
export function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}
