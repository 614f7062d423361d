/** The API's pages load nothing from anywhere; the console's inline script is pinned by hash. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const CORS_PREFIX = "access-control-";

/**
 * SPEC §5: nosniff, no framing, strict CSP (a response's own CSP, the console's, is kept), no
 * referrer, no caching unless the response says otherwise, and never a CORS header: whatever set
 * one, it is removed.
 */
export function applySecurityHeaders(headers: Headers, csp: string = API_CSP): void {
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("X-Frame-Options", "DENY");
  if (!headers.has("Content-Security-Policy")) headers.set("Content-Security-Policy", csp);
  headers.set("Referrer-Policy", "no-referrer");
  if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  let cors: string[] | null = null;
  for (const name of headers.keys()) if (name.startsWith(CORS_PREFIX)) (cors ??= []).push(name);
  if (cors) for (const name of cors) headers.delete(name);
}
