/**
 * Why a command attempt was refused, in the commands subsystem's own terms. It knows nothing of
 * HTTP: the API maps each code to a status and an RFC 9457 problem in one table
 * (src/api/problem-map.ts).
 */
export type CommandRefusalCode =
  | "unknown_command"
  | "validation_failed"
  | "command_unavailable"
  | "elevation_unavailable"
  | "too_many_requests"
  | "job_not_found"
  | "audit_unavailable";

/** One validation issue: an RFC 6901 JSON Pointer into the request body, and a sentence. */
export interface ArgIssue {
  path: string;
  message: string;
}

export class CommandRefused extends Error {
  constructor(
    readonly code: CommandRefusalCode,
    message: string,
    readonly details: { issues?: ArgIssue[]; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = "CommandRefused";
  }
}

export const refusals = {
  unknownCommand: () => new CommandRefused("unknown_command", "no command of that name is allowed; GET /v1/commands lists them"),
  invalidArgs: (issues: ArgIssue[]) => new CommandRefused("validation_failed", "the request does not match the command's argument schema", { issues }),
  unavailable: (command: string, reason: string) => new CommandRefused("command_unavailable", `${command} cannot run on this machine: ${reason}`),
  elevationUnavailable: (command: string) =>
    new CommandRefused(
      "elevation_unavailable",
      `${command} needs elevated privileges and icecore runs with --elevate-with none; restart it with --elevate-with sudo or pkexec`,
    ),
  tooMany: (perClient: number) =>
    new CommandRefused("too_many_requests", `at most ${perClient} commands may run at once per client; wait for one to finish`, { retryAfterSeconds: 1 }),
  jobNotFound: () => new CommandRefused("job_not_found", "no job with that id (finished jobs are kept for a limited time)"),
  auditUnavailable: (cause: string) =>
    new CommandRefused("audit_unavailable", `the command was not started because its audit record cannot be written (${cause}); free space or fix the audit log and retry`, {
      retryAfterSeconds: 5,
    }),
};
