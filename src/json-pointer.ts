/** RFC 6901 §3: a JSON Pointer from reference tokens, "~" as "~0" and "/" as "~1". */
export function jsonPointer(tokens: readonly string[]): string {
  return tokens.map((token) => "/" + token.replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}
