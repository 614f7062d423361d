import { createMiddleware } from "hono/factory";
import type { Logger } from "../../log/logger.ts";
import type { SignatureVariables } from "./signature.ts";

/** SPEC §2 `request` event: method, path (never the query, which may carry data), status, ms, client_id. */
export function requestLog(logger: Logger) {
  return createMiddleware<{ Variables: Partial<SignatureVariables> }>(async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      logger.event("request", {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Number((performance.now() - started).toFixed(2)),
        client_id: c.get("caller")?.clientId ?? null,
      });
    }
  });
}
