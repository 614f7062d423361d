/**
 * Pieces every route declaration uses with hono-openapi's describeRoute(): JSON responses from
 * the valibot schemas (the same objects that validate), RFC 9457 problems, and the RFC 9421
 * signature headers of signed routes. The document itself is generated from the routes
 * (routes/openapi.ts); nothing here lists a path.
 */
import { describeRoute, resolver } from "hono-openapi";
import type * as v from "valibot";
import { ProblemSchema } from "./schemas.ts";
import { ALGORITHM } from "../httpsig/algorithm.ts";

/**
 * The first handler of a route, carrying the route's OpenAPI description. hono-openapi finds a
 * description on any handler of a route (generateSpecs reads each for its marker), but
 * describeRoute() alone is an extra `async (c, next) => await next()` layer on every request to
 * the route, about a microsecond each (docs/performance.md). This is the same description on a
 * plain call-through to the route's first handler, at the place describeRoute() held, so the
 * generated document is unchanged.
 */
export function documented<H extends (c: any, next: any) => unknown>(spec: Parameters<typeof describeRoute>[0], first: H): H {
  const callThrough = ((c: unknown, next: unknown) => first(c, next)) as H;
  return Object.assign(callThrough, describeRoute(spec));
}

export function jsonResponse(description: string, schema: v.GenericSchema) {
  return { description, content: { "application/json": { schema: resolver(schema) } } };
}

export function problem(description: string) {
  return { description, content: { "application/problem+json": { schema: resolver(ProblemSchema) } } };
}

export function eventStream(description: string) {
  return { description, content: { "text/event-stream": { schema: { type: "string" as const, description: "RFC 8895 server-sent events; a comment heartbeat every 5 s" } } } };
}

/** Responses every request may get from the checks in front of all routes (SPEC §5). */
export const CHECK_PROBLEMS = {
  "403": problem("the Origin or Referer names another origin"),
  "421": problem("the Host is not this API"),
};

const SIGNATURE_DESCRIPTION =
  `Signed (RFC 9421): \`Signature-Input\` and \`Signature\`, algorithm ${ALGORITHM} (\`alg\` optional), keyid = client_id, ` +
  'covering "@method" "@target-uri" and, with a body, "content-digest" (RFC 9530, sha-256); `created` required, `nonce` recommended ' +
  "(without one the signature itself is the replay key).";

/** describeRoute() fields of a route that requires a signature. */
export const SIGNED = {
  description: SIGNATURE_DESCRIPTION,
  parameters: [
    { name: "Signature-Input", in: "header" as const, required: true, schema: { type: "string" as const }, description: "RFC 9421 §4.1" },
    { name: "Signature", in: "header" as const, required: true, schema: { type: "string" as const }, description: "RFC 9421 §4.2" },
  ],
};

/** The 401/429 a signed route may answer. */
export const SIGNED_PROBLEMS = {
  "401": problem("signature missing or invalid, unknown, expired or revoked client, stale or replayed request"),
  "429": problem("too many signed requests from this client in the replay window, or too many running commands"),
};

/** describeRoute() fields of a route with a body (JSON, or a JWE of JSON to the bundle's server_key). */
export function jsonOrJoseBody(description: string, schema: v.GenericSchema) {
  return {
    requestBody: {
      required: true,
      description,
      content: {
        "application/json": { schema: resolver(schema) },
        "application/jose": {
          schema: { type: "string" as const, description: "compact JWE (ECDH-ES + A256GCM) to the bundle's server_key; its plaintext is the JSON body" },
        },
      },
    },
    parameters: [
      ...SIGNED.parameters,
      { name: "Content-Digest", in: "header" as const, required: true, schema: { type: "string" as const }, description: "RFC 9530 sha-256 of the body as sent" },
    ],
  };
}

/** The problems a route with a body may answer besides the checks. */
export const BODY_PROBLEMS = {
  "400": problem("malformed JSON or JWE"),
  "413": problem("body over 64 KiB"),
  "415": problem("body is neither application/json nor application/jose"),
};
