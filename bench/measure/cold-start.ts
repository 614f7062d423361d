/**
 * Cold start: exec → `api_ready` of the compiled executable (wall clock in the bench, from just
 * before the spawn to the moment the line is read on icecore's stderr, and the event's own
 * `uptime_ms`), exec → `handoff_listening` likewise, against the baseline's exec → listening.
 * icecore and baseline runs alternate, so a slow patch of the machine hits both.
 */
import type { Measurement } from "../measurement.ts";
import { startIcecore } from "../harness/icecore-run.ts";
import { startBaseline, stopBaseline } from "../harness/baseline-server.ts";
import { eventNamed, exitWithin } from "../harness/processes.ts";
import { summarize } from "../harness/stats.ts";
import type { BenchContext } from "../measurement.ts";

const RUNS = 20;

interface IcecoreStart {
  listeningWall: number;
  listeningUptime: number;
  readyWall: number;
  readyUptime: number;
}

async function icecoreStart(ctx: BenchContext): Promise<IcecoreStart> {
  const icecore = startIcecore(ctx);
  const listening = await icecore.waitForLine("stderr", eventNamed("handoff_listening"), 15_000);
  const ready = await icecore.waitForLine("stderr", eventNamed("api_ready"), 15_000);
  const status = await exitWithin(icecore, 15_000);
  if (status !== 0) throw new Error(`icecore run exited ${status}; stderr:\n${icecore.stderrTail()}`);
  return {
    listeningWall: listening.at - icecore.spawnedAt,
    listeningUptime: Number(listening.value.uptime_ms),
    readyWall: ready.at - icecore.spawnedAt,
    readyUptime: Number(ready.value.uptime_ms),
  };
}

async function baselineStart(ctx: BenchContext): Promise<{ wall: number; uptime: number }> {
  const baseline = await startBaseline(ctx);
  const sample = { wall: baseline.listeningAt - baseline.process.spawnedAt, uptime: baseline.uptimeMs };
  const stopped = await stopBaseline(baseline);
  if (stopped.status !== 0) throw new Error(`the baseline exited ${stopped.status}; stderr:\n${baseline.process.stderrTail()}`);
  return sample;
}

export const coldStart: Measurement = {
  id: "cold_start",
  title: "Cold start (exec → ready)",
  async run(ctx) {
    // One discarded run of each first: the page cache then holds both executables.
    await icecoreStart(ctx);
    await baselineStart(ctx);
    const ice: IcecoreStart[] = [];
    const base: { wall: number; uptime: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      ice.push(await icecoreStart(ctx));
      base.push(await baselineStart(ctx));
    }
    const readyWall = summarize(ice.map((s) => s.readyWall));
    const readyUp = summarize(ice.map((s) => s.readyUptime));
    const listenWall = summarize(ice.map((s) => s.listeningWall));
    const listenUp = summarize(ice.map((s) => s.listeningUptime));
    const baseWall = summarize(base.map((s) => s.wall));
    const baseUp = summarize(base.map((s) => s.uptime));
    return {
      figures: [
        { name: "exec → api_ready (wall clock), median", value: readyWall.median, unit: "ms", baseline: baseWall.median, better: "lower", note: "baseline: exec → listening" },
        { name: "exec → api_ready (wall clock), p90", value: readyWall.p90, unit: "ms", baseline: baseWall.p90, better: "lower", note: "baseline: exec → listening" },
        { name: "api_ready uptime_ms (self-reported), median", value: readyUp.median, unit: "ms", baseline: baseUp.median, better: "lower", note: "baseline: performance.now() at listen" },
        { name: "api_ready uptime_ms (self-reported), p90", value: readyUp.p90, unit: "ms", baseline: baseUp.p90, better: "lower", note: "baseline: performance.now() at listen" },
        { name: "exec → handoff_listening (wall clock), median", value: listenWall.median, unit: "ms", baseline: baseWall.median, better: "lower", note: "baseline: exec → listening" },
        { name: "exec → handoff_listening (wall clock), p90", value: listenWall.p90, unit: "ms", baseline: baseWall.p90, better: "lower", note: "baseline: exec → listening" },
        { name: "handoff_listening uptime_ms (self-reported), median", value: listenUp.median, unit: "ms", better: "lower" },
        { name: "handoff_listening uptime_ms (self-reported), p90", value: listenUp.p90, unit: "ms", better: "lower" },
      ],
      notes: [
        `${RUNS} runs each, icecore and baseline alternating, after one discarded run of each (warm page cache). Wall clock: the bench's performance.now() just before Bun.spawn → the log line read from the pipe.`,
        `icecore: \`dist/icecore run --log-format json --audit-log <tmp>${ctx.rootFlags.length ? " --allow-root" : ""}\`${ctx.rootFlags.length ? " (the bench runs as root, so --allow-root is passed)" : ""}, built-in child. handoff_listening comes after the PKI is minted (CA, server leaf, ECDH key) and the API port is bound; api_ready comes after the handoff, so it also includes the child's exec, start-up and connect.`,
        "baseline: `node bench/baseline/server.mjs` (Node https + Hono through @hono/node-server) reading pre-minted PEMs on stdin, listening on 127.0.0.1:0; it mints nothing, so the ratios charge icecore for its PKI and handoff.",
      ],
    };
  },
};
