/**
 * The API's request and response shapes as valibot schemas: the one source for validation, the
 * OpenAPI document (hono-openapi reads them from the route declarations) and the client types
 * (SPEC §1, §5). Command argument schemas come from the policy (src/commands), the same objects
 * that validate each command's requests.
 */
import * as v from "valibot";
import { P256PublicJwkSchema } from "../pki/p256.ts";

const timestamp = v.pipe(v.string(), v.isoTimestamp());
const hex = (bytes: number, what: string) => v.pipe(v.string(), v.regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes * 2} lowercase hex digits`), v.description(what));

export const ClientIdSchema = hex(32, "client_id: SHA-256 of the client certificate's DER (SPEC §3)");
export const ChildIdSchema = hex(16, "child_id: the spawned child this certificate belongs to (SPEC §3)");
export const JobIdSchema = hex(16, "a job id");

export const HealthSchema = v.object({ status: v.literal("ok") });

export const InfoSchema = v.object({
  name: v.literal("icecore"),
  version: v.string(),
  platform: v.pipe(v.string(), v.description("<os>-<arch>")),
  runtime: v.string(),
  uptime_ms: v.number(),
  api_url: v.string(),
  client: v.pipe(
    v.nullable(
      v.object({
        client_id: ClientIdSchema,
        child_id: ChildIdSchema,
        not_after: timestamp,
        renew_at: v.pipe(timestamp, v.description("when `rotate` is announced for this certificate (2/3 of its lifetime)")),
      }),
    ),
    v.description("the calling client's certificate when the request is signed, else null"),
  ),
  rotation: v.object({
    cert_ttl_ms: v.number(),
    rotate_at_fraction: v.number(),
    grace_ms: v.pipe(v.number(), v.description("how long a renewed certificate keeps working if its successor never signs")),
  }),
});

export const ProblemSchema = v.object({
  type: v.string(),
  title: v.string(),
  status: v.number(),
  detail: v.string(),
  code: v.pipe(v.string(), v.description("machine-readable reason, e.g. signature_invalid, validation_failed")),
  issues: v.optional(v.array(v.object({ path: v.pipe(v.string(), v.description("RFC 6901 JSON Pointer into the request body")), message: v.string() }))),
});

export const CommandRequestSchema = v.object({
  args: v.pipe(v.record(v.string(), v.unknown()), v.description("the command's arguments; see the command's own path for its schema")),
});

export const CommandResultSchema = v.object({
  exit_code: v.nullable(v.number()),
  stdout: v.string(),
  stderr: v.string(),
  duration_ms: v.number(),
  truncated: v.boolean(),
  timed_out: v.boolean(),
  signal: v.nullable(v.string()),
});

export const JobAcceptedSchema = v.object({ job_id: JobIdSchema });

export const JobStateSchema = v.picklist(["running", "succeeded", "failed", "cancelled", "timed_out"]);

export const JobSchema = v.object({
  job_id: JobIdSchema,
  command: v.string(),
  state: JobStateSchema,
  exit_code: v.nullable(v.number()),
  signal: v.nullable(v.string()),
  truncated: v.boolean(),
  started_at: timestamp,
  ended_at: v.nullable(timestamp),
  duration_ms: v.nullable(v.number()),
});

export const CommandListSchema = v.object({
  commands: v.array(
    v.object({
      name: v.string(),
      description: v.string(),
      elevated: v.boolean(),
      long: v.boolean(),
      available: v.boolean(),
      args: v.pipe(v.record(v.string(), v.unknown()), v.description("JSON Schema (2020-12) of the command's args")),
    }),
  ),
});

export const RenewRequestSchema = v.object({
  public_key: v.pipe(P256PublicJwkSchema, v.description("a P-256 public JWK the child generated; its private half never leaves the child")),
});

export const RenewResponseSchema = v.object({
  client_cert: v.pipe(v.string(), v.description("PEM certificate for public_key, same child_id")),
  client_id: ClientIdSchema,
  child_id: ChildIdSchema,
  not_after: timestamp,
  renew_at: timestamp,
  ca_cert: v.string(),
});

export const AuditQuerySchema = v.object({
  limit: v.optional(v.pipe(v.string(), v.regex(/^[1-9][0-9]{0,3}$/, "must be a whole number from 1 to 1000"), v.transform(Number), v.maxValue(1000, "must be at most 1000")), "50"),
});

export const AuditRecordSchema = v.pipe(
  v.looseObject({
    time: timestamp,
    event: v.string(),
  }),
  v.description("one audit record: never args or output; see the README for the events and their fields"),
);

export const AuditPageSchema = v.object({ records: v.array(AuditRecordSchema) });

