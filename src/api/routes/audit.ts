/**
 * SPEC §5 GET /v1/audit?limit=n: the most recent audit records of this run, newest first. Signed:
 * a child sees its own child's records and icecore's own (handoff refusals, refusals of unsigned
 * requests, shutdown), never another child's. Records never hold args or output.
 */
import { Hono } from "hono";
import type { AuditLog } from "../../audit/audit-log.ts";
import { callerOf, validQuery, type RequestChecks } from "../request-checks.ts";
import { CHECK_PROBLEMS, SIGNED, SIGNED_PROBLEMS, jsonResponse, problem, documented } from "../route-docs.ts";
import { AuditPageSchema, AuditQuerySchema } from "../schemas.ts";
import type { SignatureVariables } from "../middleware/signature.ts";

export function auditRoutes({ audit, checks }: { audit: Pick<AuditLog, "recent">; checks: RequestChecks }) {
  return new Hono<{ Variables: SignatureVariables }>().get(
    "/v1/audit",
    documented({
      operationId: "audit",
      summary: "The most recent audit records (never args or output)",
      tags: ["audit"],
      ...SIGNED,
      responses: { "200": jsonResponse("newest first", AuditPageSchema), "422": problem("limit is not 1–1000"), ...SIGNED_PROBLEMS, ...CHECK_PROBLEMS },
    }, checks.signed),
    validQuery(AuditQuerySchema),
    (c) => {
      const { childId } = callerOf(c);
      const records = audit.recent(c.req.valid("query").limit, (r) => r.child_id === undefined || r.child_id === null || r.child_id === childId);
      return c.json({ records }, 200);
    },
  );
}
