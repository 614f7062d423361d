import { ProblemError } from "../problem.ts";

/**
 * SPEC §5: a request whose Origin or Referer names anything but the API's own origin is refused
 * (CSRF from pages the browser child may load). Checked after the Host (hostRefusal), so `host`
 * is one of ours. Null when neither field names another origin.
 */
export function originRefusal(host: string, origin: string | undefined, referer: string | undefined): ProblemError | null {
  if (origin === undefined && referer === undefined) return null;
  const own = `https://${host.toLowerCase()}`;
  if (origin !== undefined && origin.toLowerCase() !== own) {
    return new ProblemError(403, "foreign_origin", "Forbidden", "requests from other origins are refused");
  }
  if (referer !== undefined && originOf(referer) !== own) {
    return new ProblemError(403, "foreign_origin", "Forbidden", "requests referred by other origins are refused");
  }
  return null;
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin.toLowerCase();
  } catch {
    return null;
  }
}
