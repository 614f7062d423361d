/**
 * Issue 12 item 5, "the child's memory", through the compiled executable running as an
 * unprivileged user:
 *  (a) another process of the SAME user, not a descendant, reads /proc/<pid>/environ, maps and
 *      mem of a running `icecore connect` holding its key, and of a child using the SDK's
 *      receiveBundle: refused (the SDK made them undumpable before connecting). Control: the
 *      same reader finds the key in an unhardened holder (receiveBundle with harden: false).
 *  (b) a same-user process holds icecore under ptrace from its first instruction (possible on a
 *      kernel without Yama, like this one): icecore refuses to hand off (exit 69, the reason on
 *      one line, `handoff_failed` audited) and the child never gets a key. Control: the same
 *      launcher without tracing. The same for the child: `icecore connect` traced from its exec
 *      refuses to connect at all, so no key is sent to a traced process.
 *  (c) icecore warns at start when ptrace_scope is 0 or Yama is absent.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { asUser, canSwitchUsers, SWITCH_USERS_REASON, testUser } from "../support/users.ts";
import { fixtureChild, isAlive, prefixLauncher, readAudit, startIcecore, type RunningIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
if (!canSwitchUsers) console.warn(`child-memory e2e: ${SWITCH_USERS_REASON}; the readers run as the current user`);

/** Yama's ptrace_scope, or null without Yama (this project's machine: PLATFORM-NOTES). */
const PTRACE_SCOPE = "/proc/sys/kernel/yama/ptrace_scope";
const yamaScope = existsSync(PTRACE_SCOPE) ? Number(readFileSync(PTRACE_SCOPE, "latin1").trim()) : null;
/** Scope ≥ 1: Yama itself keeps a non-descendant from /proc/<pid>/mem, dumpable or not. */
const yamaGuardsMem = yamaScope !== null && yamaScope >= 1;
/** Scope ≥ 2: not even a parent may trace without CAP_SYS_PTRACE, so the attack cannot be staged. */
const yamaForbidsTracing = yamaScope !== null && yamaScope >= 2;

interface ReaderResult {
  pid: number;
  uid: number;
  environ: string;
  maps: string;
  mem: string;
  key_found: boolean;
}

/** The attacker: same user as icecore and its child, started by the test (so no descendant of theirs). */
function readAsSameUser(pid: number): ReaderResult {
  const r = Bun.spawnSync(asUser(owner, [SYSTEM_PYTHON, join(FIXTURES, "proc-reader.py"), String(pid)]), { stdout: "pipe", stderr: "pipe" });
  return JSON.parse(r.stdout.toString()) as ReaderResult;
}

async function stdoutLine(run: RunningIcecore, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(run.stdout())) {
    if (run.proc.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} on stdout; stderr:\n${run.stderr()}`);
    await Bun.sleep(20);
  }
}

const status = (pid: number, field: string) => new RegExp(`^${field}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1];

describe("item 5 (a): the child's memory is closed to other processes of its user", () => {
  test("icecore connect holding its key: environ, maps and mem refused to a same-uid non-descendant", async () => {
    const run = startIcecore({ user: owner, child: [BINARY, "connect", "--for", "60s"] });
    const pid = Number((await run.waitFor("child_spawned")).pid);
    await stdoutLine(run, /bundle received/);
    expect(status(pid, "Uid")?.split(/\s+/)[0]).toBe(String(owner?.uid ?? process.getuid!()));
    const attack = readAsSameUser(pid);
    expect(attack).toMatchObject({ uid: owner?.uid ?? process.getuid!(), environ: "EACCES", maps: "EACCES", mem: "EACCES", key_found: false });
    expect(isAlive(pid)).toBe(true);
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    expect(isAlive(pid)).toBe(false);
  }, 30_000);

  test("the SDK (receiveBundle) hardens its caller; control: an unhardened holder of the same bundle is read, key and all", async () => {
    for (const hardened of [true, false]) {
      const run = startIcecore({ user: owner, child: fixtureChild(...(hardened ? [] : ["--no-harden"]), "--hold-file", "release") });
      const pid = Number((await run.waitFor("child_spawned")).pid);
      await stdoutLine(run, /FIXTURE .*"received":true/);
      const attack = readAsSameUser(pid);
      if (hardened) expect({ hardened, ...attack }).toMatchObject({ hardened, environ: "EACCES", maps: "EACCES", mem: "EACCES", key_found: false });
      // Under Yama ≥ 1 the kernel already refuses mem to a non-descendant; environ and maps still tell the difference.
      else if (yamaGuardsMem) expect({ hardened, ...attack }).toMatchObject({ hardened, environ: "ok", maps: "ok", mem: "EACCES", key_found: false });
      else expect({ hardened, ...attack }).toMatchObject({ hardened, environ: "ok", maps: "ok", mem: "ok", key_found: true });
      writeFileSync(join(run.dir, "release"), "");
      expect((await run.exited).code).toBe(0);
    }
  }, 30_000);
});

describe.skipIf(yamaForbidsTracing)("item 5 (b): a tracer attached before icecore hardens gets no handoff", () => {
  const launcher = join(FIXTURES, "ptrace-launcher.py");

  test("icecore traced from its first instruction by a same-uid process: exit 69 with the reason, the child gets no key", async () => {
    const run = startIcecore({ user: owner, launcher: prefixLauncher([SYSTEM_PYTHON, launcher], BINARY), child: fixtureChild() });
    const { code } = await run.exited;
    expect(code).toBe(69);
    expect(run.errors).toEqual([expect.stringMatching(/^icecore: run: handoff failed: icecore is being traced by pid \d+; refusing to hand off a key$/)]);
    const tracer = Number(/pid (\d+)/.exec(run.errors[0]!)![1]);
    expect(tracer).toBe(run.proc.pid); // the launcher, holding icecore since its exec
    expect(run.events.some((e) => e.event === "handoff_delivered")).toBe(false);
    expect(run.fixtureReports().some((r) => r.received === true)).toBe(false);
    expect(readAudit(run.auditPath).filter((r) => r.event === "handoff_failed").map((r) => r.reason)).toEqual([`icecore is being traced by pid ${tracer}; refusing to hand off a key`]);
  }, 30_000);

  test("control: the same launcher without tracing hands off normally", async () => {
    const run = startIcecore({ user: owner, launcher: prefixLauncher([SYSTEM_PYTHON, launcher, "--no-trace"], BINARY), child: fixtureChild() });
    expect((await run.exited).code).toBe(0);
    expect(run.fixtureReports()[0]).toMatchObject({ received: true, has_key: true });
  }, 30_000);

  test("the child's side: icecore connect traced from its exec refuses to take a key (and so the run fails 69); untraced it works", async () => {
    for (const traced of [true, false]) {
      const run = startIcecore({ user: owner, child: [SYSTEM_PYTHON, launcher, ...(traced ? [] : ["--no-trace"]), BINARY, "connect"] });
      const { code } = await run.exited;
      if (traced) {
        expect(code).toBe(69);
        expect(run.errors).toContainEqual(expect.stringMatching(/^icecore: connect: this process is being traced by pid \d+; refusing to receive a key$/));
        expect(run.events.some((e) => e.event === "handoff_delivered")).toBe(false);
        expect(run.stdout()).not.toContain("bundle received");
      } else {
        expect({ code, errors: run.errors }).toEqual({ code: 0, errors: [] });
        expect(run.stdout()).toContain("bundle received");
      }
    }
  }, 30_000);
});

test("item 5 (c): icecore warns at start when a same-user process may attach before it hardens", async () => {
  const risky = yamaScope === null || yamaScope === 0;
  const run = startIcecore({ user: owner, child: fixtureChild() });
  expect((await run.exited).code).toBe(0);
  const warnings = run.events.filter((e) => e.event === "warning").map((e) => String(e.message));
  if (risky) {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(yamaScope === null ? /no Yama LSM/ : /ptrace_scope is 0/);
    expect(warnings[0]).toContain("ptrace");
  } else {
    expect(warnings).toEqual([]);
  }
  // It is the first thing icecore says, before any key exists.
  expect(run.events[0]!.event).toBe(risky ? "warning" : "certs_minted");
}, 30_000);
