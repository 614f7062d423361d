import type { MiddlewareHandler } from "hono";
import { ProblemError } from "../problem.ts";

/** SPEC §5: the port is bound before the child starts, but nothing is served before the handoff. */
export function handoffGate(isOpen: () => boolean): MiddlewareHandler {
  return async (_c, next) => {
    if (!isOpen()) {
      throw new ProblemError(503, "not_ready", "Service Unavailable", "the handoff has not completed", { headers: { "Retry-After": "1" } });
    }
    await next();
  };
}
