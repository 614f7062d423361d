/**
 * SPEC §2/§6 on the compiled executable: `policy check` and `commands`, and a long command run
 * as a job through the real TLS API, its output followed over SSE by `icecore connect --exec`.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, BUN, FIXTURES } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { readAudit, startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

function writePolicy(dir: string, commands: Record<string, unknown>, mode = "extend"): string {
  const path = join(dir, "policy.json");
  writeFileSync(path, JSON.stringify({ mode, commands }));
  chmodSync(path, 0o644);
  return path;
}

function icecore(...args: string[]) {
  const r = Bun.spawnSync([BINARY, ...args], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const linesCommand = {
  description: "prints numbered lines slowly (test fixture)",
  executable: BUN,
  argv: [join(FIXTURES, "commands/print-lines.ts"), "{count}", "0", "20"],
  params: { count: { type: "integer", min: 1, max: 1000 } },
  timeout_ms: 20000,
  long: true,
};

describe("policy and commands", () => {
  test("policy check: a good policy exits 0", () => {
    const dir = scratchDir(null, "policy");
    const r = icecore("policy", "check", writePolicy(dir, { "test.lines": linesCommand }));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: ok \(\d+ commands\)\n$/);
  });

  test("policy check: a shell, sudo, rm, inline code and a glued placeholder exit 78, each rule named", () => {
    const dir = scratchDir(null, "policy");
    const bad = {
      "x.shell": { description: "d", executable: "/bin/sh", argv: ["{a}"], params: { a: { type: "string" } }, timeout_ms: 1000 },
      "x.sudo": { description: "d", executable: "/usr/bin/sudo", argv: ["ls"], params: {}, timeout_ms: 1000 },
      "x.rm": { description: "d", executable: "/bin/rm", argv: ["{a}"], params: { a: { type: "string" } }, timeout_ms: 1000 },
      "x.python": { description: "d", executable: "/usr/bin/python3", argv: ["-c", "{a}"], params: { a: { type: "string" } }, timeout_ms: 1000 },
      "x.glued": { description: "d", executable: "/bin/ls", argv: ["--color={a}"], params: { a: { type: "string" } }, timeout_ms: 1000 },
    };
    const r = icecore("policy", "check", writePolicy(dir, bad));
    expect(r.code).toBe(78);
    for (const rule of ["shell_or_runner", "privilege_tool", "destructive_tool", "interpreter_inline_code", "placeholder_in_larger_element"]) {
      expect(r.stderr).toContain(rule);
    }
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // run refuses the same policy before minting anything.
    const run = icecore("run", "--allow-root", "--audit-log", join(dir, "audit.jsonl"), "--policy", join(dir, "policy.json"));
    expect(run.code).toBe(78);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("shell_or_runner");
  });

  test("commands lists the built-in catalogue with args JSON Schemas", () => {
    const r = icecore("commands");
    expect(r.code).toBe(0);
    const listing = JSON.parse(r.stdout) as { commands: { name: string; args: Record<string, unknown>; elevated: boolean }[] };
    const names = listing.commands.map((c) => c.name);
    for (const name of ["disk.list", "disk.mount", "disk.unmount", "package.install", "package.search", "system.info"]) expect(names).toContain(name);
    expect(listing.commands.find((c) => c.name === "package.install")!.elevated).toBe(true);
    expect(listing.commands.find((c) => c.name === "disk.mount")!.args).toMatchObject({ type: "object" });
  });
});

describe("jobs over the real API", () => {
  test("a long command answers 202 and its SSE stream delivers every line in order, then the exit", async () => {
    const dir = scratchDir(owner, "jobs");
    const policy = writePolicy(dir, { "test.lines": linesCommand });
    const run = startIcecore({ user: owner, dir, args: ["--policy", policy], child: [BINARY, "connect", "--exec", "test.lines", "--args", '{"count":200}'] });
    const { code } = await run.exited;
    expect(code).toBe(0);
    const out = run.stdout();
    expect(out).toMatch(/POST \/v1\/commands\/test\.lines -> 202 job [0-9a-f]{32}/);
    const lines = out.split("\n").filter((l) => l.startsWith("    | out ")).map((l) => Number(l.slice(10)));
    expect(lines).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(out).toMatch(/job [0-9a-f]{32} succeeded exit 0/);
    const audit = readAudit(run.auditPath);
    expect(audit.filter((r) => r.event === "command")).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain("out 1");
  });
});

describe("shutdown during a job", () => {
  test("SIGTERM while a job runs: exit 0, the job's process is gone, the audit trail is complete", async () => {
    const dir = scratchDir(owner, "jobs-term");
    const slow = { ...linesCommand, argv: [join(FIXTURES, "commands/print-lines.ts"), "{count}", "0", "1000"] };
    const policy = writePolicy(dir, { "test.slow": slow });
    const run = startIcecore({ user: owner, dir, args: ["--policy", policy], child: [BINARY, "connect", "--exec", "test.slow", "--args", '{"count":1000}'] });
    await run.waitFor("api_ready");
    // Wait until the job is running (its first output reached the child).
    for (let i = 0; i < 300 && !run.stdout().includes("| out 1"); i++) await Bun.sleep(20);
    expect(run.stdout()).toContain("| out 1");
    const jobPids = Bun.spawnSync(["pgrep", "-f", "print-lines.ts 1000"]).stdout.toString().trim().split("\n").filter(Boolean).map(Number);
    expect(jobPids.length).toBeGreaterThan(0);
    run.proc.kill("SIGTERM");
    const { code, ms } = await run.exited;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(15_000);
    for (const pid of jobPids) {
      const stat = Bun.spawnSync(["cat", `/proc/${pid}/stat`]).stdout.toString();
      // Gone, or a zombie left to a PID 1 that does not reap (this VM's init).
      expect(stat === "" || / Z /.test(stat)).toBe(true);
    }
    const audit = readAudit(run.auditPath);
    expect(audit.filter((r) => r.event === "command")).toHaveLength(1);
    expect(audit.some((r) => r.event === "job_finished")).toBe(true);
    expect(audit.at(-1)).toMatchObject({ event: "shutdown", reason: "SIGTERM" });
  }, 30_000);
});
