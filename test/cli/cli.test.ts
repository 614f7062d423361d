/** SPEC §2 on the compiled executable: documented exit statuses and one-line errors, never a stack. */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY } from "../support/paths.ts";
import { scratchDir } from "../support/users.ts";

function icecore(...args: string[]) {
  const result = Bun.spawnSync([BINARY, ...args], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function expectOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

/** With --log-format json every line is an event; the failure is the one `fatal` event, as its message. */
function fatalOf(stderr: string): string {
  const events = stderr
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { event: string; error?: string });
  const fatal = events.filter((e) => e.event === "fatal");
  expect(fatal).toHaveLength(1);
  return `icecore: ${fatal[0]!.error}`;
}

const root = process.getuid?.() === 0;
const allowRoot = root ? ["--allow-root"] : [];
const scratch = scratchDir(null, "cli");
const audit = ["--audit-log", join(scratch, "audit.jsonl")];

describe("help", () => {
  const COMMANDS = ["run", "connect", "commands", "policy", "service", "version"];

  test.each(COMMANDS)("icecore %s --help prints that command's usage and exits 0", (command) => {
    for (const flag of ["--help", "-h"]) {
      const r = icecore(command, flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`usage: icecore ${command}`);
      expect(r.stdout).toContain("exit status");
      expect(r.stderr).toBe("");
    }
    expect(icecore("help", command).stdout).toBe(icecore(command, "--help").stdout);
  });

  test("the summary lists exactly the commands that exist, and every run option the parser takes", async () => {
    const r = icecore("--help");
    expect(r.code).toBe(0);
    const listed = [...r.stdout.matchAll(/^  icecore ([a-z]+)/gm)].map((m) => m[1]);
    expect([...new Set(listed)].sort()).toEqual([...COMMANDS].sort());
    const { RUN_FLAGS } = await import("../../src/cli/run-command.ts");
    for (const flag of Object.keys(RUN_FLAGS)) expect(r.stdout).toContain(`--${flag}`);
    // A control: something that does not exist is not advertised.
    expect(r.stdout).not.toContain("--daemon");
  });

  test("--help after '--' belongs to the child, not to icecore", () => {
    const r = icecore("run", "--port", "abc", "--", "/bin/true", "--help");
    expect(r.code).toBe(64);
  });
});

describe("fatal errors with --log-format json are JSON", () => {
  test("a usage error is one JSON object with the status and the message", () => {
    const r = icecore("run", "--log-format", "json", "--port", "abc");
    expect(r.code).toBe(64);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: "fatal", status: 64, error: "run: --port: must be a port number" });
  });

  test("control: the same error in text format is the one-line sentence", () => {
    expectOneLineError(icecore("run", "--port", "abc").stderr, /^icecore: run: --port: must be a port number$/);
  });
});

describe("icecore CLI", () => {
  test("version prints the version and exits 0", () => {
    const r = icecore("version");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^icecore \d+\.\d+\.\d+ \(bun [\d.]+, linux-x64\)\n$/);
  });

  test.each([
    [[], /^icecore: a command is required/],
    [["frobnicate"], /^icecore: unknown command 'frobnicate'/],
    [["run", "--bogus"], /^icecore: run: Unknown option '--bogus'/],
    [["run", "--bogus=1"], /^icecore: run: Unknown option '--bogus' \(see 'icecore help'\)$/],
    [["run", "--debug=no"], /^icecore: run: Option '--debug' does not take an argument/],
    [["run", "--port"], /^icecore: run: Option '--port' needs a value/],
    [["run", "--port", "-5"], /^icecore: run: Option '--port' needs a value \(write --port=<value> for one starting with '-'\)/],
    [["run", "--port=-5"], /^icecore: run: --port: must be a port number$/],
    [["run", "stray"], /^icecore: run: Unexpected argument 'stray'/],
    [["run", "--port", "abc"], /^icecore: run: --port: must be a port number$/],
    [["run", "--port", "70000"], /^icecore: run: --port: must be at most 65535$/],
    [["run", "--handoff-timeout", "5x"], /^icecore: run: --handoff-timeout: the handoff timeout must be a duration/],
    [["run", "--cert-ttl", "90d"], /^icecore: run: --cert-ttl: the certificate lifetime must be at most 30 days$/],
    [["run", "--elevate-with", "doas"], /^icecore: run: --elevate-with: must be none, sudo or pkexec$/],
    [["run", "--"], /^icecore: run: '--' must be followed by the child's command$/],
    [["connect"], /^icecore: connect: --pipe-name: is required$/],
    [["run", "--handoff-timeout", "20m"], /^icecore: run: --handoff-timeout: the handoff timeout must be at most 10 minutes$/],
    [["run", "--cert-ttl", "5s"], /^icecore: run: --cert-ttl: the certificate lifetime must be at least 10 seconds$/],
    [["run", "--instances", "0"], /^icecore: run: --instances: must be at least 1$/],
    [["connect", "--pipe-name", "@x", "--timeout", "soon"], /^icecore: connect: --timeout: the handoff timeout must be a duration like 500ms, 5s, 10m, 24h or 7d$/],
    [["connect", "--pipe-name", "@x", "--args", "{}"], /^icecore: connect: --args must follow the --exec it belongs to$/],
    [["connect", "--pipe-name", "@x", "--exec", "a.b", "--args", "[1]"], /^icecore: connect: --args for a\.b must be a JSON object/],
    [["help", "frobnicate"], /^icecore: help: no command 'frobnicate'/],
  ])("usage error %j exits 64 with one line", (args, pattern) => {
    const r = icecore(...(args as string[]));
    expect(r.code).toBe(64);
    expectOneLineError(r.stderr, pattern as RegExp);
  });

  test.skipIf(!root)("refuses to run as root without --allow-root: 77", () => {
    const r = icecore("run", ...audit);
    expect(r.code).toBe(77);
    expectOneLineError(r.stderr, /^icecore: run: refusing to run as root; .*--allow-root/);
  });

  test("a port already in use: 78", async () => {
    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = icecore("run", "--port", String(blocker.port), ...allowRoot, ...audit, "--log-format", "json");
      expect(r.code).toBe(78);
      expectOneLineError(fatalOf(r.stderr), new RegExp(`^icecore: run: cannot listen on 127.0.0.1:${blocker.port} .*choose another --port or 0$`));
    } finally {
      blocker.stop(true);
    }
  });

  test("an audit log that cannot be opened: 78", () => {
    const file = join(scratch, "a-file");
    writeFileSync(file, "");
    const r = icecore("run", ...allowRoot, "--audit-log", join(file, "audit.jsonl"));
    expect(r.code).toBe(78);
    expectOneLineError(r.stderr, /^icecore: run: cannot open the audit log .*: (ENOTDIR|EEXIST)$/);
  });

  test("a child that cannot be started: 78", () => {
    const r = icecore("run", ...allowRoot, ...audit, "--log-format", "json", "--", "/nonexistent/child");
    expect(r.code).toBe(78);
    expectOneLineError(fatalOf(r.stderr), /^icecore: run: the child "\/nonexistent\/child" was not found or is not executable; check the command after '--'$/);
  });

  test.skipIf(Bun.which("pkexec") !== null)("--elevate-with pkexec where pkexec is not installed: 78", () => {
    const r = icecore("run", ...allowRoot, ...audit, "--elevate-with", "pkexec");
    expect(r.code).toBe(78);
    expectOneLineError(r.stderr, /^icecore: run: --elevate-with pkexec: \/usr\/bin\/pkexec is not installed$/);
  });

  test("connect with a name that is not an icecore endpoint: 69", () => {
    const r = icecore("connect", "--pipe-name", "/etc/passwd");
    expect(r.code).toBe(69);
    expectOneLineError(r.stderr, /^icecore: connect: "\/etc\/passwd" is not an icecore endpoint name on linux$/);
  });
});

describe("npm start", () => {
  const npm = Bun.which("npm");
  const start = (...args: string[]) => {
    const r = Bun.spawnSync([npm!, "start", "--silent", "--", ...args], { cwd: join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    return { code: r.exitCode, stderr: r.stderr.toString() };
  };

  test.skipIf(npm === null)("npm start -- -- <child> runs that child (its early exit is the handoff failure, 69)", () => {
    const r = start("--", "/bin/sh", "-c", "exit 3");
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("icecore: run: handoff failed: the child exited (status 3) before taking its bundle");
  });

  test.skipIf(npm === null)("control: options before the child reach run too", () => {
    const r = start("--port", "abc");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("icecore: run: --port: must be a port number");
  });
});
