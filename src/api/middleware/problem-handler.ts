import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "../../log/logger.ts";
import { ProblemError, problemResponse, problems } from "../problem.ts";

/** SPEC §5: every error is RFC 9457 problem+json; an unexpected one never shows its stack. */
export function problemErrorHandler(logger: Logger): ErrorHandler {
  return (error, c: Context) => {
    if (error instanceof ProblemError) return problemResponse(c, error);
    if (error instanceof HTTPException) {
      return problemResponse(c, new ProblemError(error.status as 400, "http_error", "Request Error", error.message || "the request was refused"));
    }
    logger.event("internal_error", { path: c.req.path, error: (error as Error)?.name ?? "Error" });
    return problemResponse(c, problems.internal());
  };
}

export const problemNotFound: NotFoundHandler = (c) => problemResponse(c, problems.notFound());
