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

/** Log events are JSON lines with --log-format json; what remains is the failure line. */
function withoutJsonEvents(stderr: string): string {
  return stderr
    .split("\n")
    .filter((line) => !line.startsWith("{"))
    .join("\n");
}

const root = process.getuid?.() === 0;
const allowRoot = root ? ["--allow-root"] : [];
const scratch = scratchDir(null, "cli");
const audit = ["--audit-log", join(scratch, "audit.jsonl")];

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
    [["run", "--port", "abc"], /^icecore: run: --port: must be a port number$/],
    [["run", "--port", "70000"], /^icecore: run: --port: must be at most 65535$/],
    [["run", "--handoff-timeout", "5x"], /^icecore: run: --handoff-timeout: the handoff timeout must be a duration/],
    [["run", "--cert-ttl", "90d"], /^icecore: run: --cert-ttl: the certificate lifetime must be at most 30 days$/],
    [["run", "--elevate-with", "doas"], /^icecore: run: --elevate-with: must be none, sudo or pkexec$/],
    [["run", "--"], /^icecore: run: '--' must be followed by the child's command$/],
    [["connect"], /^icecore: connect: --pipe-name: is required$/],
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
      expectOneLineError(withoutJsonEvents(r.stderr), new RegExp(`^icecore: run: cannot listen on 127.0.0.1:${blocker.port} .*choose another --port or 0$`));
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
    expectOneLineError(withoutJsonEvents(r.stderr), /^icecore: run: the child "\/nonexistent\/child" was not found or is not executable; check the command after '--'$/);
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
