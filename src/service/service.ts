/**
 * SPEC §10: the per-user service, whatever manages it. Each OS manager (systemd.ts, launchd.ts,
 * task-scheduler.ts) renders its definition file and runs its manager's commands through an
 * injected CommandRunner, so tests check the exact argv where no user manager can run.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** What the service starts: icecore's own executable and the `run` arguments. */
export interface ServiceProgram {
  /** Absolute argv prefix that starts icecore: the compiled executable, or Bun and main.ts. */
  command: string[];
  /** `run`, its options (absolute paths, `--on-child-exit restart`), then `--` and the child. */
  args: string[];
  /** Absolute path of the audit trail the service writes (`--audit-log`). */
  auditLog: string;
  /** `--elevate-with`: sudo and pkexec are setuid, so the sandbox must let them gain privileges. */
  elevation: "none" | "sudo" | "pkexec";
}

/** The account the service belongs to (never root: the CLI refuses uid 0). */
export interface ServiceAccount {
  uid: number;
  /** Absolute home directory. */
  home: string;
  /** Login name, as Task Scheduler names the user (DOMAIN\user on Windows). */
  name: string;
  env: Record<string, string | undefined>;
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs one command (argv, never a shell) and reports its exit status and output. */
export type CommandRunner = (argv: string[]) => Promise<CommandResult>;

export interface ServiceFile {
  path: string;
  content: Uint8Array;
  mode: number;
}

export type FileChange = "created" | "updated" | "unchanged";

export interface ServiceStatus {
  manager: string;
  installed: boolean;
  /** Starts at login. null: could not be told (the manager is not reachable). */
  enabled: boolean | null;
  running: boolean | null;
  pid: number | null;
  /** The definition file (unit, plist, task XML). */
  definition: string;
  /** The command line the installed definition runs, read back from it. */
  command: string[] | null;
  /** Where the service's log lines go: a path, or the command that shows them. */
  logs: string;
  /** The audit trail named by the installed definition. */
  audit: string | null;
  notes: string[];
}

export interface ServiceManager {
  readonly name: string;
  /** The definition file(s) install writes, byte for byte. */
  files(program: ServiceProgram): ServiceFile[];
  install(program: ServiceProgram, run: CommandRunner, say: (line: string) => void): Promise<void>;
  uninstall(run: CommandRunner, say: (line: string) => void): Promise<void>;
  status(run: CommandRunner): Promise<ServiceStatus>;
}

/** A manager command failed in a way install/uninstall cannot work around. */
export class ServiceCommandFailed extends Error {
  constructor(argv: string[], result: CommandResult) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split("\n")[0] || `exit status ${result.status}`;
    super(`'${argv.join(" ")}' failed: ${detail}`);
    this.name = "ServiceCommandFailed";
  }
}

/** Runs a command that must succeed. */
export async function mustRun(run: CommandRunner, argv: string[]): Promise<CommandResult> {
  const result = await run(argv);
  if (result.status !== 0) throw new ServiceCommandFailed(argv, result);
  return result;
}

/**
 * Writes each file only when its bytes differ, so a second install changes nothing (not even a
 * modification time). Written to a temporary name first and renamed, so a manager never reads a
 * half-written definition.
 */
export function writeServiceFiles(files: ServiceFile[]): FileChange {
  let change: FileChange = "unchanged";
  for (const file of files) {
    const existing = existsSync(file.path) ? readFileSync(file.path) : null;
    if (existing !== null && Buffer.compare(existing, file.content) === 0) {
      chmodSync(file.path, file.mode);
      continue;
    }
    mkdirSync(dirname(file.path), { recursive: true, mode: 0o700 });
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.content, { mode: file.mode });
    renameSync(temporary, file.path);
    if (existing !== null) change = "updated";
    else if (change === "unchanged") change = "created";
  }
  return change;
}

/** What install says about its definition file. */
export function changeLine(change: FileChange, path: string): string {
  return change === "unchanged" ? `${path} is up to date` : `${change === "created" ? "wrote" : "updated"} ${path}`;
}

/** Removes the given files; returns those that were there. */
export function removeServiceFiles(paths: string[]): string[] {
  const removed = paths.filter((path) => existsSync(path));
  for (const path of removed) rmSync(path, { force: true });
  return removed;
}

/** A status with what the definition file tells; enabled/running/pid are for the manager to fill. */
export function statusOf(fields: Pick<ServiceStatus, "manager" | "installed" | "definition" | "command" | "logs"> & { notes?: string[] }): ServiceStatus {
  return { enabled: null, running: null, pid: null, audit: fields.command ? auditLogOf(fields.command) : null, ...fields, notes: fields.notes ?? [] };
}

/** The audit path from a `run` argv (the value after `--audit-log`, before any `--`). */
export function auditLogOf(args: string[]): string | null {
  const end = args.indexOf("--");
  const own = end === -1 ? args : args.slice(0, end);
  const at = own.indexOf("--audit-log");
  return at === -1 ? null : (own[at + 1] ?? null);
}
