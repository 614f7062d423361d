/**
 * The Core API, composed in the order a request meets the checks (SPEC §5). Each check is a
 * small middleware factory in ./middleware; this file only decides the order.
 */
import { Hono } from "hono";
import type { Logger } from "../log/logger.ts";
import type { ApiEnv } from "./context.ts";
import type { ClientRegistry } from "./client-registry.ts";
import { ReplayCache } from "./replay-cache.ts";
import { hostCheck } from "./middleware/host-check.ts";
import { originCheck } from "./middleware/origin-check.ts";
import { securityHeaders } from "./middleware/security-headers.ts";
import { requestLog } from "./middleware/request-log.ts";
import { handoffGate } from "./middleware/handoff-gate.ts";
import { readBody } from "./middleware/body.ts";
import { refusalAudit } from "./middleware/refusal-audit.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import { verifySignature } from "./middleware/signature.ts";
import { decodeBody } from "./middleware/jwe-body.ts";
import { problemErrorHandler, problemNotFound } from "./middleware/problem-handler.ts";
import { healthRoutes } from "./routes/health.ts";
import { infoRoutes, type InfoSource } from "./routes/info.ts";

export interface AppOptions {
  port: number;
  logger: Logger;
  info: InfoSource;
  isReady: () => boolean;
  /** Issued client certificates: who may sign (SPEC §3, §5). */
  registry: ClientRegistry;
  /** The ECDH-ES private key for application/jose bodies (never leaves the process). */
  serverKey: CryptoKey;
  replayCache?: ReplayCache;
  /** Refusals of command and cancel attempts by the checks are audited too (SPEC §6). */
  audit: Pick<AuditLog, "record">;
  /** Further routes (commands, jobs), mounted after every check. */
  routes?: Hono<ApiEnv>[];
}

export function createApp(options: AppOptions): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.onError(problemErrorHandler(options.logger));
  app.notFound(problemNotFound);
  app.use(requestLog(options.logger));
  app.use(securityHeaders());
  app.use(refusalAudit(options.audit));
  app.use(hostCheck({ port: options.port }));
  app.use(originCheck());
  app.use(handoffGate(options.isReady));
  // Bounded read first (the digest needs the exact bytes), then who is calling, and only then
  // is anything decrypted or parsed.
  app.use(readBody());
  app.use(verifySignature({ registry: options.registry, replayCache: options.replayCache ?? new ReplayCache() }));
  app.use(decodeBody({ serverKey: options.serverKey }));
  app.route("/", healthRoutes());
  app.route("/", infoRoutes(options.info));
  for (const routes of options.routes ?? []) app.route("/", routes);
  return app;
}
