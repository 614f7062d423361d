import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../log/logger.ts";
import type { ApiEnv } from "../context.ts";

/** SPEC §2 `request` event: method, path (never the query, which may carry data), status, ms, client_id. */
export function requestLog(logger: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      logger.event("request", {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Number((performance.now() - started).toFixed(2)),
        client_id: c.get("clientId") ?? null,
      });
    }
  };
}
