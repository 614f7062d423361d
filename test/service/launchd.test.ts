/** SPEC §10 on macOS: the launchd agent plist (read by Python's plistlib) and the launchctl calls, by argv. */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAUNCHD_LABEL, launchdManager, launchdPaths, renderPlist } from "../../src/service/launchd.ts";
import { collectLines, recordingRunner, sampleProgram, scratchAccount, SYSTEM_PYTHON } from "./recording-runner.ts";

/** An independent reader: Python's plistlib, as strict as launchd about the XML plist format. */
function plistlibLoad(path: string): Record<string, unknown> {
  const script = "import json, plistlib, sys\nwith open(sys.argv[1], 'rb') as f: print(json.dumps(plistlib.load(f)))";
  const result = Bun.spawnSync([SYSTEM_PYTHON, "-c", script, path], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`plistlib refused ${path}: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString());
}

const NOT_LOADED = { status: 113, stderr: `Bad request.\nCould not find service "${LAUNCHD_LABEL}" in domain for user gui: 1000\n` };

describe("the launchd agent plist", () => {
  test("plistlib reads the keys launchd needs: Label, ProgramArguments, RunAtLoad, KeepAlive, log paths", () => {
    const account = scratchAccount();
    const program = sampleProgram(account, { args: ["run", "--", "/Applications/My UI.app/Contents/MacOS/ui", "<&>\"'"] });
    const path = join(account.home, "agent.plist");
    writeFileSync(path, renderPlist(program, launchdPaths(account)));
    expect(plistlibLoad(path)).toEqual({
      Label: "dev.icecore.core",
      ProgramArguments: [...program.command, ...program.args],
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      StandardOutPath: join(account.home, "Library/Logs/icecore/icecore.log"),
      StandardErrorPath: join(account.home, "Library/Logs/icecore/icecore.log"),
    });
  });

  test("control: plistlib refuses a plist whose markup is broken", () => {
    const account = scratchAccount();
    const path = join(account.home, "broken.plist");
    writeFileSync(path, renderPlist(sampleProgram(account), launchdPaths(account)).replace("</array>", ""));
    expect(() => plistlibLoad(path)).toThrow(/plistlib refused/);
  });
});

describe("launchctl calls", () => {
  test("install: log directory, plist, enable, bootstrap into gui/<uid>; twice: the file untouched, kickstart only", async () => {
    const account = scratchAccount();
    const manager = launchdManager(account);
    const paths = launchdPaths(account);
    const program = sampleProgram(account);
    const first = recordingRunner((argv) => (argv[1] === "print" ? NOT_LOADED : undefined));
    await manager.install(program, first.run, () => {});
    expect(first.calls).toEqual([
      ["launchctl", "print", `gui/1000/${LAUNCHD_LABEL}`],
      ["launchctl", "enable", `gui/1000/${LAUNCHD_LABEL}`],
      ["launchctl", "bootstrap", "gui/1000", paths.plist],
    ]);
    expect(paths.plist).toBe(join(account.home, "Library/LaunchAgents/dev.icecore.core.plist"));
    expect(statSync(paths.logDir).isDirectory()).toBe(true);
    const before = statSync(paths.plist);

    const second = recordingRunner(); // now loaded: print succeeds
    await manager.install(program, second.run, () => {});
    expect(second.calls).toEqual([
      ["launchctl", "print", `gui/1000/${LAUNCHD_LABEL}`],
      ["launchctl", "enable", `gui/1000/${LAUNCHD_LABEL}`],
      ["launchctl", "kickstart", `gui/1000/${LAUNCHD_LABEL}`],
    ]);
    expect(statSync(paths.plist).mtimeMs).toBe(before.mtimeMs);
  });

  test("install over a loaded, different definition: bootout, then bootstrap the new one", async () => {
    const account = scratchAccount();
    const manager = launchdManager(account);
    await manager.install(sampleProgram(account), recordingRunner().run, () => {});
    const runner = recordingRunner();
    await manager.install(sampleProgram(account, { args: ["run", "--port", "4444"] }), runner.run, () => {});
    expect(runner.calls.map((argv) => argv[1])).toEqual(["print", "bootout", "enable", "bootstrap"]);
  });

  test("install outside a GUI session: the plist stays for the next login, and it says what to run", async () => {
    const account = scratchAccount();
    const runner = recordingRunner((argv) =>
      argv[1] === "print" ? NOT_LOADED : argv[1] === "bootstrap" ? { status: 125, stderr: "Bootstrap failed: 125: Domain does not support specified action\n" } : undefined,
    );
    const { say, lines } = collectLines();
    await launchdManager(account).install(sampleProgram(account), runner.run, say);
    expect(existsSync(launchdPaths(account).plist)).toBe(true);
    expect(lines.join("\n")).toContain("it loads at your next login");
    expect(lines.join("\n")).toContain(`launchctl bootstrap gui/1000 ${launchdPaths(account).plist}`);
  });

  test("uninstall: bootout, then the plist and the log directory are gone", async () => {
    const account = scratchAccount();
    const manager = launchdManager(account);
    await manager.install(sampleProgram(account), recordingRunner().run, () => {});
    const paths = launchdPaths(account);
    writeFileSync(paths.log, "a log line\n");
    const runner = recordingRunner();
    await manager.uninstall(runner.run, () => {});
    expect(runner.calls).toEqual([
      ["launchctl", "print", `gui/1000/${LAUNCHD_LABEL}`],
      ["launchctl", "bootout", `gui/1000/${LAUNCHD_LABEL}`],
    ]);
    expect(existsSync(paths.plist)).toBe(false);
    expect(existsSync(paths.logDir)).toBe(false);
  });

  test("status: running with its pid from launchctl print, enabled from print-disabled", async () => {
    const account = scratchAccount();
    const manager = launchdManager(account);
    const program = sampleProgram(account);
    await manager.install(program, recordingRunner().run, () => {});
    const printed = `gui/1000/${LAUNCHD_LABEL} = {\n\tactive count = 1\n\tpath = ${launchdPaths(account).plist}\n\tstate = running\n\n\tprogram = /opt/ice core/icecore\n\tpid = 7321\n}\n`;
    const runner = recordingRunner((argv) =>
      argv[1] === "print" ? { stdout: printed } : argv[1] === "print-disabled" ? { stdout: `disabled services = {\n\t"com.apple.x" => disabled\n}\n` } : undefined,
    );
    const status = await manager.status(runner.run);
    expect(status).toMatchObject({ manager: "launchd", installed: true, enabled: true, running: true, pid: 7321, audit: program.auditLog, logs: launchdPaths(account).log });
    expect(status.command).toEqual([...program.command, ...program.args]);

    const disabled = recordingRunner((argv) => (argv[1] === "print-disabled" ? { stdout: `\t"${LAUNCHD_LABEL}" => disabled\n` } : argv[1] === "print" ? NOT_LOADED : undefined));
    expect(await manager.status(disabled.run)).toMatchObject({ enabled: false, running: false, pid: null });
  });

  test("an existing LaunchAgents directory and other agents are left alone", async () => {
    const account = scratchAccount();
    const other = join(account.home, "Library/LaunchAgents/com.example.other.plist");
    mkdirSync(join(other, ".."), { recursive: true });
    writeFileSync(other, "other");
    const manager = launchdManager(account);
    await manager.install(sampleProgram(account), recordingRunner().run, () => {});
    await manager.uninstall(recordingRunner().run, () => {});
    expect(readFileSync(other, "utf8")).toBe("other");
  });
});
