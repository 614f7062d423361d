/**
 * The API's response and envelope shapes as valibot schemas: the one source for the OpenAPI
 * document (and for tests that check responses against it). Command argument schemas come from
 * the policy (src/commands), the same objects that validate requests.
 */
import * as v from "valibot";

export const HealthSchema = v.object({ status: v.literal("ok") });

export const InfoSchema = v.object({
  name: v.literal("icecore"),
  version: v.string(),
  platform: v.pipe(v.string(), v.description("<os>-<arch>")),
  runtime: v.string(),
  uptime_ms: v.number(),
  api_url: v.string(),
  client: v.nullable(v.object({ not_after: v.pipe(v.string(), v.isoTimestamp()) })),
  rotation: v.nullable(v.object({ next_at: v.nullable(v.string()), rule: v.string() })),
});

export const ProblemSchema = v.object({
  type: v.string(),
  title: v.string(),
  status: v.number(),
  detail: v.string(),
  code: v.pipe(v.string(), v.description("machine-readable reason, e.g. signature_invalid, validation_failed")),
  issues: v.optional(v.array(v.object({ path: v.string(), message: v.string() }))),
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
});

export const JobAcceptedSchema = v.object({ job_id: v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/)) });

export const JobSchema = v.looseObject({
  id: v.string(),
  command: v.string(),
  state: v.picklist(["running", "succeeded", "failed", "cancelled", "timed_out"]),
  exit_code: v.nullable(v.number()),
  started_at: v.string(),
  ended_at: v.nullable(v.string()),
  duration_ms: v.nullable(v.number()),
});

export const CommandListSchema = v.object({
  commands: v.array(
    v.looseObject({
      name: v.string(),
      description: v.string(),
      elevated: v.boolean(),
      long: v.boolean(),
      available: v.boolean(),
      args: v.pipe(v.record(v.string(), v.unknown()), v.description("JSON Schema (2020-12) of the command's args")),
    }),
  ),
});
