/**
 * The load generator, the same code for icecore and the baseline: `node:https` with an Agent,
 * N workers each sending one request at a time for a fixed window after a warm-up.
 *
 * Connection modes:
 * - keepalive: N persistent TLS connections (Agent keepAlive, maxSockets N); one handshake each.
 * - handshake: a new TCP + TLS connection per request (the client closes the socket after each
 *   response); TLS session resumption left as the Agent does it by default (session cache on).
 * - handshake-full: the same with the Agent's session cache off (maxCachedSessions 0), so every
 *   request pays a full ECDHE-ECDSA handshake with client-certificate verification.
 * In the new-connection modes the client, not the server, closes each connection after the
 * response (no `Connection: close`), so the close costs the same on both servers. (A check with a
 * bare Bun.serve, session tickets on, answering `Connection: close` had a share of clients see
 * "socket hang up"; icecore, tickets off, did not.)
 */
import https from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { percentile } from "../harness/stats.ts";
import type { LoadTarget, ProbeResponse, RequestSpec, Workload } from "./workload.ts";

export const CONNECTION_MODES = ["keepalive", "handshake", "handshake-full"] as const;
export type ConnectionMode = (typeof CONNECTION_MODES)[number];

export interface LoadOptions {
  connection: ConnectionMode;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** A request that takes longer is abandoned and counted as an error. */
  requestTimeoutMs?: number;
}

export interface LoadResult {
  runtime: string;
  workload: string;
  connection: ConnectionMode;
  concurrency: number;
  warmup_ms: number;
  duration_ms: number;
  /** Requests that completed with the expected status inside the measured window. */
  requests: number;
  rps: number;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  /** Transport errors (any time, warm-up included) and responses with another status (in the window). */
  errors: number;
  unexpected_status: number;
  statuses: Record<string, number>;
  first_error: string | null;
  /** Status and start of the body of the first response with another status (any time), e.g. a problem+json. */
  first_unexpected: string | null;
  /** Responses with another status over the whole run (probe excluded, warm-up included). */
  unexpected_status_total: number;
  /** TLS connections established inside the window, and how many of them resumed a session. */
  tls_connections: number;
  tls_resumed: number;
  /** The same over the whole run (probe and warm-up included). */
  tls_connections_total: number;
  tls_resumed_total: number;
  /** Negotiated protocol and cipher, from the probe's connection. */
  tls_protocol: string | null;
  tls_cipher: string | null;
}

interface Sent {
  status: number;
  headers: ProbeResponse["headers"];
  body: string | null;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

export async function runLoad(target: LoadTarget, workload: Workload, options: LoadOptions): Promise<LoadResult> {
  const url = new URL(target.apiUrl);
  const keepAlive = options.connection === "keepalive";
  const agent = new https.Agent({
    keepAlive,
    maxSockets: options.concurrency,
    maxCachedSessions: options.connection === "handshake-full" ? 0 : 100,
    ca: target.caCert,
    cert: target.clientCert,
    key: target.clientKey,
    rejectUnauthorized: true,
  });
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const makeRequest = await workload.prepare(target);

  let windowStart = Infinity;
  let windowEnd = Infinity;
  const inWindow = (t: number) => t >= windowStart && t <= windowEnd;
  const seenSockets = new WeakSet<Socket>();
  let tlsConnections = 0;
  let tlsResumed = 0;
  let tlsConnectionsTotal = 0;
  let tlsResumedTotal = 0;
  const negotiated = { protocol: null as string | null, cipher: null as string | null };

  const send = (spec: RequestSpec, keepBody: boolean) =>
    new Promise<Sent>((resolve, reject) => {
      let socket: Socket | null = null;
      const request = https.request(
        { host: hostOf(url), port: Number(url.port), method: spec.method, path: spec.path, headers: spec.headers, agent, timeout: timeoutMs },
        (response) => {
          const chunks: Buffer[] = [];
          // An unexpected status keeps its body too (a problem+json says why), at no cost to the rest.
          const keep = keepBody || response.statusCode !== workload.expectStatus;
          if (keep) response.on("data", (chunk: Buffer) => chunks.push(chunk));
          else response.resume();
          response.on("end", () => {
            if (!keepAlive) socket?.destroy();
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: keep ? Buffer.concat(chunks).toString("utf8") : null,
            });
          });
          response.on("error", reject);
        },
      );
      request.on("socket", (s: Socket) => {
        socket = s;
        if (seenSockets.has(s)) return;
        seenSockets.add(s);
        s.once("secureConnect", () => {
          const tls = s as TLSSocket;
          const resumed = tls.isSessionReused();
          if (negotiated.protocol === null) {
            negotiated.protocol = tls.getProtocol();
            negotiated.cipher = tls.getCipher()?.name ?? null;
          }
          tlsConnectionsTotal++;
          if (resumed) tlsResumedTotal++;
          if (!inWindow(performance.now())) return;
          tlsConnections++;
          if (resumed) tlsResumed++;
        });
      });
      request.on("timeout", () => request.destroy(new Error(`no response within ${timeoutMs} ms`)));
      request.on("error", reject);
      request.end(spec.body);
    });

  // One full response first: the workload checks status, headers and body before any load.
  const probe = await send(await makeRequest(), true);
  const problem =
    probe.status !== workload.expectStatus
      ? `probe got status ${probe.status}, expected ${workload.expectStatus}: ${probe.body?.slice(0, 200)}`
      : (workload.check?.({ status: probe.status, headers: probe.headers, body: probe.body ?? "" }) ?? null);
  if (problem) {
    agent.destroy();
    throw new Error(`${workload.describe} against ${target.apiUrl}: ${problem}`);
  }

  const started = performance.now();
  windowStart = started + options.warmupMs;
  windowEnd = windowStart + options.durationMs;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let requests = 0;
  let errors = 0;
  let unexpected = 0;
  let firstError: string | null = null;
  let firstUnexpected: string | null = null;
  let unexpectedTotal = 0;

  const worker = async () => {
    while (performance.now() < windowEnd) {
      const sentAt = performance.now();
      try {
        const { status, body } = await send(await makeRequest(), false);
        const doneAt = performance.now();
        if (status !== workload.expectStatus) {
          unexpectedTotal++;
          firstUnexpected ??= `${status} ${(body ?? "").slice(0, 300)}`;
        }
        if (!inWindow(doneAt)) continue;
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === workload.expectStatus) {
          requests++;
          latencies.push(doneAt - sentAt);
        } else unexpected++;
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
        // An error loop must not spin: back off a little before the next try.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  agent.destroy();

  return {
    runtime: typeof Bun !== "undefined" ? `bun ${Bun.version}` : `node ${process.versions.node}`,
    workload: workload.describe,
    connection: options.connection,
    concurrency: options.concurrency,
    warmup_ms: options.warmupMs,
    duration_ms: options.durationMs,
    requests,
    rps: requests / (options.durationMs / 1000),
    latency_p50_ms: latencies.length ? percentile(latencies, 50) : null,
    latency_p99_ms: latencies.length ? percentile(latencies, 99) : null,
    errors,
    unexpected_status: unexpected,
    statuses,
    first_error: firstError,
    first_unexpected: firstUnexpected,
    unexpected_status_total: unexpectedTotal,
    tls_connections: tlsConnections,
    tls_resumed: tlsResumed,
    tls_connections_total: tlsConnectionsTotal,
    tls_resumed_total: tlsResumedTotal,
    tls_protocol: negotiated.protocol,
    tls_cipher: negotiated.cipher,
  };
}
