/**
 * Linux: a systemd user unit (systemd.unit(5), systemd.service(5)), enabled with
 * `systemctl --user`. Without a reachable user manager (a container, an ssh session without
 * lingering) the unit is still enabled offline, which `systemctl --user enable` does by files
 * alone, and install says how to start it now.
 */
import { existsSync, lstatSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
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

export const UNIT_NAME = "icecore.service";
const SYSTEMCTL = "systemctl";

/**
 * The sandboxing directives the unit carries (docs/install.md gives the reasons, and the tests
 * run the ExecStart line under each). Every one of them is seccomp-based and, in a user
 * manager, implies NoNewPrivileges= (systemd.exec(5)); so with --elevate-with, whose sudo and
 * pkexec are setuid, the unit carries none of them. Namespace-based directives (PrivateTmp=,
 * ProtectSystem=, ...) are absent on purpose: see docs/install.md.
 */
export const SANDBOX_DIRECTIVES: readonly (readonly [string, string])[] = [
  ["NoNewPrivileges", "yes"],
  // AF_NETLINK is for the UI child: Chromium watches network changes over NETLINK_ROUTE.
  ["RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"],
  ["SystemCallArchitectures", "native"],
  ["LockPersonality", "yes"],
  ["RestrictRealtime", "yes"],
  ["RestrictSUIDSGID", "yes"],
];

// Words that need no quoting: nothing systemd would split, unescape or expand.
const PLAIN_WORD = /^[A-Za-z0-9_@+=:,./-]+$/;

/**
 * One ExecStart word per systemd.service(5) "Command lines": double quotes keep whitespace,
 * C-style escapes inside them, "%%" for a literal "%" (specifiers) and "$$" for a literal "$"
 * (environment variable substitution); a lone ";" would separate commands, so it is "\;".
 */
export function quoteExecWord(word: string): string {
  if (word === ";") return "\\;";
  if (PLAIN_WORD.test(word)) return word;
  const escaped = word
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    .replace(/%/g, "%%")
    .replace(/\$/g, "$$$$");
  return `"${escaped}"`;
}

const C_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v", s: " ", "\\": "\\", '"': '"', "'": "'" };

/** Splits an ExecStart value back into words (the inverse of quoteExecWord, for reading a unit). */
export function splitExecLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let word = "";
    let quote: string | null = null;
    if (line[i] === '"' || line[i] === "'") quote = line[i++]!;
    while (i < line.length) {
      const c = line[i]!;
      if (quote ? c === quote : /\s/.test(c)) {
        if (quote) i++;
        break;
      }
      if (c === "\\" && i + 1 < line.length) {
        const next = line[i + 1]!;
        if (next === "x" && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
          word += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        word += C_ESCAPES[next] ?? next; // "\;" is a literal ";"
        i += 2;
        continue;
      }
      word += c;
      i++;
    }
    words.push(word.replace(/%%/g, "%").replace(/\$\$/g, "$"));
  }
  return words;
}

export interface SystemdPaths {
  unit: string;
  /** The link `systemctl --user enable` makes for WantedBy=default.target. */
  wants: string;
}

export function systemdPaths(account: ServiceAccount): SystemdPaths {
  const xdg = account.env.XDG_CONFIG_HOME;
  const config = xdg && xdg.startsWith("/") ? xdg : join(account.home, ".config");
  const dir = join(config, "systemd", "user");
  return { unit: join(dir, UNIT_NAME), wants: join(dir, "default.target.wants", UNIT_NAME) };
}

export function renderUnit(program: ServiceProgram): string {
  const execStart = [...program.command, ...program.args].map(quoteExecWord).join(" ");
  const sandbox =
    program.elevation === "none"
      ? ["# Sandboxing that icecore and its UI child work under (docs/install.md says why these).", ...SANDBOX_DIRECTIVES.map(([key, value]) => `${key}=${value}`)]
      : [`# No sandboxing directives: --elevate-with ${program.elevation} runs a setuid tool, and each of them implies NoNewPrivileges=.`];
  return [
    "# Written by `icecore service install`; `icecore service uninstall` removes it.",
    "[Unit]",
    "Description=icecore Core service (local mTLS API for its UI child)",
    // icecore restarts its child itself (--on-child-exit restart, at most 5 a minute) and then
    // exits with the child's status; systemd restarts icecore, and gives up after 5 in 5 minutes.
    "StartLimitIntervalSec=300",
    "StartLimitBurst=5",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${execStart}`,
    "Restart=on-failure",
    "RestartSec=2",
    ...sandbox,
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

function execStartOf(unitText: string): string[] | null {
  const line = unitText.split("\n").find((l) => l.startsWith("ExecStart="));
  return line === undefined ? null : splitExecLine(line.slice("ExecStart=".length));
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

/** Is a user manager there to talk to? (`systemctl --user show` reads a manager property.) */
async function probeManager(run: CommandRunner): Promise<{ reachable: true } | { reachable: false; reason: string; missing: boolean }> {
  const result = await run([SYSTEMCTL, "--user", "show", "--property=Version"]);
  if (result.status === 0) return { reachable: true };
  return { reachable: false, reason: firstLine(result.stderr) || `exit status ${result.status}`, missing: result.status === 127 };
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

export function systemdManager(account: ServiceAccount): ServiceManager {
  const paths = systemdPaths(account);
  const user = (...args: string[]) => [SYSTEMCTL, "--user", ...args];
  return {
    name: "systemd",
    files(program: ServiceProgram): ServiceFile[] {
      return [{ path: paths.unit, content: new TextEncoder().encode(renderUnit(program)), mode: 0o644 }];
    },

    async install(program, run, say) {
      const manager = await probeManager(run);
      if (!manager.reachable && manager.missing) throw new Error(`systemctl is not installed (${manager.reason}); icecore's Linux service needs systemd`);
      const change = writeServiceFiles(this.files(program));
      say(changeLine(change, paths.unit));
      if (!manager.reachable) {
        // `enable` works on files alone: the unit starts with the user's next login session.
        await mustRun(run, user("enable", UNIT_NAME));
        say(`no systemd user manager is reachable (${manager.reason}): enabled for your next login`);
        say(`to start it now, from your login session run: systemctl --user daemon-reload && systemctl --user start ${UNIT_NAME}`);
        return;
      }
      if (change !== "unchanged") await mustRun(run, user("daemon-reload"));
      // A running service keeps its old command line until restarted.
      if (change === "updated") await mustRun(run, user("try-restart", UNIT_NAME));
      await mustRun(run, user("enable", "--now", UNIT_NAME));
      say(`enabled and started (systemctl --user enable --now ${UNIT_NAME})`);
    },

    async uninstall(run, say) {
      if (!existsSync(paths.unit) && !isLink(paths.wants)) {
        say("not installed; nothing to remove");
        return;
      }
      const audit = existsSync(paths.unit) ? auditLogOf(execStartOf(readFileSync(paths.unit, "utf8")) ?? []) : null;
      const manager = await probeManager(run);
      if (manager.reachable) await mustRun(run, user("disable", "--now", UNIT_NAME));
      else await run(user("disable", UNIT_NAME));
      // Whatever systemctl managed, the enable link must not outlive the unit it points to.
      if (isLink(paths.wants)) rmSync(paths.wants);
      for (const path of removeServiceFiles([paths.unit])) say(`removed ${path}`);
      if (manager.reachable) {
        await mustRun(run, user("daemon-reload"));
        await run(user("reset-failed", UNIT_NAME));
        say(`stopped and disabled (systemctl --user disable --now ${UNIT_NAME})`);
      } else {
        say(`disabled; no systemd user manager is reachable (${manager.reason}), so nothing was running under one`);
      }
      if (audit) say(`the audit trail ${audit} is kept`);
    },

    async status(run): Promise<ServiceStatus> {
      const installed = existsSync(paths.unit);
      const command = installed ? execStartOf(readFileSync(paths.unit, "utf8")) : null;
      const status = statusOf({ manager: "systemd", installed, definition: paths.unit, command, logs: `journalctl --user -u ${UNIT_NAME}` });
      const enabled = await run(user("is-enabled", UNIT_NAME));
      if (enabled.status !== 127) status.enabled = enabled.stdout.trim() === "enabled";
      const manager = await probeManager(run);
      if (!manager.reachable) {
        status.notes.push(`no systemd user manager is reachable (${manager.reason}), so whether it runs cannot be told`);
        return status;
      }
      const show = await run(user("show", UNIT_NAME, "--property=ActiveState,SubState,MainPID"));
      const props = Object.fromEntries(
        show.stdout
          .split("\n")
          .filter((l) => l.includes("="))
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      if (show.status === 0) {
        status.running = props.ActiveState === "active";
        const pid = Number(props.MainPID);
        status.pid = status.running && pid > 0 ? pid : null;
        if (props.ActiveState && props.ActiveState !== "active") status.notes.push(`state: ${props.ActiveState} (${props.SubState ?? "?"})`);
      }
      return status;
    },
  };
}
