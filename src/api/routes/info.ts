import { Hono } from "hono";
import { arch, platform } from "node:os";
import { VERSION } from "../../version.ts";

export interface ClientLease {
  notAfter: Date;
  /** When the server will mint the next client leaf (SPEC §3: 2/3 of the lifetime), or null if it will not. */
  rotatesAt: Date | null;
}

export interface InfoSource {
  apiUrl: () => string;
  currentLease: () => ClientLease | null;
}

/** SPEC §5 GET /v1/info: version, platform, uptime, api_url, client not_after, rotation schedule. */
export function infoRoutes(source: InfoSource): Hono {
  return new Hono().get("/v1/info", (c) => {
    const lease = source.currentLease();
    return c.json({
      name: "icecore",
      version: VERSION,
      platform: `${platform()}-${arch()}`,
      runtime: `bun ${Bun.version}`,
      uptime_ms: Math.round(performance.now()),
      api_url: source.apiUrl(),
      client: lease && { not_after: lease.notAfter.toISOString() },
      rotation: lease && { next_at: lease.rotatesAt?.toISOString() ?? null, rule: "a new client certificate at 2/3 of the current one's lifetime" },
    });
  });
}
