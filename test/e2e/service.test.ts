/**
 * SPEC §10 on this machine (Linux), with the compiled executable, as an unprivileged user and the
 * real systemctl. There is no systemd user manager here (PLATFORM-NOTES), so: install enables the
 * unit offline, `systemd-analyze verify` checks it, and the unit's ExecStart line is run by the
 * test as the user under the unit's sandboxing directives (test/fixtures/unit-sandbox.py applies
 * them as systemd 252 does) until icecore is serving its own `connect` child.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { splitExecLine } from "../../src/service/systemd.ts";
import { BINARY, FIXTURES } from "../support/paths.ts";
import { asUser, canSwitchUsers, scratchDir, SWITCH_USERS_REASON, testUser, type TestUser } from "../support/users.ts";
import { SYSTEM_PYTHON } from "../service/recording-runner.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const hasSeccomp = Bun.spawnSync([SYSTEM_PYTHON, "-c", "import seccomp"]).exitCode === 0;
const hasSystemd = Bun.which("systemctl") !== null && Bun.which("systemd-analyze") !== null;
const SANDBOX = join(FIXTURES, "unit-sandbox.py");
if (!canSwitchUsers) console.info(`service.test.ts: skipping the per-user service tests (${SWITCH_USERS_REASON})`);
else if (!hasSystemd) console.info("service.test.ts: skipping the per-user service tests (systemctl and systemd-analyze are needed: apt-get install systemd)");
else if (!hasSeccomp) console.info("service.test.ts: skipping the sandboxed ExecStart runs (python3-seccomp is not installed: apt-get install python3-seccomp)");

interface Home {
  user: TestUser;
  home: string;
  unit: string;
  wants: string;
}

function newHome(): Home {
  const home = scratchDir(owner, "service-e2e");
  return { user: owner!, home, unit: join(home, ".config/systemd/user/icecore.service"), wants: join(home, ".config/systemd/user/default.target.wants/icecore.service") };
}

function icecore(h: Home | null, ...args: string[]) {
  const env = h ? ["env", `HOME=${h.home}`, `XDG_RUNTIME_DIR=${h.home}`] : [];
  const result = Bun.spawnSync(asUser(h?.user ?? null, [...env, BINARY, ...args]), { cwd: h?.home ?? "/", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isDirectory()) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

function execStart(unit: string): string[] {
  return splitExecLine(readFileSync(unit, "utf8").match(/^ExecStart=(.*)$/m)![1]!);
}

/** `[Service]` sandboxing directives of the unit: everything but how it is started. */
function sandboxDirectives(unit: string): string[] {
  const service = readFileSync(unit, "utf8").split("[Service]\n")[1]!.split("\n[")[0]!;
  return service
    .split("\n")
    .filter((line) => /^[A-Za-z]+=/.test(line) && !/^(Type|ExecStart|Restart|RestartSec)=/.test(line))
    .flatMap((line) => ["--directive", line]);
}

describe.skipIf(!canSwitchUsers || !hasSystemd)("icecore service (systemd user unit, as an unprivileged user)", () => {
  test("install writes a unit that systemd-analyze verifies, running this executable with --on-child-exit restart, enabled offline", () => {
    const h = newHome();
    const ui = join(h.home, "my ui");
    writeFileSync(ui, "#!/bin/sh\nexit 0\n");
    chmodSync(ui, 0o755);
    Bun.spawnSync(["chown", `${h.user.uid}:${h.user.gid}`, ui]);
    const r = icecore(h, "service", "install", "--cert-ttl", "1h", "--", ui, "--kiosk", "50%");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`icecore service: wrote ${h.unit}`);
    expect(r.stdout).toContain("no systemd user manager is reachable");
    expect(execStart(h.unit)).toEqual([
      realpathSync(BINARY),
      "run",
      "--cert-ttl",
      "1h",
      "--on-child-exit",
      "restart",
      "--audit-log",
      join(h.home, ".local/state/icecore/audit.jsonl"),
      "--",
      ui,
      "--kiosk",
      "50%",
    ]);
    expect(lstatSync(h.wants).isSymbolicLink()).toBe(true);
    expect(statSync(h.unit).uid).toBe(h.user.uid);
    const verify = Bun.spawnSync(asUser(h.user, ["env", `HOME=${h.home}`, `XDG_RUNTIME_DIR=${h.home}`, "systemd-analyze", "--user", "verify", h.unit]), { stdout: "pipe", stderr: "pipe" });
    expect(verify.stderr.toString() + verify.stdout.toString()).toBe("");
    expect(verify.exitCode).toBe(0);
  });

  test("install twice changes nothing, whatever the order of the options", () => {
    const h = newHome();
    expect(icecore(h, "service", "install", "--port", "0", "--cert-ttl", "2h").code).toBe(0);
    const before = { bytes: readFileSync(h.unit), stat: statSync(h.unit) };
    const again = icecore(h, "service", "install", "--cert-ttl", "2h", "--port", "0");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${h.unit} is up to date`);
    expect(readFileSync(h.unit)).toEqual(before.bytes);
    expect(statSync(h.unit).mtimeMs).toBe(before.stat.mtimeMs);
    expect(statSync(h.unit).ino).toBe(before.stat.ino);
  });

  test("status says installed, enabled, running unknown (no user manager), and where logs and audit go", () => {
    const h = newHome();
    const before = JSON.parse(icecore(h, "service", "status", "--json").stdout);
    expect(before).toMatchObject({ manager: "systemd", installed: false, enabled: false });
    icecore(h, "service", "install");
    const json = JSON.parse(icecore(h, "service", "status", "--json").stdout);
    expect(json).toMatchObject({ installed: true, enabled: true, running: null, pid: null, definition: h.unit, logs: "journalctl --user -u icecore.service", audit: join(h.home, ".local/state/icecore/audit.jsonl") });
    const text = icecore(h, "service", "status");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`installed: yes (${h.unit})`);
    expect(text.stdout).toMatch(/^enabled: +yes$/m);
    expect(text.stdout).toMatch(/^running: +unknown$/m);
    expect(text.stdout).toMatch(/^audit: +\S+audit\.jsonl$/m);
  });

  test("uninstall removes the unit and its enable link: no file is left behind", () => {
    const h = newHome();
    icecore(h, "service", "install");
    expect(filesUnder(h.home).length).toBe(2);
    const r = icecore(h, "service", "uninstall");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`icecore service: removed ${h.unit}`);
    expect(filesUnder(h.home)).toEqual([]);
    expect(icecore(h, "service", "uninstall").stdout).toBe("icecore service: not installed; nothing to remove\n");
  });

  test.each([
    [["service", "install", "--port", "70000"], 64, /^icecore: service install: --port: must be at most 65535$/],
    [["service", "install", "--bogus"], 64, /^icecore: service install: Unknown option '--bogus'/],
    [["service", "install", "--allow-root"], 64, /--allow-root has no place in a per-user service/],
    [["service", "install", "--on-child-exit", "exit"], 64, /always runs with --on-child-exit restart/],
    [["service", "install", "--", "/nonexistent/ui"], 78, /^icecore: service install: the child '\/nonexistent\/ui' does not exist; /],
    [["service", "install", "--", "no-such-ui-on-path"], 78, /the child 'no-such-ui-on-path' does not exist/],
    [["service", "install", "--policy", "/nonexistent/policy.json"], 78, /^icecore: service install: policy \/nonexistent\/policy.json refused: /],
    [["service", "uninstall", "--now"], 64, /takes no options/],
    [["service", "status", "--yaml"], 64, /unexpected '--yaml'/],
    [["service", "restart"], 64, /unknown action 'restart'/],
  ])("%j is refused (%i) with one line and nothing written", (args, status, pattern) => {
    const h = newHome();
    const r = icecore(h, ...(args as string[]));
    expect(r.code).toBe(status as number);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(pattern as RegExp);
    expect(filesUnder(h.home)).toEqual([]);
  });

  test("a child that is not executable is refused (78)", () => {
    const h = newHome();
    const notes = join(h.home, "notes.txt");
    writeFileSync(notes, "not a program\n", { mode: 0o644 });
    const r = icecore(h, "service", "install", "--", notes);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(`icecore: service install: the child '${notes}' is not executable; give the path of an executable or a command on PATH\n`);
    expect(existsSync(h.unit)).toBe(false);
  });
});

describe.skipIf(process.getuid?.() !== 0)("as root", () => {
  test.each(["install", "uninstall", "status"])("service %s refuses with 77", (action) => {
    const r = icecore(null, "service", action);
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/^icecore: service \w+: refusing to run as root; icecore is a per-user service/);
  });
});

describe.skipIf(!canSwitchUsers || !hasSystemd || !hasSeccomp)("the unit's ExecStart under its sandboxing directives", () => {
  function installed(...runOptions: string[]) {
    const h = newHome();
    const r = icecore(h, "service", "install", "--log-format", "json", "--handoff-timeout", "30s", ...runOptions);
    expect(r.code).toBe(0);
    return h;
  }

  function runSandboxed(h: Home, directives: string[], command: string[]) {
    const result = Bun.spawnSync(asUser(h.user, ["env", `HOME=${h.home}`, SYSTEM_PYTHON, SANDBOX, ...directives, "--", ...command]), {
      cwd: h.home,
      stdout: "pipe",
      stderr: "pipe",
      timeout: 120_000,
    });
    const stderr = result.stderr.toString();
    const events = stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { event: string; [k: string]: unknown });
    return { code: result.exitCode, stdout: result.stdout.toString(), stderr, events };
  }

  test("icecore serves its own connect child: api_ready, health and info over mTLS, restarts, clean exit", () => {
    const h = installed();
    const directives = sandboxDirectives(h.unit);
    expect(directives.filter((d) => d !== "--directive").map((d) => d.split("=")[0])).toEqual([
      "NoNewPrivileges",
      "RestrictAddressFamilies",
      "SystemCallArchitectures",
      "LockPersonality",
      "RestrictRealtime",
      "RestrictSUIDSGID",
    ]);
    const run = runSandboxed(h, directives, execStart(h.unit));
    expect(run.events.some((e) => e.event === "api_ready")).toBe(true);
    expect(run.stdout).toContain('GET /v1/health -> 200 {"status":"ok"}');
    // --on-child-exit restart: each child gets its own endpoint and certificate, up to the limit.
    expect(run.events.filter((e) => e.event === "handoff_delivered")).toHaveLength(6);
    expect(run.events.some((e) => e.event === "restart_limit")).toBe(true);
    expect(run.code).toBe(0);
    const audit = readFileSync(join(h.home, ".local/state/icecore/audit.jsonl"), "utf8");
    expect(audit).toContain('"event":"shutdown"');
  });

  test("control: the sandbox has teeth (other address families, personality changes and setuid bits are refused)", () => {
    const h = installed();
    const probe = [
      "import ctypes, errno, os, socket",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "out = {}",
      "for name in ('AF_INET', 'AF_NETLINK', 'AF_PACKET', 'AF_VSOCK', 'AF_ALG'):",
      "    try:",
      "        socket.socket(getattr(socket, name), socket.SOCK_DGRAM if name in ('AF_INET', 'AF_NETLINK', 'AF_PACKET') else socket.SOCK_STREAM).close(); out[name] = 'ok'",
      "    except OSError as e: out[name] = errno.errorcode[e.errno]",
      "out['personality'] = 'ok' if libc.personality(8) != -1 else errno.errorcode[ctypes.get_errno()]",
      "open('f', 'w').close()",
      "try: os.chmod('f', 0o4755); out['setuid'] = 'ok'",
      "except OSError as e: out['setuid'] = errno.errorcode[e.errno]",
      "print(out)",
    ].join("\n");
    const run = runSandboxed(h, sandboxDirectives(h.unit), [SYSTEM_PYTHON, "-c", probe]);
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("{'AF_INET': 'ok', 'AF_NETLINK': 'ok', 'AF_PACKET': 'EAFNOSUPPORT', 'AF_VSOCK': 'EAFNOSUPPORT', 'AF_ALG': 'EAFNOSUPPORT', 'personality': 'EPERM', 'setuid': 'EPERM'}");
  });

  test("why MemoryDenyWriteExecute= is left out: without W+X memory Bun has no JIT and bun:ffi refuses to load", () => {
    const h = installed();
    const run = runSandboxed(h, ["--directive", "MemoryDenyWriteExecute=yes"], execStart(h.unit));
    expect(run.code).toBe(70);
    expect(run.stderr).toContain("bun:ffi requires the JIT");
    expect(run.events.some((e) => e.event === "api_ready")).toBe(false);
  });

  test("with --elevate-with the unit has no sandboxing directive, so setuid sudo/pkexec keep working", () => {
    if (!existsSync("/usr/bin/sudo")) {
      const h = newHome();
      const r = icecore(h, "service", "install", "--elevate-with", "sudo");
      expect(r.code).toBe(78);
      expect(r.stderr).toContain("/usr/bin/sudo is not installed");
      return;
    }
    const h = installed("--elevate-with", "sudo");
    expect(sandboxDirectives(h.unit)).toEqual([]);
  });
});
