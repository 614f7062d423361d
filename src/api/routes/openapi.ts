import { Hono } from "hono";
import { buildOpenApi } from "../openapi.ts";
import type { Catalogue } from "../../commands/types.ts";
import type { ApiEnv } from "../context.ts";

/** GET /v1/openapi.json, built on first request (off the start-up path) and then served as is. */
export function openApiRoutes(options: { apiUrl: () => string; catalogue: Catalogue }): Hono<ApiEnv> {
  let document: string | null = null;
  return new Hono<ApiEnv>().get("/v1/openapi.json", (c) => {
    document ??= JSON.stringify(buildOpenApi({ apiUrl: options.apiUrl(), catalogue: options.catalogue }));
    return c.body(document, 200, { "Content-Type": "application/json" });
  });
}
