/** Starting the baseline (bench/baseline/server.mjs on Node) with the baseline PKI on its stdin. */
import { join } from "node:path";
import type { BenchContext } from "../measurement.ts";
import { jsonLine, spawnProcess, type LineProcess } from "./processes.ts";

export interface RunningBaseline {
  process: LineProcess;
  port: number;
  apiUrl: string;
  /** performance.now() in the bench when the "listening" line was read. */
  listeningAt: number;
  /** The server's own performance.now() when it listened (ms since its process started). */
  uptimeMs: number;
}

export interface BaselineStopped {
  status: number;
  tlsHandshakes: number | null;
  tlsResumed: number | null;
  requests: number | null;
}

export async function startBaseline(ctx: BenchContext, options: { stderrFile?: string; timeoutMs?: number } = {}): Promise<RunningBaseline> {
  const pki = await ctx.baselinePki();
  const proc = spawnProcess([ctx.node, join(ctx.root, "bench/baseline/server.mjs")], {
    cwd: ctx.root,
    stdin: JSON.stringify(pki.server),
    stderrFile: options.stderrFile,
  });
  try {
    const { value, at } = await proc.waitForLine(
      "stdout",
      (line) => {
        const parsed = jsonLine(line);
        return parsed?.event === "listening" ? parsed : undefined;
      },
      options.timeoutMs ?? 10_000,
    );
    const port = Number(value.port);
    return { process: proc, port, apiUrl: `https://127.0.0.1:${port}`, listeningAt: at, uptimeMs: Number(value.uptime_ms) };
  } catch (error) {
    await proc.stop("SIGKILL");
    throw error;
  }
}

export async function stopBaseline(baseline: RunningBaseline): Promise<BaselineStopped> {
  const status = await baseline.process.stop("SIGTERM", 5000);
  const stopped = baseline.process.stdoutLines.map((l) => jsonLine(l.text)).find((e) => e?.event === "stopped");
  return {
    status,
    tlsHandshakes: stopped ? Number(stopped.tls_handshakes) : null,
    tlsResumed: stopped ? Number(stopped.tls_resumed) : null,
    requests: stopped ? Number(stopped.requests) : null,
  };
}
