import type { Context } from "hono";
import type { AuditLog } from "../../audit/audit-log.ts";
import type { Logger } from "../../log/logger.ts";
import { argsSha256 } from "../../commands/index.ts";
import { problemOf } from "../problem-map.ts";
import type { SignatureVariables } from "./signature.ts";
import type { DecodedBodyVariables } from "./jwe-body.ts";

const COMMAND_PATH = /^\/v1\/commands\/([^/]+)$/;
const JOB_PATH = /^\/v1\/jobs\/([^/]+)$/;
const MAX_LOGGED_NAME = 128;

/** The args of a body that was received but refused, for the record's hash (never the args themselves). */
function argsOfBody(text: string | null | undefined): unknown {
  if (!text) return {};
  try {
    const body = JSON.parse(text) as unknown;
    return body && typeof body === "object" && !Array.isArray(body) && "args" in body ? (body as { args: unknown }).args : body;
  } catch {
    return null;
  }
}

function decodedName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    name = raw; // not valid percent-encoding (e.g. %ZZ): recorded as received
  }
  return name.length > MAX_LOGGED_NAME ? name.slice(0, MAX_LOGGED_NAME) + "…" : name;
}

/**
 * SPEC §6: every attempt, accepted or refused, is an audit record. CommandService records the
 * attempts it runs; this records what was refused on the way (Host, Origin, body, signature,
 * validation, availability, elevation, the concurrency cap), with the status and code answered.
 * Called for every request once its answer is known (frontDoor); `c.error` is what a check or
 * route threw (Hono's compose sets it), and only POST /v1/commands/* and DELETE /v1/jobs/* are
 * recorded.
 */
export function auditRefusal(audit: Pick<AuditLog, "note">, logger: Logger, c: Context<{ Variables: Partial<SignatureVariables & DecodedBodyVariables> }>): void {
  if (!c.error) return;
  const { method, path } = c.req;
  const command = method === "POST" ? COMMAND_PATH.exec(path) : null;
  const job = method === "DELETE" ? JOB_PATH.exec(path) : null;
  if (!command && !job) return;
  const problem = problemOf(c.error);
  const caller = c.get("caller") ?? null;
  const status = problem?.status ?? 500;
  const code = problem?.code ?? "internal_error";
  const name = command ? decodedName(command[1]!) : null;
  audit.note({
    event: command ? "command" : "job_cancel",
    client_id: caller?.clientId ?? null,
    child_id: caller?.childId ?? null,
    ...(name !== null ? { command: name, args_sha256: argsSha256(argsOfBody(c.get("bodyText"))) } : { job_id: decodedName(job![1]!) }),
    outcome: "refused",
    status,
    code,
  });
  if (name !== null) logger.event("command", { name, outcome: "refused", code, status, client_id: caller?.clientId ?? null });
}
