/**
 * SPEC §3 rotation by renewal: POST /v1/identity/renew, signed by the child's current leaf,
 * carries a P-256 public JWK the CHILD generated; the answer is a new leaf for the same child_id.
 * No private key crosses any channel; the previous leaf is revoked when the new one first signs,
 * or 60 s after the renewal.
 */
import { Hono } from "hono";
import type { IdentityService } from "../../identity/service.ts";
import { rotationDue } from "../../identity/service.ts";
import { callerOf, validJson, type RequestChecks } from "../request-checks.ts";
import { BODY_PROBLEMS, CHECK_PROBLEMS, SIGNED, SIGNED_PROBLEMS, jsonOrJoseBody, jsonResponse, problem, documented } from "../route-docs.ts";
import { RenewRequestSchema, RenewResponseSchema } from "../schemas.ts";
import type { SignatureVariables } from "../middleware/signature.ts";

export interface IdentityRoutesOptions {
  identity: IdentityService;
  caCertPem: string;
  checks: RequestChecks;
}

export function identityRoutes({ identity, caCertPem, checks }: IdentityRoutesOptions) {
  return new Hono<{ Variables: SignatureVariables }>().post(
    "/v1/identity/renew",
    documented({
      operationId: "renew",
      summary: "A new client certificate for a key the child generated",
      tags: ["identity"],
      ...SIGNED,
      ...jsonOrJoseBody("the new public key", RenewRequestSchema),
      responses: {
        "200": jsonResponse("the new certificate, for the same child_id", RenewResponseSchema),
        ...BODY_PROBLEMS,
        ...SIGNED_PROBLEMS,
        ...CHECK_PROBLEMS,
        "409": problem("only the child's newest certificate may renew"),
        "422": problem("public_key is not a new P-256 public JWK"),
      },
    }, checks.readBody),
    checks.signed,
    checks.decodeBody,
    validJson(RenewRequestSchema),
    async (c) => {
      const { certificate, leaf } = await identity.renew(callerOf(c).clientId, c.req.valid("json").public_key);
      return c.json(
        {
          client_cert: new TextDecoder().decode(certificate.certPem),
          client_id: leaf.clientId,
          child_id: leaf.childId,
          not_after: leaf.notAfter.toISOString(),
          renew_at: new Date(rotationDue(leaf)).toISOString(),
          ca_cert: caCertPem,
        },
        200,
      );
    },
  );
}
