import type { MiddlewareHandler } from "hono";

/** The API's pages load nothing from anywhere; the console's inline script is pinned by hash. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** SPEC §5: nosniff, no framing, strict CSP, and never a CORS header. */
export function securityHeaders(options: { csp?: string } = {}): MiddlewareHandler {
  const csp = options.csp ?? API_CSP;
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set("X-Content-Type-Options", "nosniff");
    headers.set("X-Frame-Options", "DENY");
    if (!headers.has("Content-Security-Policy")) headers.set("Content-Security-Policy", csp);
    headers.set("Referrer-Policy", "no-referrer");
    headers.set("Cache-Control", headers.get("Cache-Control") ?? "no-store");
    for (const name of [...headers.keys()]) {
      if (name.startsWith("access-control-")) headers.delete(name);
    }
  };
}
