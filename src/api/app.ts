/**
 * The Core API, composed in the order a request meets the checks (SPEC §5). Each check is a
 * small middleware factory in ./middleware; this file only decides the order.
 */
import { Hono } from "hono";
import type { Logger } from "../log/logger.ts";
import type { ApiEnv } from "./context.ts";
import { hostCheck } from "./middleware/host-check.ts";
import { originCheck } from "./middleware/origin-check.ts";
import { securityHeaders } from "./middleware/security-headers.ts";
import { requestLog } from "./middleware/request-log.ts";
import { handoffGate } from "./middleware/handoff-gate.ts";
import { problemErrorHandler, problemNotFound } from "./middleware/problem-handler.ts";
import { healthRoutes } from "./routes/health.ts";
import { infoRoutes, type InfoSource } from "./routes/info.ts";

export interface AppOptions {
  port: number;
  logger: Logger;
  info: InfoSource;
  isReady: () => boolean;
}

export function createApp(options: AppOptions): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.onError(problemErrorHandler(options.logger));
  app.notFound(problemNotFound);
  app.use(requestLog(options.logger));
  app.use(securityHeaders());
  app.use(hostCheck({ port: options.port }));
  app.use(originCheck());
  app.use(handoffGate(options.isReady));
  app.route("/", healthRoutes());
  app.route("/", infoRoutes(options.info));
  return app;
}
