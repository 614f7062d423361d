/**
 * One `icecore run`: mint the PKI, bind the API port, open the one-time endpoint, spawn the
 * child, hand it its bundle, then serve until the child exits or a signal arrives.
 * SPEC §2 (events, exit statuses), §3, §4, §5 (order: port bound before the child starts).
 */
import { mintAuthority, mintClientIdentity, mintServerIdentity, type ClientIdentity } from "../pki/authority.ts";
import { encodeBundle } from "../handoff/bundle.ts";
import { openEndpoint, type OneTimeEndpoint } from "../handoff/endpoint.ts";
import { spawnChild, type ChildExit, type SupervisedChild } from "../child/supervisor.ts";
import { listenTls, type ApiServer } from "../api/server.ts";
import { createApp } from "../api/app.ts";
import type { ClientLease } from "../api/routes/info.ts";
import { ClientRegistry } from "../api/client-registry.ts";
import { mintServerKey } from "../api/server-key.ts";
import { openApiRoutes } from "../api/routes/openapi.ts";
import { commandRoutes, createConcurrencyLimiter, JobManager } from "../commands/index.ts";
import type { Catalogue } from "../commands/types.ts";
import type { ElevateWith } from "../commands/types.ts";
import type { Platform } from "../platform/platform.ts";
import type { Logger } from "../log/logger.ts";
import type { AuditLog } from "../audit/audit-log.ts";

export interface CoreOptions {
  port: number;
  handoffTimeoutMs: number;
  certTtlMs: number;
  onChildExit: "exit" | "restart";
  /** The child's command; `--pipe-name <name>` is appended. */
  child: string[];
  platform: Platform;
  /** The allow-listed commands (SPEC §6), already loaded and checked. */
  catalogue: Catalogue;
  elevateWith: ElevateWith;
  logger: Logger;
  audit: AuditLog;
}

export type CoreOutcome =
  | { kind: "child_exited"; exit: ChildExit }
  | { kind: "handoff_failed"; reason: string }
  | { kind: "signal"; signal: string };

const RESTART_LIMIT = 5;
const RESTART_WINDOW_MS = 60_000;

export async function runCore(options: CoreOptions): Promise<CoreOutcome> {
  const { logger, audit, platform } = options;
  const ca = await mintAuthority();
  const server = await mintServerIdentity(ca, { ttlMs: ca.notAfter.getTime() - Date.now() });
  const serverKey = await mintServerKey();
  const registry = new ClientRegistry();
  logger.event("certs_minted", { ca_not_after: ca.notAfter.toISOString() });

  let ready = false;
  let lease: ClientLease | null = null;
  let api: ApiServer | null = null;
  api = listenTls(options.port, { caCertPem: ca.certPem, serverCertPem: server.certPem, serverKeyPem: server.keyPem }, (request, bunServer) =>
    app.fetch(request, { server: bunServer }),
  );
  server.keyPem.fill(0);
  const jobs = new JobManager();
  const apiUrl = () => api!.url;
  const app = createApp({
    routes: [
      commandRoutes({ catalogue: options.catalogue, elevateWith: options.elevateWith, audit, jobs, limiter: createConcurrencyLimiter(), logger }),
      openApiRoutes({ apiUrl, catalogue: options.catalogue }),
    ],
    port: api.port,
    logger,
    audit,
    isReady: () => ready,
    registry,
    serverKey: serverKey.privateKey,
    info: { apiUrl, currentLease: () => lease },
  });

  let clientSerial = 0;
  let child: SupervisedChild | null = null;
  let endpoint: OneTimeEndpoint | null = null;
  let stopping: string | null = null;
  const signalled = new Promise<string>((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      stopping = signal;
      resolve(signal);
    };
    process.once("SIGTERM", on);
    process.once("SIGINT", on);
  });

  const handOff = async (): Promise<{ ok: true } | { ok: false; reason: string }> => {
    const serial = ++clientSerial;
    let identity: Promise<ClientIdentity> | null = null;
    // Registered the moment it exists: its signatures must verify as soon as the child has it.
    const mintClient = () =>
      (identity ??= mintClientIdentity(ca, serial, { ttlMs: options.certTtlMs }).then((client) => {
        registry.register(client);
        return client;
      }));
    let ep: OneTimeEndpoint;
    try {
      ep = openEndpoint({
      platform,
      payload: async () => {
        const client = await mintClient();
        const bytes = encodeBundle({
          caCertPem: ca.certPem,
          clientCertPem: client.certPem,
          clientKeyPem: client.keyPem,
          apiUrl: api!.url,
          clientId: client.clientId,
          notAfter: client.notAfter,
          serverKey: serverKey.publicJwk,
        });
        client.keyPem.fill(0);
        return bytes;
      },
      onRejected: (rejection) => {
        const fields = { pid: rejection.pid, uid: rejection.uid, exe: rejection.exe, reason: rejection.reason, count: rejection.count };
        audit.record({ event: "handoff_peer_rejected", ...fields });
        logger.event("handoff_peer_rejected", fields);
      },
      });
    } catch (error) {
      // SPEC §4.4: a name that cannot be bound (taken) aborts the run; it is never reused.
      const reason = `could not open the handoff endpoint: ${(error as Error).message}`;
      audit.record({ event: "handoff_failed", reason });
      return { ok: false, reason };
    }
    endpoint = ep;
    logger.event("handoff_listening", { name: ep.name });
    child = spawnChild(options.child, ep.name);
    ep.expectChild(child.pid);
    logger.event("child_spawned", { pid: child.pid });
    // The client leaf is minted while the child starts up, off the critical path.
    void mintClient().catch(() => {});

    let timer: Timer | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`the child did not connect within ${options.handoffTimeoutMs} ms`), options.handoffTimeoutMs);
    });
    const childDied = child.exited.then((exit) => `the child exited (status ${exit.status}) before taking its bundle`);
    const outcome = await Promise.race([
      ep.delivered.then((d) => ({ delivered: d })),
      timeout.then((reason) => ({ reason })),
      childDied.then((reason) => ({ reason })),
      signalled.then((signal) => ({ reason: `interrupted by ${signal}` })),
    ]).catch((error: Error) => ({ reason: error.message }));
    clearTimeout(timer);
    if ("delivered" in outcome) {
      const client = await mintClient();
      lease = { notAfter: client.notAfter, rotatesAt: null };
      logger.event("handoff_delivered", { pid: outcome.delivered.peer.pid, client_id: client.clientId, bytes: outcome.delivered.bytes });
      const { openedAt, writtenAt, closedAt } = outcome.delivered;
      logger.event("handoff_closed", {
        lifetime_ms: Number((closedAt - openedAt).toFixed(3)),
        closed_before_write_ms: Number((writtenAt - closedAt).toFixed(3)),
      });
      return { ok: true };
    }
    ep.destroy(outcome.reason);
    logger.event("handoff_closed", { reason: outcome.reason });
    audit.record({ event: "handoff_failed", reason: outcome.reason });
    await child.terminate();
    return { ok: false, reason: outcome.reason };
  };

  const restarts: number[] = [];
  try {
    for (;;) {
      const handed = await handOff();
      if (!handed.ok) {
        if (stopping) return { kind: "signal", signal: stopping };
        return { kind: "handoff_failed", reason: handed.reason };
      }
      if (!ready) {
        ready = true;
        logger.event("api_ready", { url: api.url });
      }
      const current = child!;
      const ended = await Promise.race([current.exited, signalled.then(() => null)]);
      if (ended === null) return { kind: "signal", signal: stopping! };
      logger.event("child_exited", { pid: current.pid, status: ended.status, signal: ended.signal });
      if (options.onChildExit === "exit") return { kind: "child_exited", exit: ended };
      const now = Date.now();
      restarts.push(now);
      while (restarts.length && now - restarts[0]! > RESTART_WINDOW_MS) restarts.shift();
      if (restarts.length > RESTART_LIMIT) {
        logger.event("restart_limit", { restarts: restarts.length, window_ms: RESTART_WINDOW_MS });
        return { kind: "child_exited", exit: ended };
      }
    }
  } finally {
    (endpoint as OneTimeEndpoint | null)?.destroy("shutting down");
    const running = child as SupervisedChild | null;
    // SPEC §7: stop accepting and let requests finish (≤ 5 s). Jobs end alongside: a job's SSE
    // stream is a request that only finishes when its job does. Then the child goes.
    await Promise.all([api.stop(5000), jobs.shutdown()]);
    await running?.terminate();
    logger.event("shutdown", { reason: stopping ?? "child exited" });
    audit.record({ event: "shutdown", reason: stopping ?? "child exited" });
  }
}
