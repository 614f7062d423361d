/**
 * SPEC §5 commands: GET /v1/commands, and POST /v1/commands/{name}, declared once per command of
 * the catalogue with that command's own args schema: one declaration gives the validation, the
 * OpenAPI path and its request schema. A name outside the catalogue reaches the generic route
 * and is refused (404 `unknown_command`). Order on a command: body read, signature, decoding,
 * args (422), then availability (503), elevation (403) and the concurrency cap (429) in
 * CommandService, which writes the attempt's audit record before anything starts.
 */
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { argsSha256, validateArgs, type CommandService, type ArgValues } from "../../commands/index.ts";
import { sortedCommands } from "../../commands/catalogue.ts";
import { callerOf, validJson, type RequestChecks } from "../request-checks.ts";
import { BODY_PROBLEMS, CHECK_PROBLEMS, SIGNED, SIGNED_PROBLEMS, jsonOrJoseBody, jsonResponse, problem } from "../route-docs.ts";
import { CommandListSchema, CommandRequestSchema, CommandResultSchema, JobAcceptedSchema } from "../schemas.ts";
import type { SignatureVariables } from "../middleware/signature.ts";

export interface CommandRoutesOptions {
  service: CommandService;
  checks: RequestChecks;
}

type Env = { Variables: SignatureVariables };

function commandResponses() {
  return {
    "200": jsonResponse("the command ran", CommandResultSchema),
    "202": { ...jsonResponse("a long command started as a job", JobAcceptedSchema), headers: { Location: { schema: { type: "string" as const }, description: "/v1/jobs/{job_id}" } } },
    ...BODY_PROBLEMS,
    ...SIGNED_PROBLEMS,
    ...CHECK_PROBLEMS,
    "403": problem("a foreign Origin/Referer, or the command needs elevation and icecore runs without it"),
    "404": problem("no such command"),
    "422": problem("args do not match the command's schema (issues name each field)"),
    "503": problem("the command's tool is not installed here, or its audit record cannot be written"),
  };
}

/** One POST route per allowed command: its path, its args schema, its doc. Untyped for clients (the set is a run-time policy). */
export function perCommandRoutes({ service, checks }: CommandRoutesOptions): Hono<Env> {
  const app = new Hono<Env>();
  for (const command of sortedCommands(service.catalogue)) {
    const body = v.strictObject({ args: command.argsSchema as v.GenericSchema<unknown, ArgValues> }, "must be a JSON object with only \"args\"");
    app.post(
      `/v1/commands/${command.name}`,
      describeRoute({
        operationId: `run_${command.name.replace(/\W/g, "_")}`,
        summary: command.description,
        tags: ["commands"],
        ...SIGNED,
        ...jsonOrJoseBody(`{"args": {…}} for ${command.name}`, body),
        responses: commandResponses(),
      }),
      checks.readBody,
      checks.signed,
      checks.decodeBody,
      validJson(body),
      async (c) => {
        const { args } = c.req.valid("json");
        const execution = await service.execute(callerOf(c), command, args, argsSha256(args));
        if (execution.kind === "started") return c.json({ job_id: execution.job.id }, 202, { Location: `/v1/jobs/${execution.job.id}` });
        return c.json(execution.result, 200);
      },
    );
  }
  return app;
}

export function commandRoutes({ service, checks }: CommandRoutesOptions) {
  return new Hono<Env>()
    .get(
      "/v1/commands",
      describeRoute({
        operationId: "listCommands",
        summary: "The allowed commands and their args JSON Schemas",
        tags: ["commands"],
        responses: { "200": jsonResponse("the catalogue", CommandListSchema), ...CHECK_PROBLEMS },
      }),
      (c) => c.body(service.listing(), 200, { "Content-Type": "application/json" }),
    )
    .post(
      "/v1/commands/:name",
      // Every command has its own, documented route above this one, which answers first; this
      // generic one gives clients their types and refuses names outside the catalogue.
      describeRoute({ hide: true }),
      checks.readBody,
      checks.signed,
      checks.decodeBody,
      validJson(CommandRequestSchema),
      async (c) => {
        const command = service.command(c.req.param("name"));
        const args = validateArgs(command, c.req.valid("json").args);
        const execution = await service.execute(callerOf(c), command, args, argsSha256(args));
        if (execution.kind === "started") return c.json({ job_id: execution.job.id }, 202, { Location: `/v1/jobs/${execution.job.id}` });
        return c.json(execution.result, 200);
      },
    );
}
