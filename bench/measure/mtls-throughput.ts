/**
 * mTLS throughput: GET /v1/health per second through the same load generator (a Bun process,
 * bench/load-child.ts, `node:https` with an Agent) against icecore — the load child is icecore's
 * own child and takes its certificate through the handoff — and against the baseline (Node https
 * + Hono, certificates from icecore's PKI code). Client and server share the machine's cores.
 */
import { availableParallelism } from "node:os";
import type { BenchContext, Figure, Measurement } from "../measurement.ts";
import type { ConnectionMode, LoadResult } from "../load/https-load.ts";
import type { Workload } from "../load/workload.ts";
import { loadAgainstBaseline, loadAgainstIcecore, type LoadSpec } from "../harness/load-runs.ts";

/** The workload: the unsigned health check, verified once for body and security headers. */
export const healthGet: Workload = {
  describe: "GET /v1/health",
  expectStatus: 200,
  async prepare() {
    return () => ({ method: "GET", path: "/v1/health" });
  },
  check(response) {
    if (response.body.replace(/\s/g, "") !== '{"status":"ok"}') return `unexpected body ${response.body.slice(0, 100)}`;
    if (response.headers["x-content-type-options"] !== "nosniff") return "no X-Content-Type-Options: nosniff";
    if (response.headers["x-frame-options"] !== "DENY") return "no X-Frame-Options: DENY";
    if (!response.headers["content-security-policy"]) return "no Content-Security-Policy";
    if (Object.keys(response.headers).some((h) => h.startsWith("access-control-"))) return "a CORS header was sent";
    return null;
  },
};

const WARMUP_MS = 1000;
const DURATION_MS = 5000;

const RUNS: { connection: ConnectionMode; concurrency: number; label: string }[] = [
  { connection: "keepalive", concurrency: 16, label: "keep-alive" },
  { connection: "handshake", concurrency: 8, label: "new TLS connection per request (session resumption allowed)" },
  { connection: "handshake-full", concurrency: 8, label: "new TLS connection per request, full handshake (no resumption)" },
];

function connectionNote(who: string, r: LoadResult): string {
  const latency = r.latency_p50_ms === null ? "" : `, latency p50 ${r.latency_p50_ms.toFixed(2)} ms / p99 ${r.latency_p99_ms!.toFixed(2)} ms`;
  const failures = r.errors || r.unexpected_status ? `, ${r.errors} errors, ${r.unexpected_status} other statuses (${r.first_error ?? JSON.stringify(r.statuses)})` : ", no errors";
  const connections =
    r.connection === "keepalive"
      ? `over ${r.tls_connections_total} persistent TLS connections (${r.tls_resumed_total} resumed)`
      : `over ${r.tls_connections} new TLS connections (${r.tls_resumed} resumed)`;
  return `${who}: ${r.requests} requests in ${r.duration_ms / 1000} s ${connections}, ${r.tls_protocol} ${r.tls_cipher}${latency}${failures}`;
}

export const mtlsThroughput: Measurement = {
  id: "mtls_throughput",
  title: "mTLS throughput (GET /v1/health)",
  async run(ctx: BenchContext) {
    const figures: Figure[] = [];
    const notes: string[] = [
      `Load generator: bench/load-child.ts on Bun ${Bun.version} (\`node:https\` + Agent), the same code for both servers; ${WARMUP_MS / 1000} s warm-up then ${DURATION_MS / 1000} s measured, per run. It shares the machine's ${availableParallelism()} cores with the server, so each figure is what client + server together reach.`,
      "Resumption-allowed mode: each server does what it does by default; one that resumes no TLS session (see the resumed counts) pays a full handshake per request there too.",
      "Both servers do the same per-request work: Host check, Origin/Referer check, security headers, one JSON `request` log line on stderr (sent to a scratch file for both).",
      "New-connection modes: the client closes the socket after each response (no `Connection: close`, see bench/load/https-load.ts).",
    ];
    for (const run of RUNS) {
      const spec: LoadSpec = {
        workload: "measure/mtls-throughput.ts#healthGet",
        connection: run.connection,
        concurrency: run.concurrency,
        warmupMs: WARMUP_MS,
        durationMs: DURATION_MS,
      };
      ctx.progress(`  ${run.label}, ${run.concurrency} concurrent: icecore`);
      const ice = await loadAgainstIcecore(ctx, spec);
      ctx.progress(`  ${run.label}, ${run.concurrency} concurrent: baseline`);
      const base = await loadAgainstBaseline(ctx, spec);
      if (ice.requests === 0 || base.requests === 0) throw new Error(`no request completed (${run.label}): ${ice.first_error ?? base.first_error}`);
      figures.push({ name: `${run.label}, ${run.concurrency} concurrent`, value: ice.rps, unit: "req/s", baseline: base.rps, better: "higher" });
      notes.push(`${run.label}: ${connectionNote("icecore", ice)}; ${connectionNote("baseline", base)}; the baseline server counted ${base.server.tlsHandshakes} handshakes (${base.server.tlsResumed} resumed) over the whole run.`);
    }
    return { figures, notes };
  },
};
