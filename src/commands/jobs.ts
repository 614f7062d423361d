/**
 * SPEC §5/§6: commands marked `long` run as jobs. POST answers 202 at once; the caller follows the
 * job with GET /v1/jobs/{id} and the SSE stream GET /v1/jobs/{id}/events, and may cancel it with
 * DELETE (SIGTERM to the process group, SIGKILL after 5 s).
 *
 * Events are kept in a bounded backlog per job, each with a sequence number, so a subscriber that
 * arrives late (or reconnects with Last-Event-ID) gets the output from the start and then live,
 * and a slow subscriber costs no memory of its own: it reads the shared backlog by sequence
 * number. When output outruns the backlog, the oldest lines are dropped and a reader that missed
 * them is told how many (`dropped`); the `exit` event is never dropped.
 *
 * Job ids are 128 random bits (hex): GET on a job is unsigned (SPEC §5), so the id is what keeps
 * one client from guessing another's job.
 */
import { startProcess, type ProcessHandle, type StopReason, roundMs } from "./executor.ts";
import { randomHex } from "../random-id.ts";

export type JobState = "running" | "succeeded" | "failed" | "cancelled" | "timed_out";

export type JobEvent =
  | { seq: number; type: "output"; data: { stream: "stdout" | "stderr"; line: string } }
  | { seq: number; type: "progress"; data: { message: string } }
  | { seq: number; type: "exit"; data: { exit_code: number | null; state: JobState; signal: string | null; truncated: boolean } };

/** GET /v1/jobs/{id} (the API's JobSchema). */
export interface JobInfo {
  job_id: string;
  command: string;
  state: JobState;
  exit_code: number | null;
  signal: string | null;
  truncated: boolean;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
}

export interface JobManagerOptions {
  /** SIGTERM -> SIGKILL grace on cancel and timeout (SPEC §5: 5 s). */
  killGraceMs?: number;
  /** How long a finished job stays queryable. */
  retentionMs?: number;
  /** At most this many finished jobs are kept (oldest evicted first). */
  maxFinished?: number;
  /** Backlog bounds per job. */
  backlogEvents?: number;
  backlogBytes?: number;
  /** Longer output lines are split into pieces of this many bytes. */
  maxLineBytes?: number;
}

export interface StartJobOptions {
  command: string;
  argv: readonly string[];
  /** What the program sees as argv[0] when it differs from argv[0] (executor.ts spawnName). */
  argv0?: string;
  /** The orphan guard (executor.ts): the job dies with icecore, even on SIGKILL. */
  guard?: readonly string[];
  env: Record<string, string>;
  timeoutMs: number;
  maxOutputBytes: number;
  /** SPEC §3: a job belongs to the child that started it, across that child's renewals. */
  childId: string;
  /**
   * Called with the job's id before its process starts (the fail-closed audit record, SPEC §5);
   * if it throws, nothing starts and the error propagates.
   */
  beforeStart?: (jobId: string) => void;
  /** Called once when the job reaches a final state (release a concurrency slot, audit the end). */
  onFinish?: (job: Job) => void;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Splits a byte stream into lines (LF; a trailing CR is dropped), bounded per line. */
class LineSplitter {
  private parts: Uint8Array[] = [];
  private size = 0;
  constructor(
    private readonly maxLineBytes: number,
    private readonly emit: (line: string) => void,
  ) {}

  push(bytes: Uint8Array): void {
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl === -1 ? bytes.length : nl;
      let piece = bytes.subarray(start, end);
      while (this.size + piece.byteLength > this.maxLineBytes) {
        const take = this.maxLineBytes - this.size;
        this.parts.push(piece.subarray(0, take));
        this.size += take;
        this.flushLine();
        piece = piece.subarray(take);
      }
      if (piece.byteLength) {
        this.parts.push(piece.slice());
        this.size += piece.byteLength;
      }
      if (nl === -1) return;
      this.flushLine();
      start = nl + 1;
    }
  }

  end(): void {
    if (this.size) this.flushLine();
  }

  private flushLine(): void {
    const buf = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      buf.set(p, at);
      at += p.byteLength;
    }
    this.parts = [];
    this.size = 0;
    let text = decoder.decode(buf);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    this.emit(text);
  }
}

export class Job {
  readonly id: string;
  readonly command: string;
  readonly childId: string;
  readonly createdAt = new Date();
  state: JobState = "running";
  exitCode: number | null = null;
  signal: string | null = null;
  truncated = false;
  finishedAt: Date | null = null;
  durationMs: number | null = null;
  /** Set once cancel or shutdown asked the process to stop. */
  stopping = false;
  /** Set when the process is started. */
  handle: ProcessHandle | null = null;
  /** Resolves with the job once it reached a final state. */
  readonly done: Promise<Job>;

  private backlog: JobEvent[] = [];
  private backlogBytes = 0;
  private nextSeq = 1;
  private waiters = new Set<() => void>();
  private resolveDone!: (job: Job) => void;

  constructor(
    id: string,
    command: string,
    childId: string,
    private readonly limits: { events: number; bytes: number },
  ) {
    this.id = id;
    this.command = command;
    this.childId = childId;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get finished(): boolean {
    return this.state !== "running";
  }

  /** Sequence number of the newest event (0 before the first). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  append(event: Omit<JobEvent, "seq">): void {
    const e = { ...event, seq: this.nextSeq++ } as JobEvent;
    const cost = e.type === "output" ? e.data.line.length + 32 : 64;
    this.backlog.push(e);
    this.backlogBytes += cost;
    while ((this.backlog.length > this.limits.events || this.backlogBytes > this.limits.bytes) && this.backlog.length > 1 && this.backlog[0]!.type !== "exit") {
      const old = this.backlog.shift()!;
      this.backlogBytes -= old.type === "output" ? old.data.line.length + 32 : 64;
    }
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Events after sequence `after`, and how many the reader missed because the backlog dropped them. */
  read(after: number): { events: JobEvent[]; dropped: number } {
    // Sequence numbers in the backlog are contiguous (it only ever drops from the front), so the
    // position of `after + 1` is arithmetic: no scan per wake-up of a live subscriber.
    const first = this.backlog[0]?.seq ?? this.nextSeq;
    const dropped = Math.max(0, first - (after + 1));
    return { events: this.backlog.slice(Math.max(0, after + 1 - first)), dropped };
  }

  /** Resolves when an event newer than `after` exists (at once if one does). */
  waitFor(after: number): Promise<void> {
    if (this.lastSeq > after) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  finish(state: JobState, exitCode: number | null, signal: string | null, truncated: boolean, durationMs: number): void {
    if (this.finished) return;
    this.state = state;
    this.exitCode = exitCode;
    this.signal = signal;
    this.truncated = truncated;
    this.durationMs = roundMs(durationMs);
    this.finishedAt = new Date();
    this.append({ type: "exit", data: { exit_code: exitCode, state, signal, truncated } });
    this.resolveDone(this);
  }

  info(): JobInfo {
    return {
      job_id: this.id,
      command: this.command,
      state: this.state,
      exit_code: this.exitCode,
      signal: this.signal,
      truncated: this.truncated,
      started_at: this.createdAt.toISOString(),
      ended_at: this.finishedAt?.toISOString() ?? null,
      duration_ms: this.durationMs,
    };
  }
}

export const JOB_ID_RE = /^[0-9a-f]{32}$/;

export function newJobId(): string {
  return randomHex(16);
}

export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly killGraceMs: number;
  private readonly retentionMs: number;
  private readonly maxFinished: number;
  private readonly backlog: { events: number; bytes: number };
  private readonly maxLineBytes: number;

  constructor(opts: JobManagerOptions = {}) {
    this.killGraceMs = opts.killGraceMs ?? 5_000;
    this.retentionMs = opts.retentionMs ?? 60 * 60 * 1000;
    this.maxFinished = opts.maxFinished ?? 100;
    this.backlog = { events: opts.backlogEvents ?? 10_000, bytes: opts.backlogBytes ?? 4 * 1024 * 1024 };
    this.maxLineBytes = opts.maxLineBytes ?? 16 * 1024;
  }

  /** Start a job. Throws SpawnError if the program cannot be started (nothing is registered then). */
  start(opts: StartJobOptions): Job {
    this.prune();
    const job = new Job(newJobId(), opts.command, opts.childId, this.backlog);
    opts.beforeStart?.(job.id);
    const splitters = {
      stdout: new LineSplitter(this.maxLineBytes, (line) => job.append({ type: "output", data: { stream: "stdout", line } })),
      stderr: new LineSplitter(this.maxLineBytes, (line) => job.append({ type: "output", data: { stream: "stderr", line } })),
    };
    const handle = startProcess({
      argv: opts.argv,
      ...(opts.argv0 === undefined ? {} : { argv0: opts.argv0 }),
      ...(opts.guard ? { guard: opts.guard } : {}),
      env: opts.env,
      timeoutMs: opts.timeoutMs,
      killGraceMs: this.killGraceMs,
      maxOutputBytes: opts.maxOutputBytes,
      capture: false,
      onOutput: (stream, bytes) => splitters[stream].push(bytes),
    });
    job.handle = handle;
    this.jobs.set(job.id, job);
    job.append({ type: "progress", data: { message: "started" } });
    void handle.finished.then((r) => {
      splitters.stdout.end();
      splitters.stderr.end();
      const state: JobState = r.stoppedBy ?? (r.exitCode === 0 ? "succeeded" : "failed");
      job.finish(state, r.exitCode, r.signal, r.truncated, r.durationMs);
      try {
        opts.onFinish?.(job);
      } finally {
        this.prune();
      }
    });
    return job;
  }

  /**
   * The job `id` if `childId` started it (SPEC §3: another child's certificate gets 404 for it,
   * exactly as for a job that does not exist).
   */
  get(id: string, childId: string): Job | undefined {
    const job = JOB_ID_RE.test(id) ? this.jobs.get(id) : undefined;
    return job?.childId === childId ? job : undefined;
  }

  /** SIGTERM to the job's process group now, SIGKILL after the grace. False if it already finished. */
  cancel(job: Job): boolean {
    if (job.finished || !job.handle) return false;
    return this.stop(job, "cancelled");
  }

  /** SPEC §3 revocation: a child that exits or is replaced has its running jobs cancelled. */
  cancelOwnedBy(childId: string): Job[] {
    const jobs = this.running().filter((job) => job.childId === childId);
    for (const job of jobs) this.stop(job, "cancelled");
    return jobs;
  }

  private stop(job: Job, reason: StopReason): boolean {
    if (job.finished || !job.handle) return false;
    if (job.stopping) return true;
    job.stopping = true;
    job.append({ type: "progress", data: { message: reason === "cancelled" ? "cancelling" : "timing out" } });
    job.handle.stop(reason);
    return true;
  }

  /** Running jobs. */
  running(): Job[] {
    return [...this.jobs.values()].filter((j) => !j.finished);
  }

  /** SPEC §7 shutdown: cancel every running job and wait until all have ended (SIGKILL after the grace). */
  async shutdown(): Promise<void> {
    const running = this.running();
    for (const job of running) this.stop(job, "cancelled");
    await Promise.all(running.map((j) => j.done));
  }

  private prune(): void {
    const now = Date.now();
    const finished = [...this.jobs.values()].filter((j) => j.finished);
    let excess = finished.length - this.maxFinished;
    for (const job of finished) {
      // Map order is insertion order, so the oldest come first.
      if (excess > 0 || now - job.finishedAt!.getTime() > this.retentionMs) {
        this.jobs.delete(job.id);
        excess--;
      }
    }
  }
}
