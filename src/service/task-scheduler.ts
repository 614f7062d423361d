/**
 * Windows: a Task Scheduler task that starts icecore at the user's logon, as that user, with
 * least privilege (Task Scheduler schema 1.2), registered with `schtasks /Create /XML`, which
 * needs no administrator rights for a task that runs as its creator. schtasks reads the XML as
 * UTF-16, so the file is UTF-16LE with a byte order mark.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import xmlbuilder from "xmlbuilder";
import { DOMParser } from "@xmldom/xmldom";
import {
  auditLogOf,
  changeLine,
  mustRun,
  removeServiceFiles,
  statusOf,
  writeServiceFiles,
  type CommandRunner,
  type ServiceAccount,
  type ServiceFile,
  type ServiceManager,
  type ServiceProgram,
  type ServiceStatus,
} from "./service.ts";

export const TASK_NAME = "icecore";
const SCHTASKS = "schtasks";
const TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task";

/** A program line Task Scheduler would mangle: it expands %NAME% in Command and Arguments. */
export class TaskArgumentRefused extends Error {}

/**
 * One argument as the Microsoft C runtime (and Bun's argv on Windows) splits a command line:
 * quotes around anything with whitespace or quotes, a quote escaped by a backslash, and
 * backslashes doubled only where they precede a quote.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const c of arg) {
    if (c === "\\") {
      backslashes++;
      continue;
    }
    out += c === '"' ? "\\".repeat(backslashes * 2 + 1) + '"' : "\\".repeat(backslashes) + c;
    backslashes = 0;
  }
  return out + "\\".repeat(backslashes * 2) + '"';
}

/** The inverse of quoteWindowsArg, for reading the task back. */
export function splitWindowsArgs(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let arg = "";
    let quoted = false;
    while (i < line.length && (quoted || !/\s/.test(line[i]!))) {
      let backslashes = 0;
      while (line[i] === "\\") {
        backslashes++;
        i++;
      }
      if (line[i] === '"') {
        arg += "\\".repeat(Math.floor(backslashes / 2));
        if (backslashes % 2 === 1) arg += '"';
        else quoted = !quoted;
        i++;
      } else {
        arg += "\\".repeat(backslashes);
        if (i < line.length && (quoted || !/\s/.test(line[i]!))) arg += line[i++];
      }
    }
    args.push(arg);
  }
  return args;
}

export interface TaskPaths {
  xml: string;
}

export function taskPaths(account: ServiceAccount): TaskPaths {
  const local = account.env.LOCALAPPDATA ?? join(account.home, "AppData", "Local");
  return { xml: join(local, "icecore", "icecore-task.xml") };
}

/** `DOMAIN\user`, the form Task Scheduler shows in a task's principal. */
export function taskUser(account: ServiceAccount): string {
  return account.env.USERDOMAIN && account.env.USERNAME ? `${account.env.USERDOMAIN}\\${account.env.USERNAME}` : account.name;
}

export function renderTaskXml(program: ServiceProgram, account: ServiceAccount): string {
  const [command, ...prefix] = program.command;
  const args = [...prefix, ...program.args];
  for (const word of [command!, ...args]) {
    if (/%[^%]+%/.test(word)) throw new TaskArgumentRefused(`Task Scheduler would expand the environment variables in '${word}'`);
  }
  const user = taskUser(account);
  const task = {
    Task: {
      "@version": "1.2",
      "@xmlns": TASK_NAMESPACE,
      RegistrationInfo: { Description: "icecore Core service, installed by `icecore service install`; `icecore service uninstall` removes it." },
      Triggers: { LogonTrigger: { Enabled: true, UserId: user } },
      Principals: { Principal: { "@id": "Author", UserId: user, LogonType: "InteractiveToken", RunLevel: "LeastPrivilege" } },
      Settings: {
        MultipleInstancesPolicy: "IgnoreNew",
        // Laptops on battery: the defaults would refuse to start it, or stop it on unplugging.
        DisallowStartIfOnBatteries: false,
        StopIfGoingOnBatteries: false,
        AllowHardTerminate: true,
        StartWhenAvailable: false,
        RunOnlyIfNetworkAvailable: false,
        IdleSettings: { StopOnIdleEnd: false, RestartOnIdle: false },
        AllowStartOnDemand: true,
        Enabled: true,
        Hidden: false,
        RunOnlyIfIdle: false,
        WakeToRun: false,
        // PT0S: no time limit (the default stops a task after 72 hours).
        ExecutionTimeLimit: "PT0S",
        Priority: 7,
        RestartOnFailure: { Interval: "PT1M", Count: 5 },
      },
      Actions: { "@Context": "Author", Exec: { Command: command, Arguments: args.map(quoteWindowsArg).join(" ") } },
    },
  };
  return xmlbuilder.create(task, { version: "1.0", encoding: "UTF-16" }).end({ pretty: true, newline: "\r\n" }) + "\r\n";
}

/** UTF-16LE with a byte order mark, which is what schtasks /XML reads. */
export function encodeUtf16(text: string): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]));
}

function commandOf(path: string): string[] | null {
  try {
    const bytes = readFileSync(path);
    const text = new TextDecoder("utf-16le").decode(bytes.subarray(bytes[0] === 0xff && bytes[1] === 0xfe ? 2 : 0));
    const doc = new DOMParser().parseFromString(text, "text/xml");
    const command = doc.getElementsByTagName("Command")[0]?.textContent;
    if (!command) return null;
    return [command, ...splitWindowsArgs(doc.getElementsByTagName("Arguments")[0]?.textContent ?? "")];
  } catch {
    return null;
  }
}

/** One CSV line of `schtasks /Query /FO CSV /NH`: "\icecore","N/A","Running". */
function csvFields(line: string): string[] {
  return [...line.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replace(/""/g, '"'));
}

export function taskSchedulerManager(account: ServiceAccount): ServiceManager {
  const paths = taskPaths(account);
  const exists = async (run: CommandRunner) => (await run([SCHTASKS, "/Query", "/TN", TASK_NAME])).status === 0;
  return {
    name: "task-scheduler",
    files(program: ServiceProgram): ServiceFile[] {
      return [{ path: paths.xml, content: encodeUtf16(renderTaskXml(program, account)), mode: 0o600 }];
    },

    async install(program, run, say) {
      const files = this.files(program);
      const registered = await exists(run);
      const change = writeServiceFiles(files);
      say(changeLine(change, paths.xml));
      if (!registered || change !== "unchanged") {
        // A running instance keeps its old command line: end it before replacing the task.
        if (registered) await run([SCHTASKS, "/End", "/TN", TASK_NAME]);
        await mustRun(run, [SCHTASKS, "/Create", "/TN", TASK_NAME, "/XML", paths.xml, "/F"]);
        say(`registered the logon task '${TASK_NAME}' for ${taskUser(account)} (least privilege)`);
      }
      // With MultipleInstancesPolicy IgnoreNew, /Run on a running task starts nothing.
      await mustRun(run, [SCHTASKS, "/Run", "/TN", TASK_NAME]);
      say(`started (schtasks /Run /TN ${TASK_NAME})`);
    },

    async uninstall(run, say) {
      const registered = await exists(run);
      if (!registered && !existsSync(paths.xml)) {
        say("not installed; nothing to remove");
        return;
      }
      const audit = auditLogOf(commandOf(paths.xml) ?? []);
      if (registered) {
        await run([SCHTASKS, "/End", "/TN", TASK_NAME]);
        await mustRun(run, [SCHTASKS, "/Delete", "/TN", TASK_NAME, "/F"]);
        say(`ended and deleted the task '${TASK_NAME}'`);
      }
      for (const path of removeServiceFiles([paths.xml])) say(`removed ${path}`);
      if (audit) say(`the audit trail ${audit} is kept`);
    },

    async status(run): Promise<ServiceStatus> {
      const installed = existsSync(paths.xml);
      const command = installed ? commandOf(paths.xml) : null;
      const status = statusOf({
        manager: "task-scheduler",
        installed,
        definition: paths.xml,
        command,
        logs: "not kept: Task Scheduler keeps no output of a task (run `icecore run` in a console to see its log)",
        notes: ["Task Scheduler does not report the process id of a running task"],
      });
      const query = await run([SCHTASKS, "/Query", "/TN", TASK_NAME, "/FO", "CSV", "/NH"]);
      if (query.status === 0) {
        const state = csvFields(query.stdout.trim().split("\n").at(-1) ?? "")[2] ?? "";
        status.enabled = state !== "Disabled";
        status.running = state === "Running";
      } else if (query.status !== 127) {
        status.enabled = false;
        status.running = false;
        if (installed) status.notes.push(`the task '${TASK_NAME}' is not registered: run icecore service install again`);
      }
      return status;
    },
  };
}
