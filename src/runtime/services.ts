/**
 * The Core's long-lived parts, started in one call: the CA and the server's TLS identity, the
 * API port (bound, answering 503 until served), the identity service and jobs. The commands
 * (the catalogue, its schemas, CommandService) and the API app are imported and built by
 * `serveApi()`, after the first handoff (SPEC §5: nothing is served before it; and nothing the
 * handoff does not need is loaded before it).
 */
import { mintAuthority, mintServerIdentity, type CertificateAuthority } from "../pki/authority.ts";
import { listenTls, type ApiServer } from "../api/server.ts";
import { mintServerKey, type ServerKey } from "../api/server-key.ts";
import { JobManager } from "../commands/jobs.ts";
import type { Catalogue, CommandService, ElevateWith } from "../commands/index.ts";
import { IdentityService } from "../identity/service.ts";
import type { ConsoleAsset } from "../api/routes/console.ts";
import type { ReplayCache } from "../api/replay-cache.ts";
import type { Logger } from "../log/logger.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { BundleParts } from "../handoff/bundle.ts";

export interface CoreServicesOptions {
  port: number;
  certTtlMs: number;
  /** The allow-listed commands; absent: the built-in catalogue, built when the API is first served. */
  catalogue?: Catalogue;
  elevateWith: ElevateWith;
  logger: Logger;
  audit: AuditLog;
  /** SPEC §9 the console's files, or how to load them when the API is first served (off the start-up path). */
  consoleAssets?: ConsoleAssets;
  /** SSE heartbeat (SPEC §5: 5 s); tests shorten it. */
  heartbeatMs?: number;
  /** A job's SIGTERM → SIGKILL grace (SPEC §5: 5 s); tests shorten it. */
  killGraceMs?: number;
  /** The CA to issue from (tests pass one to build a second, rogue server). */
  ca?: CertificateAuthority;
  /** The platform's orphan guard for every command icecore starts (SPEC §7 "no orphans"). */
  orphanGuard?: readonly string[];
}

export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset> | (() => Promise<ReadonlyMap<string, ConsoleAsset>>);

export interface CoreServices {
  readonly ca: CertificateAuthority;
  readonly api: ApiServer;
  readonly identity: IdentityService;
  readonly jobs: JobManager;
  readonly serverKey: ServerKey;
  /** What every bundle carries besides the child's own certificate and key. */
  readonly bundle: Pick<BundleParts, "caCertPem" | "apiUrl" | "serverKey">;
  /** Import the app and serve it (idempotent); resolves once requests reach it. */
  serveApi(): Promise<void>;
  /** The app's replay cache, once served. */
  replayCache(): ReplayCache | null;
  /** SPEC §7: `shutdown` to every child stream, stop accepting, let requests finish (≤ 5 s), end jobs. */
  stop(reason: string, graceMs?: number): Promise<void>;
}

export async function startCoreServices(options: CoreServicesOptions): Promise<CoreServices> {
  const { logger, audit } = options;
  const ca = options.ca ?? (await mintAuthority());
  const [server, serverKey] = await Promise.all([mintServerIdentity(ca, { ttlMs: ca.notAfter.getTime() - Date.now() }), mintServerKey()]);
  logger.event("certs_minted", { ca_not_after: ca.notAfter.toISOString() });
  const api = listenTls(options.port, { caCertPem: ca.certPem, serverCertPem: server.certPem, serverKeyPem: server.keyPem });
  server.keyPem.fill(0);

  const jobs = new JobManager(options.killGraceMs ? { killGraceMs: options.killGraceMs } : {});
  const identity = new IdentityService({
    ca,
    certTtlMs: options.certTtlMs,
    onChildRevoked: (child, reason) => {
      const cancelled = jobs.cancelOwnedBy(child.childId);
      audit.note({ event: "child_revoked", child_id: child.childId, instance: child.instance, reason, jobs_cancelled: cancelled.length });
    },
    // SPEC §2 `cert_rotated`, with how much the registry remembers after it (memory stays flat).
    onRenewed: (leaf, previous) => {
      const remembered = identity.registry.size;
      logger.event("cert_rotated", {
        child_id: leaf.childId,
        client_id: leaf.clientId,
        previous_client_id: previous?.clientId ?? null,
        not_after: leaf.notAfter.toISOString(),
        registry_leaves: remembered.leaves,
        registry_revoked: remembered.revoked,
        registry_children: remembered.children,
      });
    },
    onLeafRevoked: (leaf) => logger.event("client_revoked", { child_id: leaf.childId, client_id: leaf.clientId, reason: leaf.revokeReason }),
  });
  const commandService = async (): Promise<CommandService> => {
    const { CommandService, createConcurrencyLimiter, builtinCatalogue, deferredCatalogue } = await import("../commands/index.ts");
    return new CommandService({
      catalogue: options.catalogue ?? deferredCatalogue(() => builtinCatalogue()),
      elevateWith: options.elevateWith,
      audit,
      jobs,
      limiter: createConcurrencyLimiter(),
      logger,
      ...(options.orphanGuard ? { guard: options.orphanGuard } : {}),
    });
  };

  let replayCache: ReplayCache | null = null;
  let serving: Promise<void> | null = null;
  const serveApi = () => {
    if (serving) return serving;
    // From the first delivery on, a request waits for the app rather than getting 503.
    const app = (async () => {
      const [{ createApp }, commands, consoleAssets] = await Promise.all([
        import("../api/app.ts"),
        commandService(),
        typeof options.consoleAssets === "function" ? options.consoleAssets() : options.consoleAssets,
      ]);
      const built = createApp({
        port: api.port,
        apiUrl: () => api.url,
        logger,
        audit,
        identity,
        commands,
        serverKey: serverKey.privateKey,
        caCertPem: new TextDecoder().decode(ca.certPem),
        ...(consoleAssets ? { consoleAssets } : {}),
        ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
      });
      replayCache = built.replayCache;
      return built.app;
    })();
    api.serve(app.then((built) => (request, bunServer) => built.fetch(request, { server: bunServer })));
    serving = app.then(() => logger.event("api_ready", { url: api.url }));
    return serving;
  };

  return {
    ca,
    api,
    identity,
    jobs,
    serverKey,
    bundle: { caCertPem: ca.certPem, apiUrl: api.url, serverKey: serverKey.publicJwk },
    serveApi,
    replayCache: () => replayCache,
    async stop(reason, graceMs = 5000) {
      await serving?.catch(() => {});
      identity.shutdown(reason);
      await Promise.all([api.stop(graceMs), jobs.shutdown()]);
    },
  };
}
