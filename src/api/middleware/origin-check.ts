import type { MiddlewareHandler } from "hono";
import { ProblemError } from "../problem.ts";

/**
 * SPEC §5: a request whose Origin or Referer names anything but the API's own origin is refused
 * (CSRF from pages the browser child may load). Runs after hostCheck, so Host is one of ours.
 */
export function originCheck(): MiddlewareHandler {
  return async (c, next) => {
    const own = `https://${c.req.header("host")!.toLowerCase()}`;
    const origin = c.req.header("origin");
    const referer = c.req.header("referer");
    if (origin !== undefined && origin.toLowerCase() !== own) {
      throw new ProblemError(403, "foreign_origin", "Forbidden", "requests from other origins are refused");
    }
    if (referer !== undefined && originOf(referer) !== own) {
      throw new ProblemError(403, "foreign_origin", "Forbidden", "requests referred by other origins are refused");
    }
    await next();
  };
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin.toLowerCase();
  } catch {
    return null;
  }
}
