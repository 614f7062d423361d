import type { Context } from "hono";
import type { Logger } from "../../log/logger.ts";
import type { SignatureVariables } from "./signature.ts";

/** SPEC §2 `request` event: method, path (never the query, which may carry data), status, ms, client_id. */
export function logRequest(logger: Logger, c: Context<{ Variables: Partial<SignatureVariables> }>, startedMs: number): void {
  logger.request(c.req.method, c.req.path, c.res.status, Math.round((performance.now() - startedMs) * 100) / 100, c.get("caller")?.clientId ?? null);
}
