/**
 * SPEC §5 command and job endpoints, as a Hono sub-app the API mounts with `app.route("/", …)`.
 * The upstream middleware has already checked Host/Origin, verified the request signature (which
 * sets `clientId`) and parsed the body (which sets `body`); this module decides what runs.
 *
 * Audit (SPEC §6): EVERY attempt on POST /v1/commands/{name} is exactly one `command` record,
 * accepted or refused (404 unknown, 503 unavailable, 422 invalid, 403 elevation, 429, and the run
 * outcome), written synchronously BEFORE the response is returned, so a crash after a response
 * can never lose the record of what was run. The record carries a SHA-256 of the canonical JSON
 * of the args, never the args or output themselves (they may hold names of files, packages or
 * devices the user would not want in a log). A long job additionally gets one `job_finished`
 * record when it ends (that is when its exit code and duration exist), and each DELETE one
 * `job_cancel` record.
 */
import { createHash } from "node:crypto";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { ApiEnv } from "../api/context.ts";
import { ProblemError, problemResponse, problems } from "../api/problem.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { Logger } from "../log/logger.ts";
import { argsFromBody, validateArgs } from "./argv-builder.ts";
import type { ConcurrencyLimiter } from "./concurrency.ts";
import { commandEnv, commandUnavailable, elevationUnavailable, runCommand, spawnArgv, spawnName, SpawnError } from "./executor.ts";
import { JOB_ID_RE, type JobManager } from "./jobs.ts";
import { describeCommands } from "./policy-loader.ts";
import type { Catalogue, ElevateWith } from "./types.ts";

export interface CommandRoutesOptions {
  catalogue: Catalogue;
  elevateWith: ElevateWith;
  audit: Pick<AuditLog, "record">;
  jobs: JobManager;
  limiter: ConcurrencyLimiter;
  logger?: Logger;
  /** Where allow-listed variables are copied from; defaults to icecore's own environment. */
  env?: Record<string, string | undefined>;
}

/** Canonical JSON: object keys sorted at every level (RFC 8785-style), so equal args hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

export function argsSha256(args: unknown): string | null {
  try {
    return createHash("sha256").update(canonicalJson(args)).digest("hex");
  } catch {
    return null; // nesting too deep to canonicalize; the request is refused by validation anyway
  }
}

/** The args part of whatever body arrived, for hashing (even when the body is refused). */
function argsForHash(body: unknown): unknown {
  if (body && typeof body === "object" && !Array.isArray(body) && "args" in body) return (body as { args: unknown }).args;
  return body === undefined || body === null ? {} : body;
}

const MAX_LOGGED_NAME = 128;

function notSigned(): ProblemError {
  return new ProblemError(401, "signature_missing", "Unauthorized", "this request must be signed by a known client");
}

export function commandRoutes(opts: CommandRoutesOptions): Hono<ApiEnv> {
  const { catalogue, elevateWith, audit, jobs, limiter, logger } = opts;
  const app = new Hono<ApiEnv>();
  // Computed once, on first use: the catalogue is immutable after load, and JSON Schema
  // generation stays off the start-up path to the handoff.
  let listing: string | null = null;

  app.onError((err, c) => (err instanceof ProblemError ? problemResponse(c, err) : problemResponse(c, problems.internal())));

  app.get("/v1/commands", (c) => c.body((listing ??= JSON.stringify(describeCommands(catalogue))), 200, { "Content-Type": "application/json" }));

  app.post("/v1/commands/:name", async (c) => {
    const started = performance.now();
    const name = c.req.param("name");
    const clientId = c.get("clientId") ?? null;
    const body = c.get("body");
    const argsHash = argsSha256(argsForHash(body));
    let recorded = false;
    const record = (outcome: string, status: number, extra: { exit_code?: number | null; job_id?: string } = {}) => {
      if (recorded) return;
      recorded = true;
      const duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
      const command = name.length > MAX_LOGGED_NAME ? name.slice(0, MAX_LOGGED_NAME) + "…" : name;
      audit.record({ event: "command", client_id: clientId, command, args_sha256: argsHash, outcome, status, exit_code: extra.exit_code ?? null, duration_ms, ...(extra.job_id ? { job_id: extra.job_id } : {}) });
      logger?.event("command", { name: command, outcome, status, client_id: clientId, duration_ms });
    };

    let release: (() => void) | null = null;
    try {
      if (!clientId) throw notSigned();
      const command = catalogue.get(name);
      if (!command) throw new ProblemError(404, "unknown_command", "Unknown Command", "no command of that name is allowed; GET /v1/commands lists them");
      if (!command.available) throw commandUnavailable(command.name, command.unavailableReason ?? "unavailable");
      const values = validateArgs(command, argsFromBody(body));
      if (command.elevate && elevateWith === "none") throw elevationUnavailable(command.name);
      release = limiter.acquire(clientId);

      if (command.long && !command.inProcess) {
        const argv = spawnArgv(command, values, elevateWith);
        const slot = release;
        const argv0 = spawnName(command);
        const job = jobs.start({
          command: command.name,
          argv,
          ...(argv0 === undefined ? {} : { argv0 }),
          env: commandEnv(command.envAllow, opts.env),
          timeoutMs: command.timeoutMs,
          maxOutputBytes: command.maxOutputBytes,
          clientId,
          onFinish: (j) => {
            slot();
            audit.record({ event: "job_finished", client_id: clientId, command: command.name, job_id: j.id, args_sha256: argsHash, outcome: j.state, exit_code: j.exitCode, duration_ms: j.durationMs });
            logger?.event("command", { name: command.name, outcome: j.state, job_id: j.id });
          },
        });
        release = null; // the job owns the slot now
        record("accepted", 202, { job_id: job.id });
        return c.json({ job_id: job.id }, 202, { Location: `/v1/jobs/${job.id}` });
      }

      const result = await runCommand(command, values, { elevateWith, env: opts.env });
      release();
      release = null;
      const outcome = result.timed_out ? "timed_out" : result.exit_code === 0 ? "succeeded" : "failed";
      record(outcome, 200, { exit_code: result.exit_code });
      return c.json(result, 200);
    } catch (err) {
      release?.();
      let problem: ProblemError;
      let outcome: string;
      if (err instanceof ProblemError) {
        problem = err;
        outcome = err.code;
      } else if (err instanceof SpawnError) {
        problem = commandUnavailable(name, err.message);
        outcome = "spawn_failed";
      } else {
        problem = problems.internal();
        outcome = "internal_error";
        logger?.event("command_error", { name: name.slice(0, MAX_LOGGED_NAME), error: err instanceof Error ? err.name : "error" });
      }
      record(outcome, problem.status);
      return problemResponse(c, problem);
    }
  });

  const jobOr404 = (id: string) => {
    const job = JOB_ID_RE.test(id) ? jobs.get(id) : undefined;
    if (!job) throw jobNotFound();
    return job;
  };

  app.get("/v1/jobs/:id", (c) => c.json(jobOr404(c.req.param("id")).info()));

  app.get("/v1/jobs/:id/events", (c) => {
    const job = jobOr404(c.req.param("id"));
    const lastId = c.req.header("Last-Event-ID");
    let after = lastId && /^[0-9]{1,15}$/.test(lastId) ? Number(lastId) : 0;
    return streamSSE(c, async (stream) => {
      let aborted = false;
      let wakeOnAbort!: () => void;
      const abortedP = new Promise<void>((resolve) => (wakeOnAbort = resolve));
      stream.onAbort(() => {
        aborted = true;
        wakeOnAbort();
      });
      while (!aborted) {
        const { events, dropped } = job.read(after);
        if (dropped > 0) await stream.writeSSE({ event: "dropped", data: JSON.stringify({ count: dropped }) });
        for (const e of events) {
          await stream.writeSSE({ event: e.type, data: JSON.stringify(e.data), id: String(e.seq) });
          after = e.seq;
        }
        if (job.finished && after >= job.lastSeq) break;
        await Promise.race([job.waitFor(after), abortedP]);
      }
    });
  });

  app.delete("/v1/jobs/:id", (c) => {
    const clientId = c.get("clientId") ?? null;
    const id = c.req.param("id");
    const job = JOB_ID_RE.test(id) ? jobs.get(id) : undefined;
    const outcome = !clientId ? "signature_missing" : !job ? "job_not_found" : job.finished ? "already_finished" : "cancelling";
    audit.record({ event: "job_cancel", client_id: clientId, job_id: JOB_ID_RE.test(id) ? id : null, command: job?.command ?? null, outcome });
    if (!clientId) throw notSigned();
    if (!job) return problemResponse(c, jobNotFound());
    if (job.finished) return c.json(job.info(), 200);
    jobs.cancel(job.id);
    return c.json(job.info(), 202);
  });

  return app;
}

function jobNotFound(): ProblemError {
  return new ProblemError(404, "job_not_found", "Job Not Found", "no job with that id (finished jobs are kept for a limited time)");
}
