/**
 * Handoff latency: how long the one-time endpoint lives, open → closed, as icecore reports it in
 * its `handoff_closed` event (`lifetime_ms`, logged when the listener closes) and its
 * `handoff_delivered` event (`closed_before_write_ms`, listener closed → bundle written: SPEC §4.4
 * closes the listener first).
 * `dist/icecore run --log-format json --audit-log <tmp>` with no child, so icecore starts its own
 * `connect` (the compiled executable itself): the lifetime includes that child's exec and start-up.
 */
import type { Measurement } from "../measurement.ts";
import { startIcecore } from "../harness/icecore-run.ts";
import { eventNamed, exitWithin } from "../harness/processes.ts";
import { summarize } from "../harness/stats.ts";

const RUNS = 20;

export const handoffLatency: Measurement = {
  id: "handoff_latency",
  title: "Handoff latency (endpoint open → closed)",
  async run(ctx) {
    const lifetimes: number[] = [];
    const beforeWrite: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const icecore = startIcecore(ctx);
      const { value: closed } = await icecore.waitForLine("stderr", eventNamed("handoff_closed"), 15_000);
      const { value: delivered } = await icecore.waitForLine("stderr", eventNamed("handoff_delivered"), 15_000);
      const status = await exitWithin(icecore, 15_000);
      if (typeof closed.lifetime_ms !== "number") throw new Error(`handoff failed: ${JSON.stringify(closed)}`);
      if (status !== 0) throw new Error(`icecore run exited ${status}; stderr:\n${icecore.stderrTail()}`);
      lifetimes.push(closed.lifetime_ms);
      beforeWrite.push(Number(delivered.closed_before_write_ms));
    }
    const life = summarize(lifetimes);
    const write = summarize(beforeWrite);
    return {
      figures: [
        { name: "lifetime_ms, median", value: life.median, unit: "ms", better: "lower" },
        { name: "lifetime_ms, p90", value: life.p90, unit: "ms", better: "lower" },
        { name: "closed_before_write_ms (listener closed → bundle written), median", value: write.median, unit: "ms", better: "lower" },
        { name: "closed_before_write_ms (listener closed → bundle written), p90", value: write.p90, unit: "ms", better: "lower" },
      ],
      notes: [
        `${RUNS} runs of \`icecore run --log-format json --audit-log <tmp>${ctx.rootFlags.length ? " --allow-root" : ""}\` with the built-in child (\`icecore connect\`); figures are icecore's own \`handoff_closed\` and \`handoff_delivered\` fields.`,
        `lifetime_ms spans endpoint bound → child spawned and started → peer verified → listener closed (min ${life.min.toFixed(1)} ms, max ${life.max.toFixed(1)} ms); the bundle is written after the close (SPEC §4.4), closed_before_write_ms max ${write.max.toFixed(3)} ms.`,
      ],
    };
  },
};
