/**
 * SPEC §6 execution: `Bun.spawn` with an argv array (never a shell), stdin closed, cwd fixed,
 * env = a minimal PATH and LANG plus the command's allow-list, timeout -> SIGTERM then SIGKILL,
 * output capped.
 *
 * Process tree: the child is spawned with `detached: true`, which in Bun calls setsid(2): the child
 * leads a new session and process group whose id is its pid. Signals go to the GROUP
 * (`kill(-pgid)`), so a command's own children (a tool that forks a helper, a script that runs
 * `sleep`) die with it on timeout or cancel. When the main process exits, whatever is left in its
 * group is killed too: a command does not get to leave processes behind. (A descendant that calls
 * setsid itself leaves the group; the output pipes are then abandoned after the grace period so
 * the request still completes.)
 *
 * Output: each stream is read chunk by chunk; bytes up to `max_output_bytes` are kept, the rest is
 * read and dropped (never buffered), so a command printing 50 MB costs icecore no more memory
 * than one that prints 1 MB, and never blocks on a full pipe.
 *
 * "stdin closed" is /dev/null (`stdin: "ignore"`): a truly closed fd 0 would be reused by the next
 * open() in the child, which is a classic source of bugs; /dev/null gives an immediate EOF.
 *
 * No orphans (SPEC §7): the runtime passes the platform's orphan guard, an argv prefix that execs
 * the program in the same process after tying its life to icecore's (Linux: `setpriv --pdeathsig
 * KILL --`), so a command still running when icecore is SIGKILLed is killed by the kernel. Same
 * pid, same process group: nothing else here changes. The guard cannot hand a program its own
 * argv[0] (multi-call tools reached through a symlink, spawnName()), so such a program runs
 * unguarded rather than as a different tool.
 */
import { accessSync, constants as fsConstants } from "node:fs";
import { refusals } from "./errors.ts";
import { buildArgv } from "./argv-builder.ts";
import { FIXED_PATH } from "./executable.ts";
import type { ArgValues, CommandSpec, ElevateWith, RunResult } from "./types.ts";

/** SPEC §6: sync commands get a short grace between SIGTERM and SIGKILL; jobs get 5 s (jobs.ts). */
export const SYNC_KILL_GRACE_MS = 2_000;
/** How long pipes held open by an escaped descendant may delay the result after the exit. */
const PIPE_DRAIN_GRACE_MS = 2_000;
export const FIXED_CWD = "/";

/** SPEC §6: elevation is never a prompt: `sudo -n` fails instead of asking, pkexec gets no tty agent. */
export const ELEVATION_PREFIX: Record<Exclude<ElevateWith, "none">, readonly string[]> = {
  sudo: ["/usr/bin/sudo", "-n", "--"],
  pkexec: ["/usr/bin/pkexec", "--disable-internal-agent"],
};

/** PATH and LANG fixed; allow-listed variables copied from icecore's own environment when set. */
export function commandEnv(envAllow: readonly string[], source: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: FIXED_PATH, LANG: "C.UTF-8" };
  for (const name of envAllow) {
    const value = source[name];
    if (value !== undefined && name !== "PATH" && name !== "LANG") env[name] = value;
  }
  return env;
}

/**
 * The complete argv to spawn: [elevation prefix...] executable, template-built args. The executable
 * is the REAL path resolved at load (executable.ts), never re-resolved through a symlink.
 */
export function spawnArgv(command: CommandSpec, values: ArgValues, elevateWith: ElevateWith): string[] {
  if (command.executable === null) throw new Error(`internal: ${command.name} has no executable`);
  const argv = [command.executable, ...buildArgv(command, values)];
  if (!command.elevate) return argv;
  if (elevateWith === "none") throw refusals.elevationUnavailable(command.name);
  return [...ELEVATION_PREFIX[elevateWith], ...argv];
}

/**
 * The argv[0] the program sees: the path as configured (`/usr/bin/unxz`, whose real path is xz),
 * while the real path is what is executed. Elevated commands are started by sudo/pkexec, which set
 * argv[0] themselves.
 */
export function spawnName(command: CommandSpec): string | undefined {
  if (command.elevate || command.argv0 === null || command.argv0 === command.executable) return undefined;
  return command.argv0;
}

/** Signal the whole process group; fall back to the pid alone if the group is already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

export type StopReason = "timed_out" | "cancelled";

export interface ProcessSpec {
  /** argv[0] is the file executed. */
  argv: readonly string[];
  /** What the program sees as argv[0], when not argv[0] itself. */
  argv0?: string;
  /** The orphan guard: an argv prefix that execs argv[0] tied to icecore's life (see above). */
  guard?: readonly string[];
  env: Record<string, string>;
  timeoutMs: number;
  killGraceMs: number;
  /** Per stream. Bytes past this are read and discarded. */
  maxOutputBytes: number;
  /** Keep the bytes (sync commands). Jobs stream them through onOutput instead. */
  capture: boolean;
  onOutput?: (stream: "stdout" | "stderr", bytes: Uint8Array) => void;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  truncated: boolean;
  stoppedBy: StopReason | null;
  durationMs: number;
}

export interface ProcessHandle {
  readonly pid: number;
  readonly finished: Promise<ProcessOutcome>;
  /** SIGTERM to the group now, SIGKILL after the grace. Idempotent; the first reason wins. */
  stop(reason: StopReason): void;
}

/** Thrown when the kernel refuses to start the program (removed after load, EACCES, ...). */
export class SpawnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpawnError";
  }
}

interface CapState {
  kept: number;
  truncated: boolean;
}

/**
 * Output past the cap is read (the program is drained, not blocked on a full pipe) and dropped.
 * Bun hands each chunk over in a new buffer that its collector does not count towards a
 * collection, so dropped chunks stay in memory until something else triggers one: a CI run saw
 * +459 MB of RSS for 200 MB of output through a 1 MiB cap. A full collection after every
 * DROPPED_BYTES_PER_COLLECTION dropped (per stream) bounds that by the threshold, whatever the
 * volume and whatever else the process is doing; it costs a collection per 16 MiB only when a
 * command overruns its cap.
 */
const DROPPED_BYTES_PER_COLLECTION = 16 * 2 ** 20;

async function drain(
  stream: ReadableStream<Uint8Array>,
  cap: number,
  state: CapState,
  keep: ((bytes: Uint8Array) => void) | null,
  abandon: Promise<void>,
): Promise<void> {
  const reader = stream.getReader();
  let abandoned = false;
  void abandon.then(() => {
    abandoned = true;
    reader.cancel().catch(() => {});
  });
  let dropped = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || abandoned) return;
      const room = cap - state.kept;
      if (room > 0) {
        const part = value.byteLength <= room ? value : value.subarray(0, room);
        state.kept += part.byteLength;
        keep?.(part.slice()); // copy: only the kept (bounded) bytes are retained
      }
      if (value.byteLength > room) {
        state.truncated = true;
        dropped += value.byteLength - Math.max(room, 0);
        if (dropped >= DROPPED_BYTES_PER_COLLECTION) {
          dropped = 0;
          Bun.gc(true);
        }
      }
    }
  } catch {
    // A cancelled or broken pipe ends the stream; what was read stays.
  } finally {
    reader.releaseLock();
  }
}


/** The argv to spawn: behind the orphan guard when there is one and the program needs no argv[0] of its own. */
function guardedArgv(spec: ProcessSpec): string[] {
  if (!spec.guard?.length || spec.argv0 !== undefined) return [...spec.argv];
  // The guard starts whatever happens to the program's exec; check here, so a program removed
  // after load is still a SpawnError (503), not the guard's exit status 127.
  try {
    accessSync(spec.argv[0]!, fsConstants.X_OK);
  } catch (err) {
    throw new SpawnError(`cannot start ${spec.argv[0]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return [...spec.guard, ...spec.argv];
}

export function startProcess(spec: ProcessSpec): ProcessHandle {
  const started = performance.now();
  const argv = guardedArgv(spec);
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn(argv, {
      ...(spec.argv0 === undefined ? {} : { argv0: spec.argv0 }),
      cwd: FIXED_CWD,
      env: spec.env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
  } catch (err) {
    throw new SpawnError(`cannot start ${spec.argv[0]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const pid = proc.pid;
  let stoppedBy: StopReason | null = null;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  let exited = false;

  const stop = (reason: StopReason) => {
    if (exited || stoppedBy) return;
    stoppedBy = reason;
    signalGroup(pid, "SIGTERM");
    killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), spec.killGraceMs);
  };
  const timeoutTimer = setTimeout(() => stop("timed_out"), spec.timeoutMs);

  let abandonPipes!: () => void;
  const abandon = new Promise<void>((resolve) => (abandonPipes = resolve));
  const out = { kept: 0, truncated: false };
  const err = { kept: 0, truncated: false };
  const outChunks: Uint8Array[] = [];
  const errChunks: Uint8Array[] = [];
  const sink = (stream: "stdout" | "stderr", chunks: Uint8Array[]) => (bytes: Uint8Array) => {
    if (spec.capture) chunks.push(bytes);
    spec.onOutput?.(stream, bytes);
  };
  const reading = Promise.all([
    drain(proc.stdout, spec.maxOutputBytes, out, sink("stdout", outChunks), abandon),
    drain(proc.stderr, spec.maxOutputBytes, err, sink("stderr", errChunks), abandon),
  ]);

  const finished = (async (): Promise<ProcessOutcome> => {
    await proc.exited;
    exited = true;
    clearTimeout(timeoutTimer);
    if (killTimer) clearTimeout(killTimer);
    // The command is its process group: nothing it started outlives it.
    signalGroup(pid, "SIGKILL");
    const grace = setTimeout(abandonPipes, PIPE_DRAIN_GRACE_MS);
    await reading;
    clearTimeout(grace);
    return {
      exitCode: proc.exitCode,
      signal: proc.signalCode === null || proc.signalCode === undefined ? null : String(proc.signalCode),
      stdout: Buffer.concat(outChunks, out.kept),
      stderr: Buffer.concat(errChunks, err.kept),
      truncated: out.truncated || err.truncated,
      stoppedBy,
      durationMs: performance.now() - started,
    };
  })();

  return { pid, finished, stop };
}

export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Run a synchronous command to completion. The caller has validated `values` (argv-builder) and
 * holds a concurrency slot. Elevation is refused before anything is spawned.
 */
export async function runCommand(
  command: CommandSpec,
  values: ArgValues,
  opts: { elevateWith: ElevateWith; env?: Record<string, string | undefined>; guard?: readonly string[] },
): Promise<RunResult> {
  if (command.inProcess) {
    const started = performance.now();
    const stdout = JSON.stringify(command.inProcess()) + "\n";
    return { exit_code: 0, stdout, stderr: "", duration_ms: roundMs(performance.now() - started), truncated: false, timed_out: false, signal: null };
  }
  if (!command.available) throw refusals.unavailable(command.name, command.unavailableReason ?? "unavailable");
  const argv = spawnArgv(command, values, opts.elevateWith);
  const argv0 = spawnName(command);
  const handle = startProcess({
    argv,
    ...(argv0 === undefined ? {} : { argv0 }),
    ...(opts.guard ? { guard: opts.guard } : {}),
    env: commandEnv(command.envAllow, opts.env),
    timeoutMs: command.timeoutMs,
    killGraceMs: SYNC_KILL_GRACE_MS,
    maxOutputBytes: command.maxOutputBytes,
    capture: true,
  });
  const r = await handle.finished;
  return {
    exit_code: r.exitCode,
    stdout: decoder.decode(r.stdout),
    stderr: decoder.decode(r.stderr),
    duration_ms: roundMs(r.durationMs),
    truncated: r.truncated,
    timed_out: r.stoppedBy === "timed_out",
    signal: r.signal,
  };
}
