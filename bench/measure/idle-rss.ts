/**
 * Idle RSS: VmRSS of the icecore process 1 s after `api_ready`, its child holding the bundle and
 * sleeping; and of the baseline Node server 1 s after it listens. Neither has served a request.
 */
import type { BenchContext, Measurement } from "../measurement.ts";
import { loadChildCommand, startIcecore } from "../harness/icecore-run.ts";
import { startBaseline, stopBaseline } from "../harness/baseline-server.ts";
import { eventNamed, exitWithin, residentKiB } from "../harness/processes.ts";
import { median } from "../harness/stats.ts";

const RUNS = 3;
const SETTLE_MS = 1000;

async function icecoreIdle(ctx: BenchContext): Promise<{ server: number; child: number }> {
  const icecore = startIcecore(ctx, { child: loadChildCommand(ctx, ["idle", "--max-idle-ms", "20000"]) });
  try {
    const { value: spawned } = await icecore.waitForLine("stderr", eventNamed("child_spawned"), 15_000);
    await icecore.waitForLine("stderr", eventNamed("api_ready"), 15_000);
    await Bun.sleep(SETTLE_MS);
    const sample = { server: residentKiB(icecore.pid), child: residentKiB(Number(spawned.pid)) };
    await icecore.stop("SIGTERM", 5000);
    const status = await exitWithin(icecore, 10_000);
    if (status !== 0) throw new Error(`icecore exited ${status} on SIGTERM; stderr:\n${icecore.stderrTail()}`);
    return sample;
  } finally {
    await icecore.stop("SIGKILL", 1000);
  }
}

async function baselineIdle(ctx: BenchContext): Promise<number> {
  const baseline = await startBaseline(ctx);
  try {
    await Bun.sleep(SETTLE_MS);
    const rss = residentKiB(baseline.process.pid);
    await stopBaseline(baseline);
    return rss;
  } finally {
    await baseline.process.stop("SIGKILL", 1000);
  }
}

const MIB = 1024;

export const idleRss: Measurement = {
  id: "idle_rss",
  title: "Idle RSS",
  async run(ctx) {
    const ice: { server: number; child: number }[] = [];
    const base: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      ice.push(await icecoreIdle(ctx));
      base.push(await baselineIdle(ctx));
    }
    const server = median(ice.map((s) => s.server));
    const child = median(ice.map((s) => s.child));
    return {
      figures: [
        { name: `icecore VmRSS ${SETTLE_MS / 1000} s after api_ready (child idle)`, value: server / MIB, unit: "MiB", baseline: median(base) / MIB, better: "lower", note: "baseline: Node server 1 s after listening" },
      ],
      notes: [
        `Median of ${RUNS} runs each, VmRSS from /proc/<pid>/status. icecore's child (bench/load-child.ts idle, a Bun process holding the bundle) is not counted: ${(child / MIB).toFixed(1)} MiB on its own.`,
        `Samples (MiB): icecore ${ice.map((s) => (s.server / MIB).toFixed(1)).join(", ")}; baseline ${base.map((k) => (k / MIB).toFixed(1)).join(", ")}.`,
      ],
    };
  },
};
