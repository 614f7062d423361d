/**
 * The one table from domain errors to RFC 9457 problems (SPEC §5). The subsystems below the API
 * throw errors in their own terms (commands: CommandRefused, SpawnError; identity:
 * RenewalRefused); only here do they become HTTP statuses.
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CommandRefused, SpawnError, type CommandRefusalCode } from "../commands/index.ts";
import { RenewalRefused } from "../identity/service.ts";
import { ProblemError, problems } from "./problem.ts";

const COMMAND_REFUSALS: Record<CommandRefusalCode, { status: ContentfulStatusCode; title: string }> = {
  unknown_command: { status: 404, title: "Unknown Command" },
  validation_failed: { status: 422, title: "Unprocessable Content" },
  elevation_unavailable: { status: 403, title: "Elevation Unavailable" },
  too_many_requests: { status: 429, title: "Too Many Requests" },
  command_unavailable: { status: 503, title: "Command Unavailable" },
  audit_unavailable: { status: 503, title: "Audit Unavailable" },
  job_not_found: { status: 404, title: "Job Not Found" },
};

const RENEWAL_REFUSALS: Record<RenewalRefused["code"], ContentfulStatusCode> = {
  not_current: 409,
  invalid_public_key: 422,
  key_reused: 422,
};

/** The problem for `error`, or null when it is not one we expect (the caller answers 500). */
export function problemOf(error: unknown): ProblemError | null {
  if (error instanceof ProblemError) return error;
  if (error instanceof CommandRefused) {
    const { status, title } = COMMAND_REFUSALS[error.code];
    const { issues, retryAfterSeconds } = error.details;
    return new ProblemError(status, error.code, title, error.message, {
      ...(issues ? { issues } : {}),
      ...(retryAfterSeconds ? { headers: { "Retry-After": String(retryAfterSeconds) } } : {}),
    });
  }
  if (error instanceof SpawnError) return new ProblemError(503, "command_unavailable", "Command Unavailable", error.message);
  if (error instanceof RenewalRefused) return new ProblemError(RENEWAL_REFUSALS[error.code], error.code, "Renewal Refused", error.message);
  if (error instanceof HTTPException) {
    // Hono's JSON validator throws this for a body it cannot parse.
    if (error.status === 400) return problems.malformedJson("the body is not valid JSON");
    return new ProblemError(error.status as ContentfulStatusCode, "http_error", "Request Error", error.message || "the request was refused");
  }
  return null;
}
