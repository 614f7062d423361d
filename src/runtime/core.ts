/**
 * One `icecore run` (SPEC §2–§5, §7), as a composition of small calls: mint the CA and the
 * server's identity, bind the API port (nothing served yet), run each instance of the child
 * (enrol, hand off, supervise, restart), serve the API from the first delivery on, and shut
 * everything down on a signal or when the last instance has ended.
 *
 * Start-up order keeps the handoff fast (SPEC §4, issue "nothing heavy before the handoff"): the
 * API app (routes, schemas, OpenAPI, jose) is imported only once the first child has its bundle;
 * a request arriving in between waits for it, and one before any delivery gets 503 `not_ready`.
 */
import type { Catalogue, ElevateWith } from "../commands/index.ts";
import type { Platform } from "../platform/platform.ts";
import type { Logger } from "../log/logger.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { ChildSession, HandoffContext } from "./child-session.ts";
import { runInstance, type InstanceOutcome } from "./instance.ts";
import { startCoreServices, type ConsoleAssets } from "./services.ts";

export interface CoreOptions {
  port: number;
  handoffTimeoutMs: number;
  certTtlMs: number;
  onChildExit: "exit" | "restart";
  /** SPEC §2 --instances: this many children at once, each with its own endpoint and identity. */
  instances: number;
  /** The child's command; `--pipe-name <name>` is appended. */
  child: string[];
  platform: Platform;
  /** The allow-listed commands (SPEC §6), already loaded and checked; absent: the built-ins. */
  catalogue?: Catalogue;
  elevateWith: ElevateWith;
  logger: Logger;
  audit: AuditLog;
  /** SPEC §9 the console (`GET /`), loaded when the API is first served. */
  consoleAssets?: ConsoleAssets;
  /** Resolves with a signal's name to stop (SIGTERM/SIGINT in the CLI). */
  interrupted: Promise<string>;
}

/**
 * How the run ended. `status` follows SPEC §2 and the README: with one instance, its child's
 * status; with several, the last non-zero status of an instance to end (69 for one whose handoff
 * failed, and then `handoffFailure` says why), else 0.
 */
export type CoreOutcome =
  | { kind: "ended"; status: number; handoffFailure: string | null }
  | { kind: "signal"; signal: string };

/** How often expired identities and replay keys are forgotten (memory follows the live load). */
const MAINTENANCE_MS = 30_000;
const HANDOFF_FAILED = 69;

export async function runCore(options: CoreOptions): Promise<CoreOutcome> {
  const { logger, audit, platform } = options;
  const core = await startCoreServices({
    port: options.port,
    certTtlMs: options.certTtlMs,
    ...(options.catalogue ? { catalogue: options.catalogue } : {}),
    elevateWith: options.elevateWith,
    logger,
    audit,
    orphanGuard: platform.hardening.orphanGuard(),
    ...(options.consoleAssets ? { consoleAssets: options.consoleAssets } : {}),
  });
  const { identity } = core;
  const maintenance = setInterval(() => {
    const forgot = identity.registry.prune();
    const replay = core.replayCache();
    const keysBefore = replay?.size ?? 0;
    replay?.sweep();
    const swept = keysBefore - (replay?.size ?? 0);
    // Logged only when something was forgotten: the figures that show memory following the live load.
    if (forgot.leaves + forgot.children + swept === 0) return;
    const remembered = identity.registry.size;
    logger.event("maintenance", {
      forgot_leaves: forgot.leaves,
      forgot_children: forgot.children,
      replay_keys_swept: swept,
      registry_leaves: remembered.leaves,
      registry_revoked: remembered.revoked,
      registry_children: remembered.children,
      replay_keys: replay?.size ?? 0,
      replay_clients: replay?.clients ?? 0,
      event_streams: identity.events.streams,
    });
  }, MAINTENANCE_MS);
  maintenance.unref?.();

  const context: HandoffContext = {
    platform,
    identity,
    bundle: core.bundle,
    handoffTimeoutMs: options.handoffTimeoutMs,
    logger,
    audit,
  };
  const sessions = new Set<ChildSession>();
  let stopping: string | null = null;
  void options.interrupted.then((signal) => (stopping = signal));

  // In the order the instances END: the run's status is the last non-zero one.
  const outcomes: InstanceOutcome[] = [];
  try {
    await Promise.all(
      Array.from({ length: options.instances }, (_, i) =>
        runInstance({
          instance: i + 1,
          command: options.child,
          onChildExit: options.onChildExit,
          context,
          interrupted: options.interrupted,
          sessions,
          onDelivered: () => void core.serveApi(),
        }).then((outcome) => void outcomes.push(outcome)),
      ),
    );
  } finally {
    clearInterval(maintenance);
    const reason = stopping ?? "the last child exited";
    // SPEC §7: tell the children, stop accepting and let requests finish (≤ 5 s); jobs end
    // alongside (a job's SSE stream is a request that only finishes when its job does); then
    // the children go.
    await core.stop(reason);
    await Promise.all([...sessions].map((session) => session.child.terminate()));
    for (const session of sessions) identity.revokeChild(session.childId, "shutdown");
    logger.event("shutdown", { reason });
    audit.note({ event: "shutdown", reason });
  }
  if (stopping) return { kind: "signal", signal: stopping };
  let status = 0;
  let handoffFailure: string | null = null;
  for (const outcome of outcomes) {
    if (outcome.kind === "exited" && outcome.exit.status !== 0) [status, handoffFailure] = [outcome.exit.status, null];
    if (outcome.kind === "handoff_failed") [status, handoffFailure] = [HANDOFF_FAILED, outcome.reason];
  }
  return { kind: "ended", status, handoffFailure };
}
