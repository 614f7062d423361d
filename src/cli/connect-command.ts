import * as v from "valibot";
import { parseFlags } from "./flags.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { HandoffFailed, receiveBundle } from "../client/receive-bundle.ts";
import { createCoreClient, type CoreClient } from "../client/core-client.ts";

const CONNECT_FLAGS = {
  "pipe-name": { type: "string" },
  timeout: { type: "string" },
} as const;

const ConnectFlagsSchema = v.object({
  "pipe-name": v.pipe(v.string("is required: icecore run passes it"), v.minLength(1)),
  timeout: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be milliseconds"), v.transform(Number)), "5000"),
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
  try {
    await call(client, "/v1/health", out);
    await call(client, "/v1/info", out);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT.UNAVAILABLE, `connect: the Core API at ${bundle.api_url} failed: ${(error as Error).message}`);
  }
  line(out, "icecore connect: done");
  return EXIT.OK;
}
