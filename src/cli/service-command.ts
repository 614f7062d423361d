/**
 * `icecore service install|uninstall|status` (SPEC §10): a per-user service that runs
 * `icecore run --on-child-exit restart …` at login, without admin rights.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { CliError, EXIT } from "./exit-codes.ts";
import { parseFlagShape, splitChildCommand } from "./flags.ts";
import { loadCatalogue } from "./policy-source.ts";
import { parseRunFlags, RUN_FLAGS } from "./run-command.ts";
import { selfCommand } from "./self-command.ts";
import { defaultAuditPath } from "../audit/audit-log.ts";
import { ELEVATION_PREFIX } from "../commands/executor.ts";
import { runServiceCommand } from "../service/command-runner.ts";
import { serviceManagerFor, ServiceCommandFailed, type CommandRunner, type ServiceAccount, type ServiceManager, type ServiceProgram, type ServiceStatus } from "../service/index.ts";
import { TaskArgumentRefused } from "../service/task-scheduler.ts";

/** Run options the service sets itself: absolute paths, and the restart policy a service needs. */
const SET_BY_SERVICE = new Set(["on-child-exit", "audit-log", "policy", "allow-root", "debug"]);

export interface ServiceContext {
  os: NodeJS.Platform;
  account: ServiceAccount;
  run: CommandRunner;
  /** How the service starts icecore (default: this very executable). */
  self: string[];
  out: (text: string) => void;
}

function currentAccount(): ServiceAccount {
  const env = process.env;
  const home = (process.platform === "win32" ? env.USERPROFILE : env.HOME) || homedir();
  return { uid: process.getuid?.() ?? -1, home: resolve(home), name: userInfo().username, env };
}

export async function serviceCommand(argv: string[], context?: Partial<ServiceContext>): Promise<number> {
  const ctx: ServiceContext = {
    os: process.platform,
    account: currentAccount(),
    run: runServiceCommand,
    self: selfCommand(),
    out: (text) => process.stdout.write(text),
    ...context,
  };
  const [action, ...rest] = argv;
  if (action !== "install" && action !== "uninstall" && action !== "status") {
    throw new CliError(EXIT.USAGE, `service: ${action === undefined ? "an action is required" : `unknown action '${action}'`} (install, uninstall or status)`);
  }
  const command = `service ${action}`;
  // SPEC §7/§10: a per-user service; root has no business installing or owning one.
  if (ctx.account.uid === 0) {
    throw new CliError(EXIT.NOPERM, `${command}: refusing to run as root; icecore is a per-user service: run this as the user it is for, without sudo`);
  }
  const manager = serviceManagerFor(ctx.os, ctx.account);
  if (manager === null) throw new CliError(EXIT.UNAVAILABLE, `${command}: no user service manager is supported on ${ctx.os}`);
  const say = (line: string) => ctx.out(`icecore service: ${line}\n`);
  try {
    switch (action) {
      case "install":
        await manager.install(serviceProgram(rest, ctx), ctx.run, say);
        say("check it with: icecore service status");
        return EXIT.OK;
      case "uninstall":
        if (rest.length > 0) throw new CliError(EXIT.USAGE, `${command}: takes no options (got '${rest[0]}')`);
        await manager.uninstall(ctx.run, say);
        return EXIT.OK;
      case "status":
        return await statusAction(manager, rest, ctx);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof ServiceCommandFailed) throw new CliError(EXIT.UNAVAILABLE, `${command}: ${error.message}`);
    if (error instanceof TaskArgumentRefused) throw new CliError(EXIT.USAGE, `${command}: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM" || code === "EROFS" || code === "ENOSPC") {
      throw new CliError(EXIT.CONFIG, `${command}: cannot write ${(error as NodeJS.ErrnoException).path ?? "the service definition"}: ${code}`);
    }
    throw new CliError(EXIT.UNAVAILABLE, `${command}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Validates the run options as `run` would (64/78), then builds the service's command line. */
export function serviceProgram(argv: string[], ctx: Pick<ServiceContext, "self" | "account">): ServiceProgram {
  const command = "service install";
  const { flags, child } = parseRunFlags(argv, command);
  const raw = parseFlagShape(command, splitChildCommand(argv).own, RUN_FLAGS).values;
  if (flags["allow-root"]) throw new CliError(EXIT.USAGE, `${command}: --allow-root has no place in a per-user service`);
  if (raw["on-child-exit"] === "exit") {
    throw new CliError(EXIT.USAGE, `${command}: the service always runs with --on-child-exit restart (leave the option out)`);
  }
  const policy = flags.policy === undefined ? undefined : resolve(flags.policy);
  loadCatalogue(command, policy); // a refused policy is 78 now, not at the next login
  if (flags["elevate-with"] !== "none") {
    const tool = ELEVATION_PREFIX[flags["elevate-with"]][0]!;
    if (!existsSync(tool)) throw new CliError(EXIT.CONFIG, `${command}: --elevate-with ${flags["elevate-with"]}: ${tool} is not installed`);
  }
  const auditLog = resolve(flags["audit-log"] ?? defaultAuditPath(ctx.account.env));
  // One order whatever order the options were typed in, so the same install writes the same file.
  const args = ["run"];
  for (const name of Object.keys(RUN_FLAGS)) {
    const value = raw[name];
    if (SET_BY_SERVICE.has(name) || value === undefined) continue;
    args.push(`--${name}`, ...(value === true ? [] : [String(value)]));
  }
  if (policy !== undefined) args.push("--policy", policy);
  args.push("--on-child-exit", "restart", "--audit-log", auditLog);
  if (child !== null) args.push("--", resolveChild(child[0]!, command), ...child.slice(1));
  return { command: ctx.self, args, auditLog, elevation: flags["elevate-with"] };
}

/**
 * The service starts with the manager's environment, not this shell's PATH: the child is pinned
 * to an absolute path now, and must exist (exit 78 otherwise).
 */
function resolveChild(name: string, command: string): string {
  const path = isAbsolute(name) || /[\\/]/.test(name) ? resolve(name) : Bun.which(name);
  const refuse = (why: string) => new CliError(EXIT.CONFIG, `${command}: the child '${name}' ${why}; give the path of an executable or a command on PATH`);
  if (path === null || !existsSync(path)) throw refuse("does not exist");
  if (!statSync(path).isFile()) throw refuse("is not a file");
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw refuse("is not executable");
  }
  return path;
}

async function statusAction(manager: ServiceManager, argv: string[], ctx: ServiceContext): Promise<number> {
  if (argv.length > 1 || (argv.length === 1 && argv[0] !== "--json")) {
    throw new CliError(EXIT.USAGE, `service status: unexpected '${argv.find((a) => a !== "--json")}' (usage: icecore service status [--json])`);
  }
  const status = await manager.status(ctx.run);
  ctx.out(argv[0] === "--json" ? JSON.stringify(status) + "\n" : describe(status));
  return EXIT.OK;
}

function describe(status: ServiceStatus): string {
  const yesNo = (value: boolean | null) => (value === null ? "unknown" : value ? "yes" : "no");
  const lines: [string, string][] = [
    ["manager", status.manager],
    ["installed", status.installed ? `yes (${status.definition})` : `no (would be ${status.definition})`],
  ];
  if (status.installed) {
    lines.push(["enabled", yesNo(status.enabled)]);
    lines.push(["running", status.running && status.pid !== null ? `yes (pid ${status.pid})` : yesNo(status.running)]);
    if (status.command) lines.push(["command", status.command.join(" ")]);
    lines.push(["logs", status.logs]);
    lines.push(["audit", status.audit ?? "unknown"]);
  }
  for (const note of status.notes) lines.push(["note", note]);
  return lines.map(([key, value]) => `${`${key}:`.padEnd(11)}${value}\n`).join("");
}
