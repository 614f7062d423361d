/**
 * Spawning the processes a measurement times, reading their output line by line with the moment
 * each line arrived, and making sure every one of them ends: each wait has a deadline, and the
 * runner kills whatever a failed measurement left behind (`stopAll`).
 */
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { constants } from "node:os";

export interface TimedLine {
  text: string;
  /** `performance.now()` in the bench process when the line was read. */
  at: number;
}

export interface SpawnOptions {
  cwd?: string;
  /** Bytes written to the process's stdin, which is then closed. Default: no stdin. */
  stdin?: string;
  /** Send stderr to this file instead of reading it (for runs that log a line per request). */
  stderrFile?: string;
  /** The environment; default: the bench's own. */
  env?: Record<string, string | undefined>;
  /** Called with each stderr line as it arrives (progress of a long-running tool). */
  onStderrLine?: (line: string) => void;
}

export interface LineProcess {
  readonly pid: number;
  readonly argv: readonly string[];
  /** `performance.now()` taken just before the spawn. */
  readonly spawnedAt: number;
  readonly stdoutLines: TimedLine[];
  readonly stderrLines: TimedLine[];
  /** Resolves with the exit status (128 + signal number when a signal ended it) once all output is read. */
  readonly exited: Promise<number>;
  /** The first line (already read or still to come) for which `pick` returns a value. */
  waitForLine<T>(stream: "stdout" | "stderr", pick: (line: string) => T | undefined, timeoutMs: number): Promise<{ value: T; at: number }>;
  /** Signal, then SIGKILL after `graceMs`; resolves with the exit status. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number>;
  /** The last lines of stderr (or of the stderr file), for an error message. */
  stderrTail(lines?: number): string;
}

const live = new Set<LineProcess>();

interface Waiter {
  stream: "stdout" | "stderr";
  pick: (line: string) => unknown;
  resolve: (hit: { value: unknown; at: number }) => void;
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: TimedLine) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    const at = performance.now();
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      onLine({ text: buffer.slice(0, nl), at });
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer) onLine({ text: buffer, at: performance.now() });
}

export function spawnProcess(argv: readonly string[], options: SpawnOptions = {}): LineProcess {
  const waiters: Waiter[] = [];
  const stdoutLines: TimedLine[] = [];
  const stderrLines: TimedLine[] = [];
  const stdin = options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin);
  const spawnedAt = performance.now();
  const proc: Subprocess = Bun.spawn([...argv], {
    cwd: options.cwd,
    env: options.env,
    stdin,
    stdout: "pipe",
    stderr: options.stderrFile ? Bun.file(options.stderrFile) : "pipe",
  });
  const deliver = (stream: "stdout" | "stderr", into: TimedLine[]) => (line: TimedLine) => {
    into.push(line);
    if (stream === "stderr") options.onStderrLine?.(line.text);
    for (const waiter of [...waiters]) {
      if (waiter.stream !== stream) continue;
      const value = waiter.pick(line.text);
      if (value !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve({ value, at: line.at });
      }
    }
  };
  const reading = [readLines(proc.stdout as ReadableStream<Uint8Array>, deliver("stdout", stdoutLines))];
  if (!options.stderrFile) reading.push(readLines(proc.stderr as ReadableStream<Uint8Array>, deliver("stderr", stderrLines)));
  const exited = Promise.all([proc.exited, ...reading]).then(([code]) => {
    live.delete(handle);
    return proc.signalCode ? 128 + (signalNumber(String(proc.signalCode)) ?? 0) : (code as number);
  });

  const stderrTail = (count = 8) => {
    const text = options.stderrFile ? safeRead(options.stderrFile) : stderrLines.map((l) => l.text).join("\n");
    return text.trimEnd().split("\n").slice(-count).join("\n");
  };

  const handle: LineProcess = {
    pid: proc.pid,
    argv,
    spawnedAt,
    stdoutLines,
    stderrLines,
    exited,
    stderrTail,
    waitForLine<T>(stream: "stdout" | "stderr", pick: (line: string) => T | undefined, timeoutMs: number) {
      for (const line of stream === "stdout" ? stdoutLines : stderrLines) {
        const value = pick(line.text);
        if (value !== undefined) return Promise.resolve({ value, at: line.at });
      }
      return new Promise<{ value: T; at: number }>((resolve, reject) => {
        const waiter: Waiter = {
          stream,
          pick,
          resolve: (hit) => {
            clearTimeout(timer);
            resolve(hit as { value: T; at: number });
          },
        };
        const fail = (why: string) => {
          const index = waiters.indexOf(waiter);
          if (index === -1) return;
          waiters.splice(index, 1);
          clearTimeout(timer);
          reject(new Error(`${basename(argv[0]!)} ${why}; stderr:\n${stderrTail()}`));
        };
        const timer = setTimeout(() => fail(`gave no awaited ${stream} line within ${timeoutMs} ms`), timeoutMs);
        waiters.push(waiter);
        void exited.then((status) => fail(`exited (status ${status}) before the awaited ${stream} line`));
      });
    },
    async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        await proc.exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  live.add(handle);
  return handle;
}

/** Kill every process this bench started that is still running (after a failed measurement). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop("SIGKILL", 1000)));
}

/** Resident set size of a live process in KiB, from /proc/<pid>/status (VmRSS). */
export function residentKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** A log line as a JSON object, or undefined when the line is not JSON. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A picker for `waitForLine`: the JSON line whose `event` field is `name`. */
export function eventNamed(name: string): (line: string) => Record<string, unknown> | undefined {
  return (line) => {
    const parsed = jsonLine(line);
    return parsed?.event === name ? parsed : undefined;
  };
}

function signalNumber(signal: string): number | undefined {
  return (constants.signals as Record<string, number>)[signal];
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** The exit status, or a thrown error (and the process killed) if it has not exited within `timeoutMs`. */
export async function exitWithin(proc: LineProcess, timeoutMs: number): Promise<number> {
  let timer: Timer | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
  const outcome = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (outcome !== "late") return outcome;
  await proc.stop("SIGKILL", 1000);
  throw new Error(`${basename(proc.argv[0]!)} did not exit within ${timeoutMs} ms; stderr:\n${proc.stderrTail()}`);
}
