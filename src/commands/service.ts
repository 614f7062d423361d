/**
 * Running an allowed command for a caller (SPEC §5, §6), once its args have passed the command's
 * schema: availability, elevation, the per-client concurrency cap, the audit record of the
 * attempt, and only then the process (a `long` command as a job).
 *
 * Audit is fail-closed (SPEC §5): the attempt's record (`command`, outcome `started` or
 * `accepted` for a job) is written BEFORE the process starts; if it cannot be written nothing
 * starts and the caller is refused with `audit_unavailable`. What happens afterwards (the result,
 * a job's end) is recorded with `note()`: by then the command has run, and an audit failure is
 * logged, never thrown. Refusals before this point are recorded by the API, which knows the
 * status it answers with.
 */
import type { AuditLog } from "../audit/audit-log.ts";
import { AuditUnavailable } from "../audit/audit-log.ts";
import type { Logger } from "../log/logger.ts";
import type { ConcurrencyLimiter } from "./concurrency.ts";
import { refusals } from "./errors.ts";
import { commandEnv, runCommand, spawnArgv } from "./executor.ts";
import type { Job, JobManager } from "./jobs.ts";
import { describeCommands } from "./policy-loader.ts";
import type { ArgValues, Catalogue, CommandSpec, ElevateWith, RunResult } from "./types.ts";
import { randomHex } from "../random-id.ts";

/** Who is calling: the verified signer and the child it belongs to (SPEC §3). */
export interface Caller {
  clientId: string;
  childId: string;
}

export type Execution = { kind: "completed"; result: RunResult } | { kind: "started"; job: Job };

export interface CommandServiceOptions {
  catalogue: Catalogue;
  elevateWith: ElevateWith;
  audit: Pick<AuditLog, "record" | "note">;
  jobs: JobManager;
  limiter: ConcurrencyLimiter;
  logger?: Logger;
  /** Where allow-listed variables are copied from; defaults to icecore's own environment. */
  env?: Record<string, string | undefined>;
  /**
   * An argv prefix that ties every command's life to icecore's (the platform's orphan guard,
   * SPEC §7), so nothing keeps running when icecore is killed. Default: none.
   */
  guard?: readonly string[];
}

const newAttemptId = () => randomHex(8);

export class CommandService {
  readonly catalogue: Catalogue;
  readonly jobs: JobManager;
  readonly #options: CommandServiceOptions;
  #listing: string | null = null;

  constructor(options: CommandServiceOptions) {
    this.#options = options;
    this.catalogue = options.catalogue;
    this.jobs = options.jobs;
  }

  /** GET /v1/commands, built on first use: JSON Schema generation stays off the start-up path. */
  listing(): string {
    return (this.#listing ??= JSON.stringify(describeCommands(this.catalogue)));
  }

  command(name: string): CommandSpec {
    const command = this.catalogue.get(name);
    if (!command) throw refusals.unknownCommand();
    return command;
  }

  async execute(caller: Caller, command: CommandSpec, values: ArgValues, argsHash: string | null): Promise<Execution> {
    const { audit, elevateWith, limiter, logger } = this.#options;
    if (!command.available) throw refusals.unavailable(command.name, command.unavailableReason ?? "unavailable");
    if (command.elevate && elevateWith === "none") throw refusals.elevationUnavailable(command.name);
    const release = limiter.acquire(caller.clientId);
    const attempt = { attempt_id: newAttemptId(), client_id: caller.clientId, child_id: caller.childId, command: command.name, args_sha256: argsHash };
    const started = performance.now();
    try {
      if (command.long && !command.inProcess) {
        const argv = spawnArgv(command, values, elevateWith);
        const job = this.jobs.start({
          command: command.name,
          argv,
          env: commandEnv(command.envAllow, this.#options.env),
          timeoutMs: command.timeoutMs,
          maxOutputBytes: command.maxOutputBytes,
          ...(this.#options.guard ? { guard: this.#options.guard } : {}),
          childId: caller.childId,
          beforeStart: (jobId) => this.#recordAttempt({ ...attempt, outcome: "accepted", job_id: jobId }),
          onFinish: (j) => {
            release();
            audit.note({ event: "job_finished", ...attempt, job_id: j.id, outcome: j.state, exit_code: j.exitCode, duration_ms: j.durationMs });
            logger?.event("command", { name: command.name, outcome: j.state, job_id: j.id, client_id: caller.clientId });
          },
        });
        logger?.event("command", { name: command.name, outcome: "accepted", job_id: job.id, client_id: caller.clientId });
        return { kind: "started", job };
      }
      this.#recordAttempt({ ...attempt, outcome: "started" });
      const result = await runCommand(command, values, { elevateWith, env: this.#options.env, ...(this.#options.guard ? { guard: this.#options.guard } : {}) });
      const outcome = result.timed_out ? "timed_out" : result.exit_code === 0 ? "succeeded" : "failed";
      const duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
      audit.note({ event: "command_result", ...attempt, outcome, exit_code: result.exit_code, duration_ms });
      logger?.event("command", { name: command.name, outcome, client_id: caller.clientId, duration_ms });
      release();
      return { kind: "completed", result };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** SPEC §3: 404 (`job_not_found`) for a job another child started, as for one that never existed. */
  job(caller: Caller, id: string): Job {
    const job = this.jobs.get(id, caller.childId);
    if (!job) throw refusals.jobNotFound();
    return job;
  }

  /** DELETE /v1/jobs/{id}: SIGTERM to the job's process group, SIGKILL after the grace. */
  cancel(caller: Caller, id: string): { job: Job; cancelling: boolean } {
    const job = this.job(caller, id);
    const cancelling = this.jobs.cancel(job);
    this.#options.audit.note({ event: "job_cancel", client_id: caller.clientId, child_id: caller.childId, job_id: job.id, command: job.command, outcome: cancelling ? "cancelling" : "already_finished" });
    return { job, cancelling };
  }

  #recordAttempt(record: Record<string, string | null>): void {
    try {
      this.#options.audit.record({ event: "command", ...record });
    } catch (error) {
      if (error instanceof AuditUnavailable) throw refusals.auditUnavailable(error.reason);
      throw error;
    }
  }
}
