/**
 * One instance of the child (SPEC §2 `--instances`): start it, wait for it to end, and restart it
 * under `--on-child-exit restart` (each restart a new child_id, a new leaf, a new endpoint), at
 * most RESTART_LIMIT times in RESTART_WINDOW_MS.
 */
import type { ChildExit } from "../child/supervisor.ts";
import { startChild, type ChildSession, type HandoffContext } from "./child-session.ts";

export const RESTART_LIMIT = 5;
export const RESTART_WINDOW_MS = 60_000;

export type InstanceOutcome = { kind: "exited"; exit: ChildExit } | { kind: "handoff_failed"; reason: string } | { kind: "interrupted" };

export interface InstanceOptions {
  instance: number;
  command: readonly string[];
  onChildExit: "exit" | "restart";
  context: HandoffContext;
  /** Resolves with the signal's name when icecore is told to stop. */
  interrupted: Promise<string>;
  /** The running children, for shutdown. */
  sessions: Set<ChildSession>;
  /** Called after every delivery (the first one makes the API ready). */
  onDelivered(session: ChildSession): void;
}

export async function runInstance(options: InstanceOptions): Promise<InstanceOutcome> {
  const { instance, context, interrupted, sessions } = options;
  let stopping = false;
  void interrupted.then(() => (stopping = true));
  const restarts: number[] = [];
  for (;;) {
    const handed = await startChild(context, instance, options.command, interrupted);
    if (!handed.ok) return stopping ? { kind: "interrupted" } : { kind: "handoff_failed", reason: handed.reason };
    const { session } = handed;
    sessions.add(session);
    options.onDelivered(session);
    const ended = await Promise.race([session.child.exited, interrupted.then(() => null)]);
    if (ended === null) return { kind: "interrupted" };
    sessions.delete(session);
    context.logger.event("child_exited", { instance, pid: session.child.pid, child_id: session.childId, status: ended.status, signal: ended.signal });
    if (options.onChildExit === "exit") return { kind: "exited", exit: ended };
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && now - restarts[0]! > RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > RESTART_LIMIT) {
      context.logger.event("restart_limit", { instance, restarts: restarts.length, window_ms: RESTART_WINDOW_MS });
      return { kind: "exited", exit: ended };
    }
  }
}
