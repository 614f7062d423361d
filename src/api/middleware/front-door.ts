/**
 * What every request meets, in one middleware layer (SPEC §2, §5, §6), in this order:
 *   1. Host is one of ours (hostRefusal → 421), then Origin/Referer (originRefusal → 403);
 *   2. the request goes on to its route, whose own checks (body, signature, validation) and
 *      handler answer it, or throw what the app's error handler renders;
 *   3. a refused command or job cancel is audited (auditRefusal), with the status it got;
 *   4. the security headers go on whatever answer it is (applySecurityHeaders);
 *   5. the `request` line is logged (logRequest).
 * One layer instead of five: each `await next()` layer costs about a microsecond per request,
 * more than most of these checks do (docs/performance.md). A refusal in step 1 is answered here,
 * rendered by the app's error handler exactly as if it had been thrown, so steps 3–5 see it as
 * they see any other refusal.
 */
import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import type { AuditLog } from "../../audit/audit-log.ts";
import type { Logger } from "../../log/logger.ts";
import { allowedHosts, hostRefusal } from "./host-check.ts";
import { originRefusal } from "./origin-check.ts";
import { auditRefusal } from "./refusal-audit.ts";
import { applySecurityHeaders } from "./security-headers.ts";
import { logRequest } from "./request-log.ts";

export interface FrontDoorOptions {
  port: number;
  logger: Logger;
  audit: Pick<AuditLog, "note">;
  /** The app's error handler, which renders a refusal of step 1. */
  onError: ErrorHandler;
}

export function frontDoor(options: FrontDoorOptions): MiddlewareHandler {
  const { logger, audit, onError } = options;
  const allowed = allowedHosts(options.port);
  return async (c: Context, next) => {
    const started = performance.now();
    try {
      const headers = c.req.raw.headers;
      const host = headers.get("host") ?? undefined;
      const refusal = hostRefusal(host, allowed) ?? originRefusal(host!, headers.get("origin") ?? undefined, headers.get("referer") ?? undefined);
      if (refusal) {
        // What Hono's compose does with a middleware's throw: the error on the context, the
        // error handler's answer as the response.
        c.error = refusal;
        c.res = await onError(refusal, c);
      } else {
        await next();
      }
      auditRefusal(audit, logger, c);
      applySecurityHeaders(c.res.headers);
    } finally {
      logRequest(logger, c, started);
    }
  };
}
