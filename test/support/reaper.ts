/**
 * Every process a test starts is ended by pid, also when the test fails: a failed assertion must
 * never leave an icecore holding a client key running. Spawn through `track()`; the preload ends
 * what is still alive after each test (scope "test") or at the end of the file's worker ("run"):
 * SIGTERM (icecore then ends its own child), then SIGKILL after a grace.
 */
import type { Subprocess } from "bun";

type Scope = "test" | "run";
const tracked = new Map<Subprocess, Scope>();

export function track<T extends Subprocess>(proc: T, scope: Scope = "test"): T {
  tracked.set(proc, scope);
  void proc.exited.then(() => tracked.delete(proc));
  return proc;
}

const GRACE_MS = 3000;

/** Ends every tracked process of `scope` (and, for "run", every one left). */
export async function reap(scope: Scope): Promise<number> {
  const victims = [...tracked].filter(([proc, s]) => (scope === "run" || s === scope) && proc.exitCode === null && proc.signalCode === null).map(([proc]) => proc);
  for (const proc of victims) proc.kill("SIGTERM");
  await Promise.all(
    victims.map(async (proc) => {
      const timer = setTimeout(() => proc.kill("SIGKILL"), GRACE_MS);
      await proc.exited;
      clearTimeout(timer);
    }),
  );
  return victims.length;
}
