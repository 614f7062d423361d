/** SPEC §10 on Windows: the logon task XML (read by Python's xml.etree) and the schtasks calls, by argv. */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { encodeUtf16, quoteWindowsArg, renderTaskXml, splitWindowsArgs, TASK_NAME, taskPaths, taskSchedulerManager } from "../../src/service/task-scheduler.ts";
import type { ServiceAccount } from "../../src/service/service.ts";
import { collectLines, recordingRunner, sampleProgram, scratchAccount, SYSTEM_PYTHON } from "./recording-runner.ts";

function windowsAccount(): ServiceAccount {
  const account = scratchAccount();
  return { ...account, uid: -1, name: "alice", env: { USERDOMAIN: "DESKTOP-7", USERNAME: "alice", LOCALAPPDATA: join(account.home, "AppData", "Local") } };
}

function windowsProgram(account: ServiceAccount) {
  return sampleProgram(account, {
    command: ["C:\\Users\\alice\\.local\\bin\\icecore.exe"],
    args: ["run", "--on-child-exit", "restart", "--audit-log", "C:\\Users\\alice\\My State\\audit.jsonl", "--", "C:\\Program Files\\My UI\\ui.exe", 'say "hi"', "trailing\\"],
  });
}

/** What Python's xml.etree reads from the file (it honours the UTF-16 declaration and BOM). */
function etreeRead(path: string): Record<string, string> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
root = ET.parse(sys.argv[1]).getroot()
paths = ["t:Triggers/t:LogonTrigger/t:UserId", "t:Triggers/t:LogonTrigger/t:Enabled", "t:Principals/t:Principal/t:UserId",
  "t:Principals/t:Principal/t:LogonType", "t:Principals/t:Principal/t:RunLevel", "t:Settings/t:ExecutionTimeLimit",
  "t:Settings/t:RestartOnFailure/t:Interval", "t:Settings/t:RestartOnFailure/t:Count", "t:Settings/t:DisallowStartIfOnBatteries",
  "t:Actions/t:Exec/t:Command", "t:Actions/t:Exec/t:Arguments"]
name = lambda p: ("Principal." if "Principal/" in p else "") + p.split("/")[-1][2:]
out = {name(p): root.find(p, ns).text for p in paths}
out["principal_id"] = root.find("t:Principals/t:Principal", ns).get("id")
out["actions_context"] = root.find("t:Actions", ns).get("Context")
out["version"] = root.get("version")
print(json.dumps(out))`;
  const result = Bun.spawnSync([SYSTEM_PYTHON, "-c", script, path], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`xml.etree refused ${path}: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString());
}

describe("Windows command-line quoting (Microsoft C runtime rules)", () => {
  // The examples of Microsoft's "Parsing C++ command-line arguments".
  test.each([
    ['"a b c" d e', ["a b c", "d", "e"]],
    ['"ab\\"c" "\\\\" d', ['ab"c', "\\", "d"]],
    ['a\\\\\\b d"e f"g h', ["a\\\\\\b", "de fg", "h"]],
    ['a\\\\\\"b c d', ['a\\"b', "c", "d"]],
    ['a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]],
  ])("%s splits into %j", (line, args) => {
    expect(splitWindowsArgs(line)).toEqual(args);
  });

  test("any argv survives quoting and splitting unchanged", () => {
    const arg = fc.string({ unit: fc.constantFrom("a", "b", " ", "\t", '"', "\\", "%", "é") });
    fc.assert(
      fc.property(fc.array(arg, { minLength: 1, maxLength: 6 }), (argv) => {
        expect(splitWindowsArgs(argv.map(quoteWindowsArg).join(" "))).toEqual(argv);
      }),
      { numRuns: 500 },
    );
  });
});

describe("the logon task XML", () => {
  test("UTF-16LE with a byte order mark, as schtasks /XML reads it", () => {
    const account = windowsAccount();
    const bytes = taskSchedulerManager(account).files(windowsProgram(account))[0]!.content;
    expect([bytes[0], bytes[1]]).toEqual([0xff, 0xfe]);
    const text = new TextDecoder("utf-16le").decode(bytes.subarray(2));
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-16"?>')).toBe(true);
  });

  test("runs at this user's logon, as this user, with least privilege, no time limit, restarted on failure", () => {
    const account = windowsAccount();
    const program = windowsProgram(account);
    const path = join(account.home, "task.xml");
    writeFileSync(path, encodeUtf16(renderTaskXml(program, account)));
    const task = etreeRead(path);
    expect(task).toEqual({
      version: "1.2",
      UserId: "DESKTOP-7\\alice",
      Enabled: "true",
      "Principal.UserId": "DESKTOP-7\\alice",
      // InteractiveToken: only in the user's own logon session, with no stored password.
      "Principal.LogonType": "InteractiveToken",
      "Principal.RunLevel": "LeastPrivilege",
      principal_id: "Author",
      actions_context: "Author",
      ExecutionTimeLimit: "PT0S",
      Interval: "PT1M",
      Count: "5",
      DisallowStartIfOnBatteries: "false",
      Command: "C:\\Users\\alice\\.local\\bin\\icecore.exe",
      Arguments: expect.any(String),
    });
    expect(splitWindowsArgs(task.Arguments!)).toEqual(program.args);
  });

  test("control: xml.etree refuses the file once its markup is broken", () => {
    const account = windowsAccount();
    const path = join(account.home, "broken.xml");
    writeFileSync(path, encodeUtf16(renderTaskXml(windowsProgram(account), account).replace("</Principals>", "")));
    expect(() => etreeRead(path)).toThrow(/xml.etree refused/);
  });

  test("a %NAME% that Task Scheduler would expand is refused", () => {
    const account = windowsAccount();
    expect(() => renderTaskXml(sampleProgram(account, { args: ["run", "--", "C:\\ui.exe", "%USERPROFILE%"] }), account)).toThrow(/would expand/);
  });
});

describe("schtasks calls", () => {
  const NOT_FOUND = { status: 1, stderr: "ERROR: The system cannot find the file specified.\r\n" };

  test("install: /Create from the XML, then /Run; twice: the file untouched, /Run only", async () => {
    const account = windowsAccount();
    const manager = taskSchedulerManager(account);
    const xml = taskPaths(account).xml;
    const first = recordingRunner((argv) => (argv[1] === "/Query" ? NOT_FOUND : undefined));
    await manager.install(windowsProgram(account), first.run, () => {});
    expect(first.calls).toEqual([
      ["schtasks", "/Query", "/TN", TASK_NAME],
      ["schtasks", "/Create", "/TN", TASK_NAME, "/XML", xml, "/F"],
      ["schtasks", "/Run", "/TN", TASK_NAME],
    ]);
    const before = statSync(xml);
    const second = recordingRunner();
    await manager.install(windowsProgram(account), second.run, () => {});
    expect(second.calls).toEqual([
      ["schtasks", "/Query", "/TN", TASK_NAME],
      ["schtasks", "/Run", "/TN", TASK_NAME],
    ]);
    expect(statSync(xml).mtimeMs).toBe(before.mtimeMs);
  });

  test("uninstall: /End, /Delete, and the XML file is gone", async () => {
    const account = windowsAccount();
    const manager = taskSchedulerManager(account);
    await manager.install(windowsProgram(account), recordingRunner().run, () => {});
    const runner = recordingRunner();
    const { say, lines } = collectLines();
    await manager.uninstall(runner.run, say);
    expect(runner.calls).toEqual([
      ["schtasks", "/Query", "/TN", TASK_NAME],
      ["schtasks", "/End", "/TN", TASK_NAME],
      ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"],
    ]);
    expect(existsSync(taskPaths(account).xml)).toBe(false);
    expect(lines.join("\n")).toContain("the audit trail C:\\Users\\alice\\My State\\audit.jsonl is kept");
  });

  test("status: running from the task's CSV line, command and audit read back from the XML", async () => {
    const account = windowsAccount();
    const manager = taskSchedulerManager(account);
    const program = windowsProgram(account);
    await manager.install(program, recordingRunner().run, () => {});
    const runner = recordingRunner((argv) => (argv.includes("CSV") ? { stdout: '"\\icecore","N/A","Running"\r\n' } : undefined));
    const status = await manager.status(runner.run);
    expect(status).toMatchObject({ manager: "task-scheduler", installed: true, enabled: true, running: true, pid: null, audit: "C:\\Users\\alice\\My State\\audit.jsonl" });
    expect(status.command).toEqual([...program.command, ...program.args]);
    expect(readFileSync(taskPaths(account).xml).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xfe]));
  });
});
