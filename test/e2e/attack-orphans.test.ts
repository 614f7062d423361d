/**
 * Issue 12 item 10, "no orphans" (SPEC §7), through the compiled executable running as an
 * unprivileged user: icecore is SIGKILLed (no shutdown code runs) while its child holds a key (a
 * child that, like a UI, does not exit when the Core goes away), a long job runs and a
 * synchronous command is in flight. The kernel ends all three
 * (PR_SET_PDEATHSIG through the platform's orphan guard), within a generous bound.
 * Control: the same program started by a parent that is SIGKILLed, once behind the guard and once
 * without: the guarded one ends, the other keeps running (so it is the guard, not the kill,
 * that ends them).
 * What the audit holds after such a kill is documented in docs/hardening.md.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { readProcStat } from "../../src/platform/linux-proc.ts";
import { asUser, canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { readAudit, startIcecore } from "../support/icecore-process.ts";
import { track } from "../support/reaper.ts";
import { waitForFileCommand, writePolicy } from "./test-commands.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const BOUND_MS = 10_000;

/** Running: present and not a zombie (an orphan's zombie waits for whoever reaps for PID 1). */
function running(pid: number): boolean {
  const state = readProcStat(pid)?.state;
  return state !== undefined && state !== "Z";
}

/**
 * Past the guard: the process has exec'd the program, so `setpriv` has already set its death
 * signal. Before that exec its command line is setpriv's, which also holds the program's argv, so
 * matching on argv alone would let a test kill the parent inside the window the guard cannot
 * cover (docs/hardening.md §10, "Limits") and fail for the wrong reason.
 */
function pastGuard(pid: number): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0")[0]!;
    return argv0 !== "" && !/(^|\/)setpriv$/.test(argv0);
  } catch {
    return false;
  }
}

/** Pids of running processes past the guard whose command line contains `token`. */
function pidsWith(token: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "latin1").includes(token) && running(Number(entry)) && pastGuard(Number(entry))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function until<T>(what: string, probe: () => T | null, timeoutMs = BOUND_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

test("item 10: icecore SIGKILLed: its child, a running job and a command in flight end with it", async () => {
  const dir = scratchDir(owner, "orphans");
  const sync = scratchDir(owner, "orphans-sync");
  const policy = writePolicy(dir, { "test.job": waitForFileCommand(join(sync, "never-job"), true), "test.hold": waitForFileCommand(join(sync, "never-hold"), false) });
  const run = startIcecore({ user: owner, dir, args: ["--policy", policy], child: [BUN, join(FIXTURES, "orphan-child.ts")] });
  const icecore = run.proc.pid;
  const child = Number((await run.waitFor("child_spawned")).pid);
  const [job] = await until("the job", () => pidsWith(join(sync, "never-job")).at(0) ?? null).then((pid) => [pid]);
  const hold = await until("the command in flight", () => pidsWith(join(sync, "never-hold")).at(0) ?? null);
  const victims = { child, job: job!, hold };
  try {
    await until("the child to be past the guard", () => (pastGuard(child) ? true : null));
    for (const pid of Object.values(victims)) expect(running(pid)).toBe(true);
    // Each is icecore's own child, started through the guard (same pid after setpriv's exec).
    for (const pid of Object.values(victims)) expect(readProcStat(pid)?.ppid).toBe(icecore);

    run.proc.kill("SIGKILL");
    // Not run.exited: that also waits for icecore's output pipes, which an orphan would hold open.
    await run.proc.exited;
    const started = performance.now();
    await until("every process icecore started to end", () => (Object.values(victims).some(running) ? null : true));
    console.log(`orphans: child, job and command ended ${Math.round(performance.now() - started)} ms after icecore was reaped`);

    // What was recorded: the job's attempt, nothing after it (no end record, no shutdown).
    const records = readAudit(run.auditPath);
    expect(records.filter((r) => r.event === "command").map((r) => [r.command, r.outcome])).toEqual([
      ["test.job", "accepted"],
      ["test.hold", "started"],
    ]);
    expect(records.some((r) => r.event === "shutdown" || r.event === "job_finished")).toBe(false);
  } finally {
    killAll(Object.values(victims).filter(running));
  }
}, 40_000);

test("control: a SIGKILLed parent's child behind the guard ends; the same child without it keeps running", async () => {
  const marker = scratchDir(owner, "orphans-control");
  const parent = track(
    Bun.spawn(asUser(owner, [SYSTEM_PYTHON, join(FIXTURES, "orphan-parent.py"), BUN, join(FIXTURES, "commands/wait-for-file.ts"), join(marker, "never"), "120000"]), {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  const reader = (parent.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const pids = JSON.parse(new TextDecoder().decode(value)) as { guarded: number; unguarded: number };
  try {
    // setpriv sets PR_SET_PDEATHSIG, then execs: the guard holds once the program is running.
    const started = (pid: number) => running(pid) && pastGuard(pid) && readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("wait-for-file");
    await until("both programs to start", () => (started(pids.guarded) && started(pids.unguarded) ? true : null));
    parent.kill("SIGKILL");
    await parent.exited;
    await until("the guarded child to end", () => (running(pids.guarded) ? null : true));
    expect(running(pids.unguarded)).toBe(true);
  } finally {
    killAll([pids.guarded, pids.unguarded].filter(running));
  }
}, 30_000);
