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
  /** stderr lines that are not JSON (the one-line error on failure). */
  errors: string[];
  stdout: () => string;
  stderr: () => string;
  dir: string;
  auditPath: string;
  /** The first event of that name (or matching that predicate), seen already or once it is logged. */
  waitFor(event: string | ((e: LogEvent) => boolean), timeoutMs?: number): Promise<LogEvent>;
  /** The `nth` (default first) stdout line (the child's included) that contains `text`, once it is printed. */
  waitForOutput(text: string, timeoutMs?: number, nth?: number): Promise<string>;
  exited: Promise<{ code: number; ms: number }>;
  fixtureReports(): Record<string, unknown>[];
}

export interface StartOptions {
  user?: TestUser | null;
  args?: string[];
  /** The child command; `--pipe-name` is appended by icecore. Default: icecore's own `connect`. */
  child?: string[];
  dir?: string;
  /** Another build of icecore (default dist/icecore), and what starts it (e.g. qemu-user). */
  binary?: string;
  launcher?: string[];
  /** When the reaper ends it if it is still running: after this test (default), or after the file (a run shared by a describe's tests). */
  scope?: "test" | "run";
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
  const argv = [...(options.launcher ?? []), options.binary ?? BINARY, "run", "--log-format", "json", "--audit-log", auditPath, ...(options.args ?? [])];
  if (user === null && process.getuid?.() === 0) argv.push("--allow-root");
  if (options.child) argv.push("--", ...options.child);
  const started = performance.now();
  const proc = track(Bun.spawn(asUser(user, argv), { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" }), options.scope ?? "test");
  const events: LogEvent[] = [];
  const errors: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const waiters: { matches: (e: LogEvent) => boolean; resolve: (e: LogEvent) => void }[] = [];
  const outLines: string[] = [];
  const outWaiters: { text: string; nth: number; resolve: (line: string) => void }[] = [];
  const outMatching = (text: string) => outLines.filter((line) => line.includes(text));
  const onOutLine = (line: string) => {
    outLines.push(line);
    for (const waiter of outWaiters.filter((w) => line.includes(w.text) && outMatching(w.text).length >= w.nth)) waiter.resolve(line);
  };
  const onErrLine = (line: string) => {
    if (!line.trim()) return;
    try {
      const parsed = JSON.parse(line) as LogEvent;
      events.push(parsed);
      for (const waiter of waiters.filter((w) => w.matches(parsed))) waiter.resolve(parsed);
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
