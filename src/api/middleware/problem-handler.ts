import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import type { Logger } from "../../log/logger.ts";
import { problemOf } from "../problem-map.ts";
import { problemResponse, problems } from "../problem.ts";

/** SPEC §5: every error is RFC 9457 problem+json; an unexpected one never shows its stack. */
export function problemErrorHandler(logger: Logger): ErrorHandler {
  return (error, c: Context) => {
    const problem = problemOf(error);
    if (problem) return problemResponse(c, problem);
    logger.event("internal_error", { path: c.req.path, error: (error as Error)?.name ?? "Error" });
    return problemResponse(c, problems.internal());
  };
}

/** A route pattern ("/v1/jobs/:id") as a matcher of concrete paths. */
function matcherOf(pattern: string): RegExp {
  const source = pattern
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}

/**
 * RFC 9110 §15.5.6: a path that exists with other methods is 405 with `Allow`, not 404. The
 * routes are read from the app once, on the first miss.
 */
export function problemNotFound(routes: () => readonly { method: string; path: string }[]): NotFoundHandler {
  let table: { matcher: RegExp; methods: Set<string> }[] | null = null;
  return (c) => {
    table ??= (() => {
      const byPath = new Map<string, Set<string>>();
      for (const route of routes()) {
        if (route.method === "ALL" || route.path.includes("*")) continue;
        const methods = byPath.get(route.path) ?? new Set<string>();
        methods.add(route.method);
        if (route.method === "GET") methods.add("HEAD");
        byPath.set(route.path, methods);
      }
      return [...byPath].map(([path, methods]) => ({ matcher: matcherOf(path), methods }));
    })();
    const allowed = new Set<string>();
    for (const { matcher, methods } of table) if (matcher.test(c.req.path)) for (const m of methods) allowed.add(m);
    return problemResponse(c, allowed.size > 0 ? problems.methodNotAllowed([...allowed].sort()) : problems.notFound());
  };
}
