/**
 * One load run = one load child (bench/load-child.ts) against one server, either as icecore's
 * own child (its certificate comes through the handoff) or beside the baseline server (its
 * certificate comes on stdin). Both servers' per-request log lines go to a scratch file, so
 * neither pays for a reader on the bench side.
 */
import { join } from "node:path";
import { rmSync } from "node:fs";
import type { BenchContext } from "../measurement.ts";
import type { ConnectionMode, LoadResult } from "../load/https-load.ts";
import { loadChildCommand, startIcecore } from "./icecore-run.ts";
import { startBaseline, stopBaseline, type BaselineStopped } from "./baseline-server.ts";
import { exitWithin, jsonLine, spawnProcess, type LineProcess } from "./processes.ts";

export interface LoadSpec {
  /** `<module path relative to bench/>#<export>`, see bench/load/workload.ts. */
  workload: string;
  connection: ConnectionMode;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

/** Slack after warm-up + duration for start-up, the probe and shutdown. */
const SLACK_MS = 30_000;

let runs = 0;

function childArgs(spec: LoadSpec): string[] {
  return [
    "load",
    "--workload", spec.workload,
    "--connection", spec.connection,
    "--concurrency", String(spec.concurrency),
    "--warmup-ms", String(spec.warmupMs),
    "--duration-ms", String(spec.durationMs),
  ];
}

async function resultOf(proc: LineProcess, spec: LoadSpec, who: string): Promise<LoadResult> {
  try {
    const { value } = await proc.waitForLine(
      "stdout",
      (line) => {
        const parsed = jsonLine(line);
        return parsed?.event === "load_result" ? (parsed as unknown as LoadResult) : undefined;
      },
      spec.warmupMs + spec.durationMs + SLACK_MS,
    );
    return value;
  } catch (error) {
    await proc.stop("SIGKILL", 1000);
    throw new Error(`load against ${who} failed: ${(error as Error).message}`);
  }
}

export async function loadAgainstIcecore(ctx: BenchContext, spec: LoadSpec): Promise<LoadResult> {
  const log = join(ctx.scratch, `icecore-load-${++runs}.log`);
  const icecore = startIcecore(ctx, {
    child: loadChildCommand(ctx, childArgs(spec)),
    flags: ["--handoff-timeout", "30s"],
    stderrFile: log,
  });
  try {
    const result = await resultOf(icecore, spec, "icecore");
    const status = await exitWithin(icecore, 10_000);
    if (status !== 0) throw new Error(`icecore exited ${status} after the load; stderr:\n${icecore.stderrTail()}`);
    return result;
  } finally {
    rmSync(log, { force: true });
  }
}

export async function loadAgainstBaseline(ctx: BenchContext, spec: LoadSpec): Promise<LoadResult & { server: BaselineStopped }> {
  const log = join(ctx.scratch, `baseline-load-${++runs}.log`);
  const baseline = await startBaseline(ctx, { stderrFile: log });
  try {
    const pki = await ctx.baselinePki();
    const child = spawnProcess(loadChildCommand(ctx, [...childArgs(spec), "--bundle-stdin"]), {
      cwd: ctx.scratch,
      stdin: JSON.stringify({ v: 1, ...pki.client, api_url: baseline.apiUrl }),
    });
    const result = await resultOf(child, spec, "the baseline");
    const status = await exitWithin(child, 10_000);
    if (status !== 0) throw new Error(`the load child exited ${status}; stderr:\n${child.stderrTail()}`);
    return { ...result, server: await stopBaseline(baseline) };
  } finally {
    await baseline.process.stop("SIGKILL", 1000);
    rmSync(log, { force: true });
  }
}
