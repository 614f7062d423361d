/**
 * The Core API (SPEC §5), composed in the order a request meets the checks. The checks every
 * request meets (Host, Origin, headers, the request log) are mounted here; the per-route ones
 * (body, signature, validation) on the routes they protect (routes/*, request-checks.ts). The
 * chain's type is AppType, from which the SDK's client is typed (src/client/core-client.ts).
 */
import { Hono } from "hono";
import * as v from "valibot";
import type { Logger } from "../log/logger.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { CommandService } from "../commands/index.ts";
import type { IdentityService } from "../identity/service.ts";
import { frontDoor } from "./middleware/front-door.ts";
import { problemErrorHandler, problemNotFound } from "./middleware/problem-handler.ts";
import { requestChecks, type RequestChecks } from "./request-checks.ts";
import type { ReplayCache } from "./replay-cache.ts";
import { healthRoutes } from "./routes/health.ts";
import { infoRoutes } from "./routes/info.ts";
import { commandRoutes, perCommandRoutes } from "./routes/commands.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { eventRoutes } from "./routes/events.ts";
import { identityRoutes } from "./routes/identity.ts";
import { auditRoutes } from "./routes/audit.ts";
import { openApiRoutes } from "./routes/openapi.ts";
import { consoleRoutes, type ConsoleAsset } from "./routes/console.ts";

export interface AppOptions {
  port: number;
  apiUrl: () => string;
  logger: Logger;
  audit: Pick<AuditLog, "note" | "recent">;
  identity: IdentityService;
  commands: CommandService;
  /** The ECDH-ES private key for application/jose bodies (never leaves the process). */
  serverKey: CryptoKey;
  caCertPem: string;
  consoleAssets?: ReadonlyMap<string, ConsoleAsset>;
  replayCache?: ReplayCache;
  /** SSE comment heartbeat (SPEC §5: every 5 s); shorter in tests. */
  heartbeatMs?: number;
  now?: () => number;
}

// valibot stops at the first failing action of a pipe: a 64 KiB string is refused by its length
// before any pattern runs over it (src/commands/argv-builder.ts).
v.setGlobalConfig({ abortPipeEarly: true });

/** Which app compose() builds: the served one, or the one the OpenAPI document is generated from. */
interface Variant {
  /** Also declare each command at its own path (routes/commands.ts says why only the document app does). */
  declareEachCommand: boolean;
  /** The app GET /v1/openapi.json documents. */
  documented: () => Hono<any, any, any>;
}

function compose(options: AppOptions, checks: RequestChecks, variant: Variant) {
  const { identity, commands: service, heartbeatMs } = options;
  return new Hono()
    // Host, Origin, the refusal audit, the security headers and the request log, in one layer.
    .use(frontDoor({ port: options.port, logger: options.logger, audit: options.audit, onError: problemErrorHandler(options.logger) }))
    .route("/", healthRoutes())
    .route("/", infoRoutes({ apiUrl: options.apiUrl, identity, checks }))
    .route("/", perCommandRoutes({ service, checks, declare: variant.declareEachCommand }))
    .route("/", commandRoutes({ service, checks }))
    .route("/", jobRoutes({ service, checks, ...(heartbeatMs ? { heartbeatMs } : {}) }))
    .route("/", eventRoutes({ identity, checks, ...(heartbeatMs ? { heartbeatMs } : {}) }))
    .route("/", identityRoutes({ identity, caCertPem: options.caCertPem, checks }))
    .route("/", auditRoutes({ audit: options.audit, checks }))
    .route("/", consoleRoutes({ assets: options.consoleAssets ?? new Map() }))
    .route("/", openApiRoutes({ apiUrl: options.apiUrl, app: variant.documented }));
}

export type AppType = ReturnType<typeof compose>;

export interface CoreApp {
  app: AppType;
  replayCache: ReplayCache;
}

export function createApp(options: AppOptions): CoreApp {
  const checks = requestChecks({ identities: options.identity.registry, serverKey: options.serverKey, ...(options.replayCache ? { replayCache: options.replayCache } : {}), ...(options.now ? { now: options.now } : {}) });
  // The document describes the whole API, itself included; its app is built on the first request
  // for it, never to serve.
  let documented: Hono<any, any, any> | null = null;
  const documentApp = (): Hono<any, any, any> => {
    if (documented === null) {
      const variant: Variant = { declareEachCommand: true, documented: () => documented! };
      documented = compose(options, checks, variant);
    }
    return documented;
  };
  const app = compose(options, checks, { declareEachCommand: false, documented: documentApp });
  app.onError(problemErrorHandler(options.logger));
  app.notFound(problemNotFound(() => app.routes));
  return { app, replayCache: checks.replayCache };
}
