/**
 * SPEC §5 commands: GET /v1/commands, and POST /v1/commands/{name}, declared once per command of
 * the catalogue with that command's own args schema: one declaration gives the validation, the
 * OpenAPI path and its request schema. A name outside the catalogue reaches the generic route
 * and is refused (404 `unknown_command`). Order on a command: body read, signature, decoding,
 * args (422), then availability (503), elevation (403) and the concurrency cap (429) in
 * CommandService, which writes the attempt's audit record before anything starts.
 */
import { Hono } from "hono";
import * as v from "valibot";
import { argsSha256, validateArgs, type CommandService, type ArgValues, type CommandSpec } from "../../commands/index.ts";
import { sortedCommands } from "../../commands/catalogue.ts";
import { callerOf, validJson, type RequestChecks } from "../request-checks.ts";
import { BODY_PROBLEMS, CHECK_PROBLEMS, SIGNED, SIGNED_PROBLEMS, jsonOrJoseBody, jsonResponse, problem, documented } from "../route-docs.ts";
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

/** The body of POST /v1/commands/{name} for one command: `{"args": …}` with that command's args schema. */
function commandBody(command: CommandSpec) {
  return v.strictObject({ args: command.argsSchema as v.GenericSchema<unknown, ArgValues> }, "must be a JSON object with only \"args\"");
}

/**
 * One POST route per allowed command: its path, its args schema, its doc. Registered only in the
 * app the OpenAPI document is generated from (app.ts): the served app answers these paths with
 * the one route below, which validates each with the very same schema. One route per command
 * beside `/v1/commands/:name` would make Hono fall back from its RegExpRouter to its TrieRouter
 * (a static path and a parameter on the same segment), ≈ 0.6 µs more on every request to any
 * path (docs/performance.md).
 */
export function perCommandRoutes({ service, checks, declare }: CommandRoutesOptions & { declare: boolean }): Hono<Env> {
  const app = new Hono<Env>();
  if (!declare) return app;
  for (const command of sortedCommands(service.catalogue)) {
    const body = commandBody(command);
    app.post(
      `/v1/commands/${command.name}`,
      documented({
        operationId: `run_${command.name.replace(/\W/g, "_")}`,
        summary: command.description,
        tags: ["commands"],
        ...SIGNED,
        ...jsonOrJoseBody(`{"args": {…}} for ${command.name}`, body),
        responses: commandResponses(),
      }, checks.readBody),
      checks.signed,
      checks.decodeBody,
      validJson(body),
      () => {
        throw new Error("documentation only: the served app runs commands through POST /v1/commands/:name");
      },
    );
  }
  return app;
}

export function commandRoutes({ service, checks }: CommandRoutesOptions) {
  // Each allowed command's args are validated with its own schema (422 issues name its fields);
  // a name outside the catalogue gets the generic shape check, then 404 `unknown_command`.
  const generic = validJson(CommandRequestSchema);
  // Built on the first command request, with the catalogue (commands/catalogue.ts deferredCatalogue).
  const allowCommands = () => new Map(sortedCommands(service.catalogue).map((command) => [command.name, { command, validator: validJson(commandBody(command)) }]));
  let allowed: ReturnType<typeof allowCommands> | null = null;
  const allowedCommands = () => (allowed ??= allowCommands());
  const validBody = Object.assign(((c, next) => (allowedCommands().get(c.req.param("name") ?? "")?.validator ?? generic)(c as never, next)) as typeof generic, generic);
  return new Hono<Env>()
    .get(
      "/v1/commands",
      documented({
        operationId: "listCommands",
        summary: "The allowed commands and their args JSON Schemas",
        tags: ["commands"],
        responses: { "200": jsonResponse("the catalogue", CommandListSchema), ...CHECK_PROBLEMS },
      }, (c) => c.body(service.listing(), 200, { "Content-Type": "application/json" })),
    )
    .post(
      "/v1/commands/:name",
      // Each command is documented at its own path (perCommandRoutes); this route serves them all.
      documented({ hide: true }, checks.readBody),
      checks.signed,
      checks.decodeBody,
      validBody,
      async (c) => {
        const name = c.req.param("name");
        const known = allowedCommands().get(name);
        const command = known ? known.command : service.command(name);
        const args = known ? (c.req.valid("json").args as ArgValues) : validateArgs(command, c.req.valid("json").args);
        const execution = await service.execute(callerOf(c), command, args, argsSha256(args));
        if (execution.kind === "started") return c.json({ job_id: execution.job.id }, 202, { Location: `/v1/jobs/${execution.job.id}` });
        return c.json(execution.result, 200);
      },
    );
}
