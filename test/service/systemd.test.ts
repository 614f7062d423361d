/** SPEC §10 on Linux: the systemd user unit, its quoting, and the systemctl calls, by argv. */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { quoteExecWord, renderUnit, SANDBOX_DIRECTIVES, splitExecLine, systemdManager, systemdPaths, UNIT_NAME } from "../../src/service/systemd.ts";
import { asUser, canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { collectLines, recordingRunner, sampleProgram, scratchAccount } from "./recording-runner.ts";

const BUS_DOWN = { status: 1, stderr: "Failed to connect to bus: No medium found\n" };
const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

describe("ExecStart quoting (systemd.service(5) Command lines)", () => {
  test.each([
    ["--port", "--port"],
    ["/usr/bin/icecore", "/usr/bin/icecore"],
    ["/opt/ice core/icecore", '"/opt/ice core/icecore"'],
    ["50%", '"50%%"'],
    ["$HOME", '"$$HOME"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    [";", "\\;"],
    ["", '""'],
    ["tab\there", '"tab\\x09here"'],
  ])("%j is written %s", (word, quoted) => {
    expect(quoteExecWord(word)).toBe(quoted);
    expect(splitExecLine(quoted)).toEqual([word]);
  });

  test("a line splits on unquoted whitespace only, with C escapes and both quote kinds", () => {
    expect(splitExecLine(`/bin/echo "one two"  'three four' five\\ssix "%%d" "$$x"`)).toEqual(["/bin/echo", "one two", "three four", "five six", "%d", "$x"]);
  });

  test("any argv survives quoting and splitting unchanged", () => {
    const word = fc.string({ unit: "binary" }).filter((s) => !s.includes("\0"));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 8 }), (argv) => {
        expect(splitExecLine(argv.map(quoteExecWord).join(" "))).toEqual(argv);
      }),
      { numRuns: 500 },
    );
  });
});

/** `systemd-analyze --user verify`, as the unprivileged test user where we can switch users. */
function verifyUnit(unitPath: string, home: string) {
  const runtime = scratchDir(owner, "service-runtime");
  const result = Bun.spawnSync(asUser(owner, ["env", `HOME=${home}`, `XDG_RUNTIME_DIR=${runtime}`, "systemd-analyze", "--user", "verify", unitPath]), { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

describe.skipIf(Bun.which("systemd-analyze") === null)("the unit passes systemd-analyze verify", () => {
  // An executable at a path that needs quoting ("ice core") and escaping ("100%").
  function unitWithAwkwardPath() {
    const home = scratchDir(owner, "service-verify");
    const dir = join(home, "ice core 100%");
    mkdirSync(dir);
    copyFileSync("/usr/bin/true", join(dir, "icecore"));
    chmodSync(join(dir, "icecore"), 0o755);
    const program = sampleProgram({ uid: 1000, home, name: "alice", env: {} }, { command: [join(dir, "icecore")], args: ["run", "--", "/usr/bin/true", "50% $x"] });
    const unitPath = join(home, UNIT_NAME);
    if (owner) Bun.spawnSync(["chown", "-R", `${owner.uid}:${owner.gid}`, home]);
    return { home, dir, program, unitPath };
  }

  test("with a program path that has a space and a percent sign", () => {
    const { home, program, unitPath } = unitWithAwkwardPath();
    writeFileSync(unitPath, renderUnit(program));
    const { code, output } = verifyUnit(unitPath, home);
    expect(output).toBe("");
    expect(code).toBe(0);
  });

  test("control: the same ExecStart written without quoting is refused by verify", () => {
    const { home, program, unitPath } = unitWithAwkwardPath();
    const unquoted = renderUnit(program).replace(/^ExecStart=.*$/m, `ExecStart=${[...program.command, ...program.args].join(" ")}`);
    writeFileSync(unitPath, unquoted);
    const { code, output } = verifyUnit(unitPath, home);
    expect(code).not.toBe(0);
    expect(output).toMatch(/ExecStart|not executable|specifier/i);
  });

  test("with --elevate-with sudo (no sandboxing directives)", () => {
    const { home, program, unitPath } = unitWithAwkwardPath();
    writeFileSync(unitPath, renderUnit({ ...program, elevation: "sudo" }));
    expect(verifyUnit(unitPath, home)).toEqual({ code: 0, output: "" });
  });
});

describe("unit content", () => {
  test("restarts on failure, starts with the login session, and carries each sandboxing directive", () => {
    const account = scratchAccount();
    const unit = renderUnit(sampleProgram(account));
    expect(unit).toContain("\nRestart=on-failure\n");
    expect(unit).toContain("\nType=exec\n");
    expect(unit).toContain("\n[Install]\nWantedBy=default.target\n");
    expect(unit).toMatch(/^ExecStart="\/opt\/ice core\/icecore" run --port 0 --on-child-exit restart --audit-log \S+ -- \/usr\/bin\/my-ui --profile "a b"$/m);
    for (const [key, value] of SANDBOX_DIRECTIVES) expect(unit).toContain(`\n${key}=${value}\n`);
    // Bun's JIT needs writable+executable memory; bun:ffi refuses to work without the JIT.
    expect(unit).not.toContain("MemoryDenyWriteExecute");
  });

  test.each(["sudo", "pkexec"] as const)("--elevate-with %s: no directive that implies NoNewPrivileges=", (elevation) => {
    const unit = renderUnit(sampleProgram(scratchAccount(), { elevation }));
    for (const [key] of SANDBOX_DIRECTIVES) expect(unit).not.toContain(`\n${key}=`);
  });

  test("the unit goes to $XDG_CONFIG_HOME/systemd/user when set, else ~/.config/systemd/user", () => {
    const account = scratchAccount();
    expect(systemdPaths(account).unit).toBe(join(account.home, ".config/systemd/user/icecore.service"));
    expect(systemdPaths({ ...account, env: { XDG_CONFIG_HOME: "/x/conf" } }).unit).toBe("/x/conf/systemd/user/icecore.service");
    expect(systemdPaths({ ...account, env: { XDG_CONFIG_HOME: "relative" } }).unit).toBe(join(account.home, ".config/systemd/user/icecore.service"));
  });
});

describe("systemctl calls", () => {
  const probe = ["systemctl", "--user", "show", "--property=Version"];

  test("install with a user manager: daemon-reload, enable --now; twice: the file untouched, only enable --now", async () => {
    const account = scratchAccount();
    const manager = systemdManager(account);
    const program = sampleProgram(account);
    const first = recordingRunner();
    await manager.install(program, first.run, collectLines().say);
    expect(first.calls).toEqual([probe, ["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT_NAME]]);
    const unitPath = systemdPaths(account).unit;
    expect(readFileSync(unitPath, "utf8")).toBe(renderUnit(program));
    expect(statSync(unitPath).mode & 0o777).toBe(0o644);
    const before = statSync(unitPath);

    const second = recordingRunner();
    const { say, lines } = collectLines();
    await manager.install(program, second.run, say);
    expect(second.calls).toEqual([probe, ["systemctl", "--user", "enable", "--now", UNIT_NAME]]);
    expect(statSync(unitPath).mtimeMs).toBe(before.mtimeMs);
    expect(statSync(unitPath).ino).toBe(before.ino);
    expect(lines[0]).toMatch(/is up to date$/);
  });

  test("install over a different definition: daemon-reload, try-restart, enable --now", async () => {
    const account = scratchAccount();
    const manager = systemdManager(account);
    await manager.install(sampleProgram(account), recordingRunner().run, () => {});
    const runner = recordingRunner();
    await manager.install(sampleProgram(account, { args: ["run", "--port", "4444"] }), runner.run, () => {});
    expect(runner.calls.slice(1)).toEqual([
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "try-restart", UNIT_NAME],
      ["systemctl", "--user", "enable", "--now", UNIT_NAME],
    ]);
  });

  test("install without a reachable user manager: enabled offline, and it says what to run", async () => {
    const account = scratchAccount();
    const runner = recordingRunner((argv) => (argv[2] === "show" ? BUS_DOWN : undefined));
    const { say, lines } = collectLines();
    await systemdManager(account).install(sampleProgram(account), runner.run, say);
    expect(runner.calls).toEqual([probe, ["systemctl", "--user", "enable", UNIT_NAME]]);
    expect(lines.join("\n")).toContain("no systemd user manager is reachable (Failed to connect to bus: No medium found)");
    expect(lines.join("\n")).toContain("systemctl --user daemon-reload && systemctl --user start icecore.service");
  });

  test("install without systemctl at all: refused before any file is written", async () => {
    const account = scratchAccount();
    const runner = recordingRunner(() => ({ status: 127, stderr: "systemctl: not found" }));
    await expect(systemdManager(account).install(sampleProgram(account), runner.run, () => {})).rejects.toThrow(/systemctl is not installed/);
    expect(existsSync(systemdPaths(account).unit)).toBe(false);
  });

  test("uninstall: disable --now, remove the unit and its enable link, daemon-reload", async () => {
    const account = scratchAccount();
    const manager = systemdManager(account);
    await manager.install(sampleProgram(account), recordingRunner().run, () => {});
    const paths = systemdPaths(account);
    // What `systemctl --user enable` leaves behind.
    mkdirSync(join(paths.wants, ".."), { recursive: true });
    symlinkSync(paths.unit, paths.wants);
    const runner = recordingRunner();
    const { say, lines } = collectLines();
    await manager.uninstall(runner.run, say);
    expect(runner.calls).toEqual([
      probe,
      ["systemctl", "--user", "disable", "--now", UNIT_NAME],
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "reset-failed", UNIT_NAME],
    ]);
    expect(existsSync(paths.unit)).toBe(false);
    expect(() => lstatSync(paths.wants)).toThrow();
    expect(lines.join("\n")).toContain(`the audit trail ${account.home}/.local/state/icecore/audit.jsonl is kept`);
  });

  test("uninstall when nothing is installed runs nothing", async () => {
    const runner = recordingRunner();
    const { say, lines } = collectLines();
    await systemdManager(scratchAccount()).uninstall(runner.run, say);
    expect(runner.calls).toEqual([]);
    expect(lines).toEqual(["not installed; nothing to remove"]);
  });

  test("status: installed, enabled, running with its pid, logs and audit", async () => {
    const account = scratchAccount();
    const manager = systemdManager(account);
    const program = sampleProgram(account);
    await manager.install(program, recordingRunner().run, () => {});
    const runner = recordingRunner((argv) => {
      if (argv[2] === "is-enabled") return { stdout: "enabled\n" };
      if (argv[2] === "show" && argv[3] === UNIT_NAME) return { stdout: "ActiveState=active\nSubState=running\nMainPID=4242\n" };
      return undefined;
    });
    const status = await manager.status(runner.run);
    expect(status).toMatchObject({ manager: "systemd", installed: true, enabled: true, running: true, pid: 4242, logs: "journalctl --user -u icecore.service", audit: program.auditLog });
    expect(status.command).toEqual([...program.command, ...program.args]);
    expect(runner.calls).toContainEqual(["systemctl", "--user", "show", UNIT_NAME, "--property=ActiveState,SubState,MainPID"]);
  });

  test("status without a user manager: running unknown, and why", async () => {
    const account = scratchAccount();
    const runner = recordingRunner((argv) => (argv[2] === "show" ? BUS_DOWN : argv[2] === "is-enabled" ? { status: 1, stdout: "not-found\n" } : undefined));
    const status = await systemdManager(account).status(runner.run);
    expect(status).toMatchObject({ installed: false, enabled: false, running: null, pid: null });
    expect(status.notes[0]).toMatch(/no systemd user manager is reachable/);
  });
});
