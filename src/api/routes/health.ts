import { Hono } from "hono";

export function healthRoutes(): Hono {
  return new Hono().get("/v1/health", (c) => c.json({ status: "ok" }));
}
