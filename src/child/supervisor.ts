/**
 * SPEC §4.1/§4.2: the child's argv gets exactly `--pipe-name <name>` appended and its
 * environment is icecore's, untouched. SPEC §2: its exit status becomes icecore's.
 */
import type { Subprocess } from "bun";
import { constants } from "node:os";

export interface ChildExit {
  /** Exit code, or 128 + signal number when a signal ended it (the shell convention). */
  status: number;
  code: number | null;
  signal: string | null;
}

export interface SupervisedChild {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  readonly hasExited: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
  terminate(graceMs?: number): Promise<ChildExit>;
}

export class ChildSpawnFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChildSpawnFailed";
  }
}

export function childArgv(command: readonly string[], pipeName: string): string[] {
  return [...command, "--pipe-name", pipeName];
}

/**
 * `guard` is the platform's orphan guard (an argv prefix such as `setpriv --pdeathsig KILL --`
 * that execs the command in the same process): the child dies with icecore even when icecore is
 * killed with SIGKILL (SPEC §7).
 */
export function spawnChild(command: readonly string[], pipeName: string, guard: readonly string[] = []): SupervisedChild {
  let proc: Subprocess;
  try {
    // No `env` option: Bun then hands the child this process's environment as it is, without
    // copying process.env into a new block first (SPEC §4.2, the same variables either way).
    proc = Bun.spawn([...guard, ...childArgv(command, pipeName)], { stdio: ["inherit", "inherit", "inherit"] });
  } catch (error) {
    throw new ChildSpawnFailed(`cannot start the child ${JSON.stringify(command[0])}: ${(error as Error).message}`);
  }
  let done = false;
  const exited = proc.exited.then((): ChildExit => {
    done = true;
    const signal = proc.signalCode == null ? null : String(proc.signalCode);
    const code = proc.exitCode;
    const signalNumber = signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
    return { status: code ?? 128 + signalNumber, code, signal };
  });
  return {
    pid: proc.pid,
    exited,
    get hasExited() {
      return done;
    },
    async terminate(graceMs = 3000) {
      if (!done) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => {
          if (!done) proc.kill("SIGKILL");
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}
