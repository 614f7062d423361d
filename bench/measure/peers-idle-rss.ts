/**
 * Idle memory against the peers: VmRSS of each server 1 s after api_ready, its loadgen child
 * holding the run open (`--once --hold 2s`), and the executables' sizes. Issue 16: idle RSS ≤ the
 * floor's + 5 MB.
 */
import type { Measurement } from "../measurement.ts";
import { measurePeers } from "../harness/peers.ts";
import { peerFigure, peerRunNotes } from "../harness/peer-figures.ts";

const RSS_RUNS = 3;

export const peersIdleRss: Measurement = {
  id: "peers_idle_rss",
  title: "Idle RSS and size against the peers",
  async run(ctx) {
    const availability = await ctx.peers();
    if (!availability.available) return { figures: [], notes: [], skipped: availability.reason };
    const run = await measurePeers(ctx, availability.peers, { coldRuns: 0, loadRuns: 0, rssRuns: ctx.quick ? 1 : RSS_RUNS });
    const size = (s: keyof typeof run.results) => {
      const mb = (run.results[s].binary_bytes ?? 0) / 1e6;
      return { median: mb, min: mb, max: mb };
    };
    return {
      figures: [],
      peerFigures: [
        peerFigure(run, "idle RSS 1 s after api_ready", "MB", "lower", (s) => run.results[s].idle_rss_mb, { kind: "plus_at_most", value: 5 }),
        peerFigure(run, "executable size", "MB", "lower", size),
      ],
      notes: [`${RSS_RUNS} runs per server; VmRSS from /proc/<pid>/status (measure prints MB = MiB here: kB ÷ 1024).`, ...peerRunNotes(run)],
    };
  },
};
