/**
 * macOS: a launchd agent (launchd.plist(5)) in ~/Library/LaunchAgents, loaded into the user's
 * GUI domain with `launchctl bootstrap gui/<uid>`. launchd loads every plist there at login, so
 * an agent that could not be bootstrapped now (no GUI session, e.g. over ssh) still starts at
 * the next login.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build as buildPlist, parse as parsePlist } from "plist";
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

/** Reverse-DNS label, unique in the user's domain (launchd.plist(5) Label). */
export const LAUNCHD_LABEL = "dev.icecore.core";
const LAUNCHCTL = "launchctl";

export interface LaunchdPaths {
  plist: string;
  logDir: string;
  log: string;
}

export function launchdPaths(account: ServiceAccount): LaunchdPaths {
  const logDir = join(account.home, "Library", "Logs", "icecore");
  return { plist: join(account.home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`), logDir, log: join(logDir, "icecore.log") };
}

export function renderPlist(program: ServiceProgram, paths: LaunchdPaths): string {
  return buildPlist({
    Label: LAUNCHD_LABEL,
    ProgramArguments: [...program.command, ...program.args],
    RunAtLoad: true,
    // Restart icecore when it fails, not after a clean exit (SIGTERM at logout exits 0).
    KeepAlive: { SuccessfulExit: false },
    StandardOutPath: paths.log,
    StandardErrorPath: paths.log,
  });
}

/** `launchctl print` fields: `state = running`, `pid = 123`. */
function printedField(text: string, name: string): string | null {
  return new RegExp(`^\\s*${name} = (.+)$`, "m").exec(text)?.[1]?.trim() ?? null;
}

function programArgumentsOf(path: string): string[] | null {
  try {
    const parsed = parsePlist(readFileSync(path, "utf8")) as { ProgramArguments?: unknown };
    return Array.isArray(parsed.ProgramArguments) ? parsed.ProgramArguments.map(String) : null;
  } catch {
    return null;
  }
}

export function launchdManager(account: ServiceAccount): ServiceManager {
  const paths = launchdPaths(account);
  const domain = `gui/${account.uid}`;
  const target = `${domain}/${LAUNCHD_LABEL}`;
  const loaded = async (run: CommandRunner) => (await run([LAUNCHCTL, "print", target])).status === 0;
  return {
    name: "launchd",
    files(program: ServiceProgram): ServiceFile[] {
      return [{ path: paths.plist, content: new TextEncoder().encode(renderPlist(program, paths)), mode: 0o644 }];
    },

    async install(program, run, say) {
      // launchd opens the log file but does not create its directory.
      mkdirSync(paths.logDir, { recursive: true, mode: 0o700 });
      const change = writeServiceFiles(this.files(program));
      say(changeLine(change, paths.plist));
      let isLoaded = await loaded(run);
      if (isLoaded && change !== "unchanged") {
        // A loaded job keeps its old definition until it is booted out and bootstrapped again.
        await mustRun(run, [LAUNCHCTL, "bootout", target]);
        isLoaded = false;
      }
      // Clears a "disabled" override left by `launchctl disable`, which would stop it at login too.
      await mustRun(run, [LAUNCHCTL, "enable", target]);
      if (isLoaded) {
        await mustRun(run, [LAUNCHCTL, "kickstart", target]);
        say(`loaded in ${domain} and started (launchctl kickstart ${target})`);
        return;
      }
      const bootstrap = await run([LAUNCHCTL, "bootstrap", domain, paths.plist]);
      if (bootstrap.status !== 0) {
        const reason = (bootstrap.stderr.trim() || `exit status ${bootstrap.status}`).split("\n")[0];
        say(`could not load it into ${domain} now (${reason}): it loads at your next login`);
        say(`to load it now, from your GUI session run: launchctl bootstrap ${domain} ${paths.plist}`);
        return;
      }
      say(`loaded in ${domain} (launchctl bootstrap ${domain} ${paths.plist}); logs in ${paths.log}`);
    },

    async uninstall(run, say) {
      const isLoaded = await loaded(run);
      if (!existsSync(paths.plist) && !isLoaded && !existsSync(paths.logDir)) {
        say("not installed; nothing to remove");
        return;
      }
      const audit = auditLogOf(programArgumentsOf(paths.plist) ?? []);
      if (isLoaded) {
        await mustRun(run, [LAUNCHCTL, "bootout", target]);
        say(`stopped and unloaded (launchctl bootout ${target})`);
      }
      for (const path of removeServiceFiles([paths.plist])) say(`removed ${path}`);
      if (existsSync(paths.logDir)) {
        rmSync(paths.logDir, { recursive: true, force: true });
        say(`removed ${paths.logDir} (the service's logs)`);
      }
      if (audit) say(`the audit trail ${audit} is kept`);
    },

    async status(run): Promise<ServiceStatus> {
      const installed = existsSync(paths.plist);
      const command = installed ? programArgumentsOf(paths.plist) : null;
      const status = statusOf({ manager: "launchd", installed, definition: paths.plist, command, logs: paths.log });
      const disabled = await run([LAUNCHCTL, "print-disabled", domain]);
      if (disabled.status === 0) {
        // `"dev.icecore.core" => disabled` (macOS 13+) or `=> true` (earlier).
        const override = new RegExp(`"${LAUNCHD_LABEL.replace(/\./g, "\\.")}" => (\\w+)`).exec(disabled.stdout)?.[1];
        status.enabled = installed && override !== "disabled" && override !== "true";
      }
      const printed = await run([LAUNCHCTL, "print", target]);
      if (printed.status === 0) {
        status.running = printedField(printed.stdout, "state") === "running";
        const pid = Number(printedField(printed.stdout, "pid"));
        status.pid = status.running && pid > 0 ? pid : null;
      } else if (printed.status !== 127) {
        status.running = false;
        if (installed) status.notes.push(`not loaded in ${domain}: it loads at the next login, or run launchctl bootstrap ${domain} ${paths.plist}`);
      }
      return status;
    },
  };
}
