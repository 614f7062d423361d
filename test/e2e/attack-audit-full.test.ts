/**
 * Issue 12 item 2, "audit is fail-closed" (SPEC §5), through the compiled executable on a REAL
 * full file system: icecore runs in a private mount namespace (`unshare --mount`) whose audit
 * directory is a 64 KiB tmpfs, so the mount cannot outlive the test, even when it fails: it
 * goes with the namespace's last process. The test (root) fills that tmpfs from outside through
 * /proc/<icecore>/root, then a child holding a real bundle keeps asking for a command:
 *  - control (with space): the command runs, and its attempt record is in the log;
 *  - on the full disk: a command is refused 503 `audit_unavailable` and its marker never appears;
 *    every command that did run has a whole record (no half line: write(2) writes what fits);
 *  - later writes (a job's end, the shutdown) fail without a crash, each logged as
 *    `audit_write_failed`; icecore stays up, and on SIGTERM ends its child and exits 0.
 */
import { expect, test } from "bun:test";
import { existsSync, openSync, closeSync, readFileSync, writeFileSync, writeSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, SWITCH_USERS_REASON, testUser } from "../support/users.ts";
import { isAlive, startIcecore, type RunningIcecore } from "../support/icecore-process.ts";
import { recordCommand, waitForFileCommand, writePolicy } from "./test-commands.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const canMount = canSwitchUsers && Bun.which("unshare") !== null && Bun.which("mount") !== null;
if (!canMount) console.warn(`audit-full e2e skipped: needs root with unshare and mount (${SWITCH_USERS_REASON})`);

async function report(run: RunningIcecore, phase: number, timeoutMs = 20_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = run.fixtureReports().find((r) => r.phase === phase);
    if (found) return found;
    if (run.proc.exitCode !== null || Date.now() > deadline) throw new Error(`no phase ${phase} report; stderr:\n${run.stderr()}`);
    await Bun.sleep(20);
  }
}

/** Fill the file system holding `path` to the last byte (ENOSPC), as root. Returns bytes written. */
function fill(path: string): number {
  const fd = openSync(path, "w", 0o600);
  let total = 0;
  try {
    for (const size of [65536, 4096, 1]) {
      const chunk = new Uint8Array(size);
      try {
        for (;;) total += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

test.skipIf(!canMount)("item 2: on a full disk a command gets 503 audit_unavailable and never runs; later audit failures are logged, icecore stays up and ends its child on SIGTERM", async () => {
  const dir = scratchDir(owner, "audit-full");
  const conf = scratchDir(owner, "audit-full-conf");
  const markers = scratchDir(owner, "audit-full-markers");
  const sync = scratchDir(owner, "audit-full-sync");
  const policy = writePolicy(conf, { "test.record": recordCommand(markers), "test.wait": waitForFileCommand(join(sync, "release"), true) });
  // The tmpfs is mounted on the run directory, inside icecore's own mount namespace only.
  const mountTmpfs = `mount -t tmpfs -o size=64k,mode=0700,uid=${owner!.uid},gid=${owner!.gid} icecore-audit-test "$0" && exec "$@"`;
  const run = startIcecore({
    user: owner,
    dir,
    wrapper: ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", mountTmpfs, dir],
    args: ["--policy", policy],
    child: [BUN, join(FIXTURES, "audit-full-caller.ts"), markers, sync],
  });
  const childPid = Number((await run.waitFor("child_spawned")).pid);
  // From outside the namespace, icecore's view of the audit log is /proc/<pid>/root/<path>.
  const inside = (path: string) => `/proc/${run.proc.pid}/root${path}`;
  const auditLines = () => readFileSync(inside(run.auditPath), "utf8").split("\n").filter(Boolean);

  // 1. Control: with space, the command runs and its attempt is recorded; the job starts.
  const first = await report(run, 1);
  expect(first.before).toEqual({ status: 200, code: null, job_id: null });
  expect(first.job).toMatchObject({ status: 202, code: null });
  expect(existsSync(join(markers, "before"))).toBe(true);
  expect(existsSync(join(dir, "audit.jsonl"))).toBe(false); // the log is on the tmpfs, not under it
  const mounts = readFileSync(`/proc/${run.proc.pid}/mountinfo`, "utf8");
  expect(mounts).toContain(` ${dir} `);
  expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${dir} `);

  // 2. Fill the disk, then let the child try again.
  const filled = fill(inside(join(dir, "filler")));
  expect(filled).toBeGreaterThan(0);
  writeFileSync(join(sync, "go"), "");
  const second = await report(run, 2);
  const full = second.full as { value: string; status: number; code: string | null }[];
  const refused = full.at(-1)!;
  // The last space in the log's last page may take a record or two; then the refusal.
  expect(refused).toMatchObject({ status: 503, code: "audit_unavailable" });
  expect(full.slice(0, -1).every((c) => c.status === 200)).toBe(true);
  expect(existsSync(join(markers, refused.value))).toBe(false);

  // Every line is whole JSON, and every command that ran has its attempt record.
  const records = auditLines().map((line) => JSON.parse(line) as Record<string, unknown>);
  const started = records.filter((r) => r.event === "command" && r.command === "test.record" && r.outcome === "started");
  const ran = readdirSync(markers).filter((f) => !f.endsWith(".tmp"));
  expect(ran.sort()).toEqual(["before", ...full.slice(0, -1).map((c) => c.value)].sort());
  expect(started).toHaveLength(ran.length);

  // 3. Later failures: the job ended (its end record could not be written) and icecore is up.
  expect(second.job_state).toBe("succeeded");
  const failures = run.events.filter((e) => e.event === "audit_write_failed");
  expect(failures.map((e) => e.record)).toContain("job_finished");
  expect(failures.every((e) => e.cause === "ENOSPC")).toBe(true);
  expect(isAlive(run.proc.pid)).toBe(true);
  expect(isAlive(childPid)).toBe(true);

  // An open descriptor keeps the tmpfs readable after the namespace is gone.
  const log = openSync(inside(run.auditPath), "r");
  try {
    run.proc.kill("SIGTERM");
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(isAlive(childPid)).toBe(false);
    expect(run.events.map((e) => e.event)).toContain("shutdown");
    // The shutdown record is short: it is either written whole into what a failed longer line
    // left free, or its failure is logged. Never half a line.
    const final = readFileSync(log, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const recorded = final.some((r) => r.event === "shutdown");
    const failed = run.events.some((e) => e.event === "audit_write_failed" && e.record === "shutdown");
    expect(recorded !== failed).toBe(true);
  } finally {
    closeSync(log);
  }
  // No stack trace, no unexpected line: stderr is JSON events only.
  expect(run.errors).toEqual([]);
}, 60_000);
