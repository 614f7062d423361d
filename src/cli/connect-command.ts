import * as v from "valibot";
import { parseFlags } from "./flags.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { HandoffFailed, receiveBundle } from "../client/receive-bundle.ts";
import { createCoreClient, type CoreClient } from "../client/core-client.ts";

const CONNECT_FLAGS = {
  "pipe-name": { type: "string" },
  timeout: { type: "string" },
  exec: { type: "string", multiple: true },
  args: { type: "string", multiple: true },
  encrypt: { type: "boolean" },
} as const;

const JsonObject = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      const value: unknown = JSON.parse(dataset.value);
      if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // reported below
    }
    addIssue({ message: "must be a JSON object, e.g. '{\"query\":\"vim\"}'" });
    return NEVER;
  }),
);

const ConnectFlagsSchema = v.object({
  "pipe-name": v.pipe(v.string("is required: icecore run passes it"), v.minLength(1)),
  timeout: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be milliseconds"), v.transform(Number)), "5000"),
  exec: v.optional(v.array(v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/, "must be a command name such as disk.list"))), []),
  args: v.optional(v.array(JsonObject), []),
  encrypt: v.optional(v.boolean(), false),
});

function line(out: string[], text: string) {
  out.push(text);
  process.stdout.write(text + "\n");
}

async function call(client: CoreClient, path: string, out: string[]): Promise<Record<string, unknown>> {
  const response = await client.get<Record<string, unknown>>(path);
  if (response.status !== 200) {
    throw new CliError(EXIT.UNAVAILABLE, `connect: GET ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
  }
  line(out, `  GET ${path} -> ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

/** The reference child (SPEC §2): take the bundle, prove the API works over mTLS, print a transcript. */
export async function connectCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("connect", argv, CONNECT_FLAGS, ConnectFlagsSchema);
  const started = performance.now();
  let bundle;
  try {
    bundle = await receiveBundle(values["pipe-name"], { timeoutMs: values.timeout });
  } catch (error) {
    if (error instanceof HandoffFailed) throw new CliError(EXIT.UNAVAILABLE, `connect: ${error.message}`);
    throw error;
  }
  const out: string[] = [];
  line(out, `icecore connect: bundle received in ${(performance.now() - started).toFixed(1)} ms`);
  line(out, `  client_id ${bundle.client_id}, certificate valid until ${bundle.not_after}`);
  line(out, `  api ${bundle.api_url} (server verified against the bundle's CA only)`);
  const client = await createCoreClient(bundle);
  let status: number = EXIT.OK;
  try {
    await call(client, "/v1/health", out);
    await call(client, "/v1/info", out);
    for (const [i, name] of values.exec.entries()) {
      status = (await execute(client, name, values.args[i] ?? {}, values.encrypt, out)) || status;
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT.UNAVAILABLE, `connect: the Core API at ${bundle.api_url} failed: ${(error as Error).message}`);
  }
  line(out, "icecore connect: done");
  return status;
}

interface CommandResult {
  exit_code: number | null;
  stdout: string;
  stderr: string;
  duration_ms: number;
  truncated: boolean;
}

/** POST /v1/commands/{name} (signed; encrypted with --encrypt); a long command's job is followed to its exit. */
async function execute(client: CoreClient, name: string, args: Record<string, unknown>, encrypt: boolean, out: string[]): Promise<number> {
  const response = await client.post<CommandResult & { job_id?: string }>(`/v1/commands/${name}`, { args }, { encrypt });
  if (response.status === 200) {
    const r = response.body;
    line(out, `  POST /v1/commands/${name} -> 200 exit ${r.exit_code} in ${r.duration_ms} ms${r.truncated ? " (output truncated)" : ""}`);
    for (const text of r.stdout.split("\n").filter(Boolean)) line(out, `    | ${text}`);
    for (const text of r.stderr.split("\n").filter(Boolean)) line(out, `    ! ${text}`);
    return r.exit_code ?? 1;
  }
  if (response.status === 202 && response.body.job_id) {
    line(out, `  POST /v1/commands/${name} -> 202 job ${response.body.job_id}`);
    return followJob(client, response.body.job_id, out);
  }
  throw new CliError(EXIT.UNAVAILABLE, `connect: POST /v1/commands/${name} answered ${response.status}: ${JSON.stringify(response.body)}`);
}

async function followJob(client: CoreClient, jobId: string, out: string[]): Promise<number> {
  const response = await client.stream(`/v1/jobs/${jobId}/events`);
  if (response.status !== 200 || !response.body) throw new CliError(EXIT.UNAVAILABLE, `connect: job ${jobId} events answered ${response.status}`);
  let buffer = "";
  let event = "message";
  const decoder = new TextDecoder();
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      const text = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (text.startsWith("event:")) event = text.slice(6).trim();
      else if (text.startsWith("data:")) {
        const data = JSON.parse(text.slice(5)) as { stream?: string; line?: string; exit_code?: number | null; state?: string };
        if (event === "output") line(out, `    ${data.stream === "stderr" ? "!" : "|"} ${data.line}`);
        if (event === "exit") {
          line(out, `  job ${jobId} ${data.state} exit ${data.exit_code}`);
          await response.body.cancel().catch(() => {});
          return data.exit_code ?? 1;
        }
      } else if (text === "") event = "message";
    }
  }
  throw new CliError(EXIT.UNAVAILABLE, `connect: job ${jobId}'s event stream ended without an exit event`);
}
