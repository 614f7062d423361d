/**
 * GET /v1/openapi.json: OpenAPI 3.1 of the Core API (SPEC §5), generated from the valibot
 * schemas that the server uses (src/api/schemas.ts) and from each command's args schema, the very
 * object that validates POST /v1/commands/{name}. Built once per catalogue, served as is.
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { VERSION } from "../version.ts";
import { argsJsonSchema } from "../commands/policy-loader.ts";
import { sortedCommands } from "../commands/catalogue.ts";
import type { Catalogue } from "../commands/types.ts";
import {
  CommandListSchema,
  CommandRequestSchema,
  CommandResultSchema,
  HealthSchema,
  InfoSchema,
  JobAcceptedSchema,
  JobSchema,
  ProblemSchema,
} from "./schemas.ts";

type Json = Record<string, unknown>;

function schemaOf(schema: v.GenericSchema): Json {
  const json = toJsonSchema(schema, { target: "draft-2020-12", errorMode: "ignore" }) as Json;
  delete json.$schema; // OpenAPI 3.1's dialect is 2020-12 already
  return json;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json) => ({ "application/json": { schema } });
const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: ref("Problem") } } });

const SIGNED_NOTE =
  "Signed (RFC 9421): `Signature-Input` and `Signature` with alg `ecdsa-p256-sha256`, keyid = client_id, " +
  'covering "@method" "@target-uri" and, with a body, "content-digest" (RFC 9530, sha-256); parameters created and nonce.';

const signedParameters = [
  { name: "Signature-Input", in: "header", required: true, schema: { type: "string" } },
  { name: "Signature", in: "header", required: true, schema: { type: "string" } },
];

const commonErrors = {
  "401": problem("signature missing, invalid, unknown or expired client, stale, replayed"),
  "403": problem("foreign Origin/Referer, or elevation unavailable"),
  "421": problem("Host is not this API"),
};

function commandBody(args: Json) {
  return {
    required: true,
    content: {
      "application/json": { schema: { type: "object", properties: { args }, required: ["args"], additionalProperties: false } },
      "application/jose": { schema: { type: "string", description: "compact JWE (ECDH-ES + A256GCM) to the bundle's server_key; plaintext is the JSON body" } },
    },
  };
}

function commandOperation(summary: string, body: ReturnType<typeof commandBody>, operationId: string) {
  return {
    post: {
      operationId,
      summary,
      description: SIGNED_NOTE,
      parameters: signedParameters,
      requestBody: body,
      responses: {
        "200": { description: "the command ran", content: json(ref("CommandResult")) },
        "202": { description: "a long command started as a job", headers: { Location: { schema: { type: "string" } } }, content: json(ref("JobAccepted")) },
        "400": problem("malformed JSON or JWE"),
        ...commonErrors,
        "404": problem("no such command"),
        "413": problem("body over 64 KiB"),
        "415": problem("body is neither application/json nor application/jose"),
        "422": problem("args do not match the command's schema"),
        "429": problem("too many concurrent commands for this client"),
        "503": problem("the command's tool is not installed"),
      },
    },
  };
}

export function buildOpenApi(options: { apiUrl: string; catalogue: Catalogue }): Json {
  const paths: Json = {
    "/v1/health": { get: { operationId: "health", summary: "liveness", responses: { "200": { description: "ok", content: json(ref("Health")) } } } },
    "/v1/info": { get: { operationId: "info", summary: "version, platform, uptime, client certificate expiry, rotation", responses: { "200": { description: "ok", content: json(ref("Info")) } } } },
    "/v1/commands": { get: { operationId: "listCommands", summary: "allowed commands and their args schemas", responses: { "200": { description: "ok", content: json(ref("CommandList")) } } } },
    "/v1/commands/{name}": {
      parameters: [{ name: "name", in: "path", required: true, schema: { type: "string", enum: sortedCommands(options.catalogue).map((c) => c.name) } }],
      ...commandOperation("run an allowed command (the per-command paths below give each one's exact args schema)", commandBody({ type: "object" }), "runCommand"),
    },
    "/v1/jobs/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", pattern: "^[0-9a-f]{32}$" } }],
      get: { operationId: "getJob", summary: "a job's state, exit code and timings", responses: { "200": { description: "ok", content: json(ref("Job")) }, "404": problem("no such job") } },
      delete: {
        operationId: "cancelJob",
        summary: "cancel a job (SIGTERM, then SIGKILL after 5 s)",
        description: SIGNED_NOTE,
        parameters: signedParameters,
        responses: { "200": { description: "cancelling", content: json(ref("Job")) }, ...commonErrors, "404": problem("no such job") },
      },
    },
    "/v1/jobs/{id}/events": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: {
        operationId: "jobEvents",
        summary: "server-sent events: `output` {stream, line}, `progress`, `exit` {exit_code, state}",
        responses: { "200": { description: "an event stream from the job's start", content: { "text/event-stream": { schema: { type: "string" } } } }, "404": problem("no such job") },
      },
    },
    "/v1/openapi.json": { get: { operationId: "openapi", summary: "this document", responses: { "200": { description: "OpenAPI 3.1", content: json({ type: "object" }) } } } },
  };
  for (const command of sortedCommands(options.catalogue)) {
    paths[`/v1/commands/${command.name}`] = commandOperation(command.description, commandBody(argsJsonSchema(command) as Json), `run_${command.name.replace(/\W/g, "_")}`);
  }
  return {
    openapi: "3.1.0",
    info: { title: "icecore Core API", version: VERSION, description: "Local Core API: mutual TLS with certificates from icecore's in-memory CA; state-changing requests are signed (RFC 9421)." },
    servers: [{ url: options.apiUrl }],
    security: [{ mutualTLS: [] }],
    paths,
    components: {
      securitySchemes: { mutualTLS: { type: "mutualTLS", description: "client certificate from the handoff bundle, issued by icecore's CA" } },
      schemas: {
        Health: schemaOf(HealthSchema),
        Info: schemaOf(InfoSchema),
        Problem: schemaOf(ProblemSchema),
        CommandRequest: schemaOf(CommandRequestSchema),
        CommandResult: schemaOf(CommandResultSchema),
        CommandList: schemaOf(CommandListSchema),
        JobAccepted: schemaOf(JobAcceptedSchema),
        Job: schemaOf(JobSchema),
      },
    },
  };
}
