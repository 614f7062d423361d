import type { MiddlewareHandler } from "hono";
import type { AuditLog } from "../../audit/audit-log.ts";
import type { ApiEnv } from "../context.ts";
import { ProblemError } from "../problem.ts";

const COMMAND_PATH = /^\/v1\/commands\/([^/]+)$/;
const JOB_PATH = /^\/v1\/jobs\/([^/]+)$/;

/**
 * SPEC §6: every attempt, accepted or refused, is one audit record. The command routes audit
 * what reaches them; this records what the checks before them refused (Host, Origin, body,
 * signature), which never gets that far. Hono's compose turns a throw below into `c.error`.
 */
export function refusalAudit(audit: Pick<AuditLog, "record">): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    await next();
    const error = c.error;
    if (!(error instanceof ProblemError)) return;
    const { method, path } = c.req;
    const command = method === "POST" ? COMMAND_PATH.exec(path) : null;
    const job = method === "DELETE" ? JOB_PATH.exec(path) : null;
    if (!command && !job) return;
    audit.record({
      event: command ? "command" : "job_cancel",
      client_id: c.get("clientId") ?? null,
      ...(command ? { command: decodeURIComponent(command[1]!), args_sha256: null } : { job_id: job![1]! }),
      outcome: "refused",
      status: error.status,
      code: error.code,
    });
  };
}
