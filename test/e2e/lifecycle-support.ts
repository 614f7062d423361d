/** Shared by the lifecycle tests: an icecore run whose child is test/fixtures/lifecycle-child.ts. */
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { isAlive, startIcecore, type LogEvent, type RunningIcecore } from "../support/icecore-process.ts";

export const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
/** test.pause, test.slow and test.hold on top of the built-in catalogue. */
export const POLICY = join(FIXTURES, "lifecycle-policy.json");

export interface LifecycleRun extends RunningIcecore {
  /** The directory the children share (owned by the test user). */
  shared: string;
}

export function lifecycleRun(scenario: string, options: { args?: string[]; fixture?: string[] } = {}): LifecycleRun {
  const shared = scratchDir(owner, `lifecycle-${scenario}`);
  const run = startIcecore({
    user: owner,
    dir: shared,
    args: ["--policy", POLICY, ...(options.args ?? [])],
    child: [BUN, join(FIXTURES, "lifecycle-child.ts"), "--scenario", scenario, "--dir", shared, ...(options.fixture ?? [])],
  });
  return Object.assign(run, { shared });
}

export function eventsNamed(run: RunningIcecore, name: string): LogEvent[] {
  return run.events.filter((e) => e.event === name);
}

/** Ends a process the test learnt about from a report (not one it spawned itself). */
export function endPid(pid: unknown): void {
  if (typeof pid === "number" && isAlive(pid)) process.kill(pid, "SIGKILL");
}

export { isAlive };
