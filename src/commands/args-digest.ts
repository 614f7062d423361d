/**
 * SPEC §6: an audit record carries a SHA-256 of the args, never the args themselves (they may
 * name files, packages or devices the user would not want in a log). Hashed with Bun's native
 * hasher: node:crypto would be loaded on the start-up path for this alone (docs/performance.md).
 */
/** Canonical JSON: object keys sorted at every level (RFC 8785-style), so equal args hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

export function argsSha256(args: unknown): string | null {
  try {
    return new Bun.CryptoHasher("sha256").update(canonicalJson(args)).digest("hex");
  } catch {
    return null; // nesting too deep to canonicalize; such a request is refused by validation anyway
  }
}
