import { Hono } from "hono";
import { arch, platform } from "node:os";
import { VERSION } from "../../version.ts";
import type { IdentityService } from "../../identity/service.ts";
import { rotationDue } from "../../identity/service.ts";
import { RENEWAL_GRACE_MS, ROTATE_AT_FRACTION } from "../../identity/registry.ts";
import type { RequestChecks } from "../request-checks.ts";
import { CHECK_PROBLEMS, SIGNED_PROBLEMS, jsonResponse, documented } from "../route-docs.ts";
import { InfoSchema } from "../schemas.ts";

export interface InfoOptions {
  apiUrl: () => string;
  identity: IdentityService;
  checks: RequestChecks;
}

/**
 * SPEC §5 GET /v1/info: version, platform, uptime, api_url, and the rotation schedule; a signed
 * request also gets ITS certificate's child_id, not_after and when `rotate` is due.
 */
export function infoRoutes({ apiUrl, identity, checks }: InfoOptions) {
  return new Hono().get(
    "/v1/info",
    documented({
      operationId: "info",
      summary: "Version, platform, uptime and the rotation schedule",
      description: "Optionally signed (RFC 9421): a signed request also gets the caller's own certificate, child_id and renewal time.",
      tags: ["status"],
      responses: { "200": jsonResponse("ok", InfoSchema), ...SIGNED_PROBLEMS, ...CHECK_PROBLEMS },
    }, checks.optionallySigned),
    (c) => {
      const caller = c.get("caller");
      const leaf = caller ? identity.registry.lookup(caller.clientId) : undefined;
      return c.json(
        {
          name: "icecore" as const,
          version: VERSION,
          platform: `${platform()}-${arch()}`,
          runtime: `bun ${Bun.version}`,
          uptime_ms: Math.round(performance.now()),
          api_url: apiUrl(),
          client: leaf
            ? { client_id: leaf.clientId, child_id: leaf.childId, not_after: leaf.notAfter.toISOString(), renew_at: new Date(rotationDue(leaf)).toISOString() }
            : null,
          rotation: { cert_ttl_ms: identity.certTtlMs, rotate_at_fraction: ROTATE_AT_FRACTION, grace_ms: RENEWAL_GRACE_MS },
        },
        200,
      );
    },
  );
}
