/**
 * Requests per second against the peers, through shared/peers' loadgen (Go, mTLS HTTP/1.1) as
 * each server's own child, server pinned to core 0 and loadgen to core 1. Issue 16: keep-alive
 * GET ≥ 0.6× the floor's; full handshakes (no resumption) ≥ 0.95× the floor's.
 */
import type { Measurement } from "../measurement.ts";
import { measurePeers, PEER_SERVERS, type PeerLoad, type PeerStats } from "../harness/peers.ts";
import { peerFigure, peerRunNotes } from "../harness/peer-figures.ts";

const LOAD_RUNS = 3;
const LOAD_SECONDS = 5;

/**
 * Server CPU time per request (server CPU × duration ÷ requests, per run): other processes on the
 * machine lower req/s far more than they raise this, so it is the steadier figure on a shared box.
 */
function cpuPerRequest(load: PeerLoad | null): PeerStats | undefined {
  const perRun = (load?.runs ?? [])
    .map((r) => (Number(r.server_cpu) * Number(r.duration_s) * 1e6) / Number(r.requests))
    .filter((v) => Number.isFinite(v) && v > 0)
    .sort((a, b) => a - b);
  if (perRun.length === 0) return undefined;
  const mid = perRun.length >> 1;
  return { median: perRun.length % 2 ? perRun[mid]! : (perRun[mid - 1]! + perRun[mid]!) / 2, min: perRun[0]!, max: perRun[perRun.length - 1]! };
}

function loadNote(mode: string, loads: Record<string, PeerLoad | null>): string {
  return `${mode}: ` + PEER_SERVERS.map((s) => {
    const l = loads[s];
    if (!l) return `${s} no runs`;
    const f = (k: string, d = 2) => l.figures[k]?.median.toFixed(d) ?? "?";
    return `${s} ${l.runs.length} runs (${l.retries} redone for interference), ${l.errors} errors, p50 ${f("p50_ms")} ms, p99 ${f("p99_ms")} ms, server CPU ${f("server_cpu")} cores, loadgen CPU ${f("loadgen_cpu")}, others ${f("other_cpu")}, server RSS under load ${f("server_rss_mb", 1)} MB`;
  }).join("; ");
}

export const peersThroughput: Measurement = {
  id: "peers_throughput",
  title: "mTLS throughput against the peers (pinned, Go loadgen)",
  async run(ctx) {
    const availability = await ctx.peers();
    if (!availability.available) return { figures: [], notes: [], skipped: availability.reason };
    const run = await measurePeers(ctx, availability.peers, { coldRuns: 0, loadRuns: ctx.quick ? 1 : LOAD_RUNS, rssRuns: 0, loadSeconds: ctx.quick ? 1 : LOAD_SECONDS });
    const ka = Object.fromEntries(PEER_SERVERS.map((s) => [s, run.results[s].keepalive]));
    const hs = Object.fromEntries(PEER_SERVERS.map((s) => [s, run.results[s].handshake]));
    return {
      figures: [],
      peerFigures: [
        peerFigure(run, `keep-alive GET /v1/health, ${run.results.icecore.keepalive?.conns ?? 64} connections`, "req/s", "higher", (s) => ka[s]?.figures.rps, { kind: "ratio_at_least", value: 0.6 }),
        peerFigure(run, `full mTLS handshakes (no resumption), ${run.results.icecore.handshake?.conns ?? 16} connections`, "req/s", "higher", (s) => hs[s]?.figures.rps, { kind: "ratio_at_least", value: 0.95 }),
        peerFigure(run, "keep-alive: server CPU per request", "µs", "lower", (s) => cpuPerRequest(ka[s] ?? null)),
        peerFigure(run, "full handshakes: server CPU per connection", "µs", "lower", (s) => cpuPerRequest(hs[s] ?? null)),
        peerFigure(run, "keep-alive: server CPU (cores, pinned to one)", "cores", "lower", (s) => ka[s]?.figures.server_cpu),
        peerFigure(run, "handshakes: server CPU (cores, pinned to one)", "cores", "lower", (s) => hs[s]?.figures.server_cpu),
      ],
      notes: [
        `${LOAD_RUNS} runs per mode and server, ${LOAD_SECONDS} s measured after 1 s warm-up; a run during which other processes used > 0.15 core is redone (up to 3 times). Every figure is the median; spread in latest.json.`,
        loadNote("keep-alive", ka),
        loadNote("handshake", hs),
        ...peerRunNotes(run),
      ],
    };
  },
};
