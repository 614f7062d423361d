/**
 * Cold start and the one-time endpoint against the peers: go-seed (the seed's design in Go) and
 * bun-floor (what Bun alone costs for the job), with shared/peers' loadgen as every server's
 * child (`--once`: take the bundle, one mTLS GET). Issue 16: exec → api_ready ≤ 1.3× the floor's;
 * endpoint lifetime (handoff_listening → handoff_closed) ≤ the floor's + 1 ms.
 */
import type { Measurement } from "../measurement.ts";
import { measurePeers } from "../harness/peers.ts";
import { peerFigure, peerRunNotes } from "../harness/peer-figures.ts";

/** measure's own default. */
const COLD_RUNS = 20;

export const peersColdStart: Measurement = {
  id: "peers_cold_start",
  title: "Cold start and endpoint lifetime against the peers",
  async run(ctx) {
    const availability = await ctx.peers();
    if (!availability.available) return { figures: [], notes: [], skipped: availability.reason };
    const run = await measurePeers(ctx, availability.peers, { coldRuns: ctx.quick ? 3 : COLD_RUNS, loadRuns: 0, rssRuns: 0 });
    const h = (key: string) => (server: keyof typeof run.results) => run.results[server].handoff[key];
    return {
      figures: [],
      peerFigures: [
        peerFigure(run, "exec → api_ready (wall clock)", "ms", "lower", h("exec_to_api_ready_ms"), { kind: "ratio_at_most", value: 1.3 }),
        peerFigure(run, "endpoint lifetime (handoff_listening → handoff_closed)", "ms", "lower", h("endpoint_lifetime_ms"), { kind: "plus_at_most", value: 1 }),
        peerFigure(run, "exec → first response at the child", "ms", "lower", h("exec_to_first_response_ms")),
        peerFigure(run, "certs_minted uptime_ms (self-reported)", "ms", "lower", h("certs_minted_uptime_ms")),
        peerFigure(run, "api_ready uptime_ms (self-reported)", "ms", "lower", h("api_ready_uptime_ms")),
        // The time between the two events, whichever comes first: the peers write, then close;
        // icecore closes at accept, then writes (SPEC §4.4), so measure's delivered → closed is
        // negative for it.
        peerFigure(run, "delivery (between handoff_delivered and handoff_closed)", "ms", "lower", (server) => {
          const s = h("delivery_ms")(server);
          if (s === undefined || s.median >= 0) return s;
          return { ...s, median: -s.median, min: -s.max, max: -s.min };
        }),
        peerFigure(run, "the child's one GET (new TLS connection)", "ms", "lower", h("once_get_ms")),
      ],
      notes: [
        `${COLD_RUNS} runs of each server, unpinned; each run is \`<server> --log-format json -- loadgen --once --pipe-name <name>\`.`,
        "exec → api_ready is measure's clock just before exec → the `ts` of the server's api_ready event (millisecond resolution); uptime_ms figures are the server's own clock (Bun's and Go's start a few ms after exec; bun-floor's counts from its first line), so exec → api_ready minus api_ready uptime_ms is roughly the runtime's own start.",
        ...peerRunNotes(run),
      ],
    };
  },
};
