/** Runs the compiled icecore with JSON logs and gives tests its events, stdout and exit. */
import type { Subprocess } from "bun";
import { join } from "node:path";
import { BINARY, BUN, FIXTURES } from "./paths.ts";
import { asUser, scratchDir, type TestUser } from "./users.ts";
import { track } from "./reaper.ts";

export interface LogEvent {
  event: string;
  [field: string]: unknown;
}

export interface RunningIcecore {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  events: LogEvent[];
  /** The one-line error on failure (`icecore: …`): a non-JSON stderr line or the `fatal` event. */
  errors: string[];
  stdout: () => string;
  stderr: () => string;
  dir: string;
  auditPath: string;
  /** The first event of that name (or matching that predicate), seen already or once it is logged. */
  waitFor(event: string | ((e: LogEvent) => boolean), timeoutMs?: number): Promise<LogEvent>;
  /** The `nth` (default first) stdout line (the child's included) that contains `text`, once it is printed. */
  waitForOutput(text: string, timeoutMs?: number, nth?: number): Promise<string>;
  /** Resolves once `condition` holds over the log events, checked again at every new one. */
  waitUntil(condition: (events: LogEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number; ms: number }>;
  fixtureReports(): Record<string, unknown>[];
  /** The first `FIXTURE` report on stdout that matches (already printed or still to come). */
  waitForReport(match: (report: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** How to start an icecore executable: natively (the default), or e.g. the Windows one under Wine. */
export interface Launcher {
  argv(args: string[]): string[];
  /** A Linux path as that executable must be given it. */
  path(linuxPath: string): string;
  env?: Record<string, string>;
}

const nativeLauncher: Launcher = { argv: (args) => [BINARY, ...args], path: (p) => p };

export interface StartOptions {
  user?: TestUser | null;
  launcher?: Launcher;
  args?: string[];
  /** The child command; `--pipe-name` is appended by icecore. Default: icecore's own `connect`. */
  child?: string[];
  dir?: string;
  /** Runs before the switch to `user`, as the test's own user (root): e.g. `unshare --mount ...`. */
  wrapper?: string[];
  /** When the reaper ends it if it is still running: after this test (default), or after the file (a run shared by a describe's tests). */
  scope?: "test" | "run";
}

/** An executable started through a command prefix (e.g. qemu-user for another architecture). */
export function prefixLauncher(prefix: string[], binary: string): Launcher {
  return { argv: (args) => [...prefix, binary, ...args], path: (p) => p };
}

/** `<bun> test/fixtures/handoff-child.ts ...options`. */
export function fixtureChild(...options: string[]): string[] {
  return [BUN, join(FIXTURES, "handoff-child.ts"), ...options];
}

async function collect(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void, all: string[]) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    all.push(text);
    buffer += text;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer) onLine(buffer);
}

export function startIcecore(options: StartOptions = {}): RunningIcecore {
  const user = options.user ?? null;
  const dir = options.dir ?? scratchDir(user, "run");
  const auditPath = join(dir, "audit.jsonl");
  const launcher = options.launcher ?? nativeLauncher;
  const argv = launcher.argv(["run", "--log-format", "json", "--audit-log", launcher.path(auditPath), ...(options.args ?? [])]);
  if (user === null && process.getuid?.() === 0) argv.push("--allow-root");
  if (options.child) argv.push("--", ...options.child);
  const started = performance.now();
  const proc = track(Bun.spawn([...(options.wrapper ?? []), ...asUser(user, argv)], { cwd: dir, env: launcher.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" }), options.scope ?? "test");
  const events: LogEvent[] = [];
  const errors: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const waiters: { matches: (e: LogEvent) => boolean; resolve: (e: LogEvent) => void }[] = [];
  const outLines: string[] = [];
  const outWaiters: { text: string; nth: number; resolve: (line: string) => void }[] = [];
  const outMatching = (text: string) => outLines.filter((line) => line.includes(text));
  const conditions = new Set<() => void>();
  const reports: Record<string, unknown>[] = [];
  const reportWaiters: { match: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }[] = [];
  const onOutLine = (line: string) => {
    outLines.push(line);
    for (const waiter of outWaiters.filter((w) => line.includes(w.text) && outMatching(w.text).length >= w.nth)) waiter.resolve(line);
    if (!line.startsWith("FIXTURE ")) return;
    let report: Record<string, unknown>;
    try {
      report = JSON.parse(line.slice(8)) as Record<string, unknown>;
    } catch {
      return; // fixtureReports() will say so, where a test reads it
    }
    reports.push(report);
    for (const waiter of reportWaiters.filter((w) => w.match(report))) waiter.resolve(report);
  };
  const onErrLine = (line: string) => {
    if (!line.trim()) return;
    try {
      const parsed = JSON.parse(line) as LogEvent;
      events.push(parsed);
      // With --log-format json the one-line failure is a `fatal` event; keep its sentence too.
      if (parsed.event === "fatal") errors.push(`icecore: ${String(parsed.error)}`);
      for (const waiter of waiters.filter((w) => w.matches(parsed))) waiter.resolve(parsed);
      for (const check of [...conditions]) check();
    } catch {
      errors.push(line);
    }
  };
  const done = Promise.all([collect(proc.stdout, onOutLine, out), collect(proc.stderr, onErrLine, err)]);
  const exited = Promise.all([proc.exited, done]).then(([code]) => ({ code, ms: performance.now() - started }));
  return {
    proc,
    events,
    errors,
    dir,
    auditPath,
    stdout: () => out.join(""),
    stderr: () => err.join(""),
    exited,
    waitFor(event, timeoutMs = 10_000) {
      const matches = typeof event === "string" ? (e: LogEvent) => e.event === event : event;
      const seen = events.find(matches);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogEvent>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${timeoutMs} ms; stderr:\n${err.join("")}`)), timeoutMs);
        waiters.push({ matches, resolve: (e) => (clearTimeout(timer), resolve(e)) });
        void exited.then(() => setTimeout(() => reject(new Error(`icecore exited before '${event}'; stderr:\n${err.join("")}`)), 50));
      });
    },
    waitForOutput(text, timeoutMs = 10_000, nth = 1) {
      const seen = outMatching(text)[nth - 1];
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no output line #${nth} with '${text}' within ${timeoutMs} ms; stdout:\n${out.join("")}\nstderr:\n${err.join("")}`)), timeoutMs);
        outWaiters.push({ text, nth, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then(() => setTimeout(() => reject(new Error(`icecore exited before printing '${text}'; stdout:\n${out.join("")}\nstderr:\n${err.join("")}`)), 50));
      });
    },
    waitUntil(condition, timeoutMs = 30_000) {
      if (condition(events)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!condition(events)) return;
          conditions.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => (conditions.delete(check), reject(new Error(`condition not met within ${timeoutMs} ms; stderr:\n${err.join("").slice(-4000)}`))), timeoutMs);
        conditions.add(check);
        void exited.then(() => setTimeout(() => (conditions.delete(check), reject(new Error(`icecore exited before the condition was met; stderr:\n${err.join("").slice(-4000)}`))), 50));
      });
    },
    waitForReport(match, timeoutMs = 30_000) {
      const seen = reports.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching FIXTURE report within ${timeoutMs} ms; stdout:\n${out.join("").slice(-4000)}\nstderr:\n${err.join("").slice(-4000)}`)), timeoutMs);
        reportWaiters.push({ match, resolve: (r) => (clearTimeout(timer), resolve(r)) });
        void exited.then(() => setTimeout(() => reject(new Error(`icecore exited before the FIXTURE report; stdout:\n${out.join("").slice(-4000)}\nstderr:\n${err.join("").slice(-4000)}`)), 50));
      });
    },
    fixtureReports() {
      return out
        .join("")
        .split("\n")
        .filter((l) => l.startsWith("FIXTURE "))
        .map((l) => JSON.parse(l.slice(8)) as Record<string, unknown>);
    },
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readAudit(path: string): Record<string, unknown>[] {
  const text = require("node:fs").readFileSync(path, "utf8") as string;
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
