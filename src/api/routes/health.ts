import { Hono } from "hono";
import { CHECK_PROBLEMS, documented, jsonResponse } from "../route-docs.ts";
import { HealthSchema } from "../schemas.ts";

export function healthRoutes() {
  return new Hono().get(
    "/v1/health",
    documented({ operationId: "health", summary: "Liveness", tags: ["status"], responses: { "200": jsonResponse("ok", HealthSchema), ...CHECK_PROBLEMS } }, (c) =>
      c.json({ status: "ok" as const }, 200),
    ),
  );
}
