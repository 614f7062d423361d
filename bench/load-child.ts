/**
 * The bench's child process. Under icecore it is started as
 *   icecore run … -- <bun> bench/load-child.ts <mode> [options]   (icecore appends --pipe-name)
 * and takes its client certificate with `receiveBundle`, like any icecore child. Against the
 * baseline it is started with --bundle-stdin and reads the same bundle fields from stdin.
 *
 * Modes:
 *   load --workload <module#export> --connection keepalive|handshake|handshake-full
 *        --concurrency <n> --warmup-ms <ms> --duration-ms <ms>
 *        runs the load against the bundle's api_url, prints ONE JSON line (the LoadResult) on
 *        stdout and exits 0.
 *   idle [--max-idle-ms <ms>]
 *        takes the bundle, prints {"event":"bundle_received"} and sleeps until SIGTERM or
 *        --max-idle-ms (default 30 s), then exits 0.
 * Any failure: one line on stderr, exit 1.
 */
import { parseArgs } from "node:util";
import { receiveBundle } from "../src/client/receive-bundle.ts";
import { CONNECTION_MODES, runLoad, type ConnectionMode } from "./load/https-load.ts";
import { loadWorkload, type LoadTarget } from "./load/workload.ts";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    "pipe-name": { type: "string" },
    "bundle-stdin": { type: "boolean", default: false },
    workload: { type: "string" },
    connection: { type: "string", default: "keepalive" },
    concurrency: { type: "string", default: "16" },
    "warmup-ms": { type: "string", default: "1000" },
    "duration-ms": { type: "string", default: "5000" },
    "max-idle-ms": { type: "string", default: "30000" },
  },
});

function positiveInt(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

async function takeTarget(): Promise<LoadTarget> {
  let bundle: Record<string, unknown>;
  if (values["pipe-name"]) {
    bundle = (await receiveBundle(values["pipe-name"], { timeoutMs: 10_000 })) as Record<string, unknown>;
  } else if (values["bundle-stdin"]) {
    bundle = JSON.parse(await Bun.stdin.text()) as Record<string, unknown>;
  } else {
    throw new Error("no --pipe-name (run me under icecore) and no --bundle-stdin");
  }
  for (const field of ["api_url", "ca_cert", "client_cert", "client_key"]) {
    if (typeof bundle[field] !== "string") throw new Error(`the bundle has no ${field}`);
  }
  return {
    apiUrl: bundle.api_url as string,
    caCert: bundle.ca_cert as string,
    clientCert: bundle.client_cert as string,
    clientKey: bundle.client_key as string,
    bundle,
  };
}

async function main(): Promise<void> {
  const mode = positionals[0];
  if (mode === "idle") {
    await takeTarget();
    process.stdout.write(JSON.stringify({ event: "bundle_received" }) + "\n");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, positiveInt("max-idle-ms", values["max-idle-ms"]));
      process.once("SIGTERM", () => (clearTimeout(timer), resolve()));
    });
    return;
  }
  if (mode === "load") {
    const connection = values.connection as ConnectionMode;
    if (!CONNECTION_MODES.includes(connection)) throw new Error(`--connection must be one of ${CONNECTION_MODES.join(", ")}`);
    if (!values.workload) throw new Error("--workload <module#export> is required");
    const workload = await loadWorkload(values.workload, import.meta.dir);
    const target = await takeTarget();
    const result = await runLoad(target, workload, {
      connection,
      concurrency: Math.max(1, positiveInt("concurrency", values.concurrency)),
      warmupMs: positiveInt("warmup-ms", values["warmup-ms"]),
      durationMs: Math.max(1, positiveInt("duration-ms", values["duration-ms"])),
    });
    process.stdout.write(JSON.stringify({ event: "load_result", ...result }) + "\n");
    return;
  }
  throw new Error(`unknown mode ${JSON.stringify(mode)}; use load or idle`);
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`load-child: ${(error as Error).message}\n`);
  process.exit(1);
}
