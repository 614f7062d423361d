import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ArgIssue } from "../commands/errors.ts";

/** RFC 9457 problem details, with SPEC §5's machine-readable `code` and validation `issues`. */
export type ProblemIssue = ArgIssue;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  issues?: ProblemIssue[];
  [extension: string]: unknown;
}

const TYPE_BASE = "https://icecore.invalid/problems/";

/** Throw from any handler or middleware; the app's error handler renders it. Never carries a stack. */
export class ProblemError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly extensions: { issues?: ProblemIssue[]; headers?: Record<string, string> } & Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = "ProblemError";
  }

  body(): ProblemBody {
    const { headers: _headers, ...extensions } = this.extensions;
    return { type: TYPE_BASE + this.code, title: this.title, status: this.status, detail: this.detail, code: this.code, ...extensions };
  }
}

export function problemResponse(c: Context, problem: ProblemError): Response {
  const headers: Record<string, string> = { ...problem.extensions.headers, "Content-Type": "application/problem+json" };
  return c.body(JSON.stringify(problem.body()), problem.status, headers);
}

export const problems = {
  notFound: () => new ProblemError(404, "not_found", "Not Found", "no such resource"),
  methodNotAllowed: (allow: readonly string[]) =>
    new ProblemError(405, "method_not_allowed", "Method Not Allowed", `this resource allows ${allow.join(", ")}`, { headers: { Allow: allow.join(", ") } }),
  internal: () => new ProblemError(500, "internal_error", "Internal Server Error", "the request failed inside icecore; see its log"),
  malformedJson: (detail: string) => new ProblemError(400, "malformed_json", "Bad Request", detail),
  validation: (issues: ProblemIssue[]) =>
    new ProblemError(422, "validation_failed", "Unprocessable Content", "the request does not match the schema", { issues }),
  notReady: () => new ProblemError(503, "not_ready", "Service Unavailable", "the handoff has not completed", { headers: { "Retry-After": "1" } }),
};
