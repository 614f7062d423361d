/**
 * One child, from enrolment to its bundle, in one call (SPEC §3, §4): a fresh child_id and its
 * client leaf (minted and encoded BEFORE the endpoint opens, so the endpoint is open only while
 * the child starts and connects), the one-time endpoint, the spawn with `--pipe-name`, and the
 * delivery, or the reason there was none. A child that ends is revoked: all its client_ids at
 * once, its streams closed, its jobs cancelled.
 */
import { encodeBundle, type BundleParts } from "../handoff/bundle.ts";
import { openEndpoint, type PeerRejection } from "../handoff/endpoint.ts";
import { spawnChild, type SupervisedChild } from "../child/supervisor.ts";
import type { IdentityService } from "../identity/service.ts";
import type { Platform } from "../platform/platform.ts";
import type { Logger } from "../log/logger.ts";
import type { AuditLog } from "../audit/audit-log.ts";

export interface HandoffContext {
  platform: Platform;
  identity: IdentityService;
  /** The bundle's fixed parts: CA, API URL, server_key. */
  bundle: Pick<BundleParts, "caCertPem" | "apiUrl" | "serverKey">;
  handoffTimeoutMs: number;
  logger: Logger;
  audit: Pick<AuditLog, "note">;
}

export interface ChildSession {
  readonly childId: string;
  readonly instance: number;
  readonly child: SupervisedChild;
}

export type HandoffOutcome = { ok: true; session: ChildSession } | { ok: false; reason: string };

export async function startChild(ctx: HandoffContext, instance: number, command: readonly string[], interrupted: Promise<string>): Promise<HandoffOutcome> {
  const { platform, identity, logger, audit } = ctx;
  const { child: record, identity: leaf } = await identity.enrollChild(instance);
  const bytes = encodeBundle({
    ...ctx.bundle,
    caCertPem: ctx.bundle.caCertPem.slice(),
    clientCertPem: leaf.certPem.slice(),
    clientKeyPem: leaf.keyPem,
    clientId: leaf.clientId,
    notAfter: leaf.notAfter,
  });
  leaf.keyPem.fill(0);
  // handoff_closed is logged when the listener closes (at accept, before the bundle is written),
  // so its time is the endpoint's real end; a failure after that is logged as handoff_failed.
  let closedLogged = false;
  const fail = (reason: string): HandoffOutcome => {
    bytes.fill(0);
    identity.revokeChild(record.childId, "child_exited");
    logger.event(closedLogged ? "handoff_failed" : "handoff_closed", { instance, reason });
    audit.note({ event: "handoff_failed", instance, child_id: record.childId, reason });
    return { ok: false, reason };
  };

  // Everything the open endpoint's life does not need is ready before it opens (SPEC §4: the
  // endpoint is open only while the child starts and connects): the orphan guard's argv.
  const guard = platform.hardening.orphanGuard();
  let endpoint: ReturnType<typeof openEndpoint>;
  try {
    endpoint = openEndpoint({
      platform,
      payload: () => bytes,
      onRejected: (rejection: PeerRejection) => {
        const fields = { instance, pid: rejection.pid, uid: rejection.uid, exe: rejection.exe, reason: rejection.reason, count: rejection.count };
        audit.note({ event: "handoff_peer_rejected", ...fields });
        logger.event("handoff_peer_rejected", fields);
      },
      onClosed: (lifetimeMs) => {
        closedLogged = true;
        logger.event("handoff_closed", { instance, lifetime_ms: Number(lifetimeMs.toFixed(3)) });
      },
      // SPEC §7: a key is never handed over while something traces icecore.
      preflight: () => {
        const tracer = platform.hardening.tracerPid();
        return tracer === null ? null : `icecore is being traced by pid ${tracer}; refusing to hand off a key`;
      },
    });
  } catch (error) {
    // SPEC §4.4: a name that cannot be bound (taken) aborts; it is never reused.
    return fail(`could not open the handoff endpoint: ${(error as Error).message}`);
  }
  logger.event("handoff_listening", { instance, name: endpoint.name });
  const child = spawnChild(command, endpoint.name, guard);
  endpoint.expectChild(child.pid);
  identity.registry.setPid(record.childId, child.pid);
  logger.event("child_spawned", { instance, pid: child.pid, child_id: record.childId });

  let timer: Timer | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the child did not connect within ${ctx.handoffTimeoutMs} ms`), ctx.handoffTimeoutMs);
  });
  const outcome = await Promise.race([
    endpoint.delivered.then((delivery) => ({ delivery })),
    timeout.then((reason) => ({ reason })),
    child.exited.then((exit) => ({ reason: `the child exited (status ${exit.status}) before taking its bundle` })),
    interrupted.then((signal) => ({ reason: `interrupted by ${signal}` })),
  ]).catch((error: Error) => ({ reason: error.message }));
  clearTimeout(timer);

  if ("delivery" in outcome) {
    const { peer, closedAt, writtenAt, bytes: length } = outcome.delivery;
    logger.event("handoff_delivered", {
      instance,
      pid: peer.pid,
      client_id: leaf.clientId,
      child_id: record.childId,
      bytes: length,
      closed_before_write_ms: Number((writtenAt - closedAt).toFixed(3)),
    });
    // SPEC §3: whatever ends the child revokes everything it holds.
    void child.exited.then(() => identity.revokeChild(record.childId, "child_exited"));
    return { ok: true, session: { childId: record.childId, instance, child } };
  }
  endpoint.destroy(outcome.reason);
  await child.terminate();
  return fail(outcome.reason);
}
