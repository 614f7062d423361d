/**
 * Signed-request cost: what RFC 9421 verification (+ RFC 9530 Content-Digest, body read, JSON
 * decode, args validation, the concurrency slot, the audit record) costs per request, as the
 * throughput of freshly signed `POST /v1/commands/system.info` over that of unsigned
 * `GET /v1/health`, on the same number of keep-alive connections, in the same bench run.
 * `system.info` runs in-process (no subprocess), so the difference is the signed-request path,
 * not a command. A third run sends the same body encrypted (compact JWE, ECDH-ES + A256GCM) to
 * show what decryption adds. Every run is a load child of its own `icecore run` (certificate,
 * client_id and server_key through the handoff). icecore only: the baseline server has no
 * signature path. Client and server share the machine's cores, so the client's own signing cost
 * (measured separately, in this process) is part of every signed figure.
 */
import { availableParallelism } from "node:os";
import type { JWK } from "jose";
import type { BenchContext, Figure, Measurement } from "../measurement.ts";
import type { LoadResult } from "../load/https-load.ts";
import type { LoadTarget, RequestSpec, Workload } from "../load/workload.ts";
import { loadAgainstIcecore, type LoadSpec } from "../harness/load-runs.ts";
import { createRequestSigner, importClientKey, prepareSignedRequest, type RequestSigner } from "../../src/client/request-signer.ts";
import { createBodyEncryptor, type BodyEncryptor } from "../../src/client/body-encryption.ts";

const COMMAND_PATH = "/v1/commands/system.info";
const ARGS = { args: {} };
const JSON_BODY = new TextEncoder().encode(JSON.stringify(ARGS));

/** The signer for the bundle this load child received: its client_key and client_id. */
async function signerFor(target: LoadTarget): Promise<RequestSigner> {
  const clientId = target.bundle.client_id;
  if (typeof clientId !== "string") throw new Error("the bundle has no client_id");
  return createRequestSigner({ key: await importClientKey(target.clientKey), clientId });
}

/** Node's https wants plain header records; Content-Length so the body is not sent chunked. */
function specOf(url: URL, prepared: { method: string; headers: Headers; body?: Uint8Array }): RequestSpec {
  const headers: Record<string, string> = {};
  prepared.headers.forEach((value, name) => (headers[name] = value));
  headers["content-length"] = String(prepared.body?.length ?? 0);
  return { method: prepared.method, path: url.pathname + url.search, headers, ...(prepared.body ? { body: prepared.body } : {}) };
}

/** system.info's 200: the command result, its stdout the JSON the OS gave. */
function checkSystemInfo(response: { body: string }): string | null {
  let result: { exit_code?: unknown; stdout?: unknown };
  try {
    result = JSON.parse(response.body) as typeof result;
  } catch {
    return `the body is not JSON: ${response.body.slice(0, 100)}`;
  }
  if (result.exit_code !== 0) return `exit_code ${JSON.stringify(result.exit_code)}, expected 0`;
  if (typeof result.stdout !== "string" || !("hostname" in (JSON.parse(result.stdout) as object))) return "stdout is not system.info's JSON";
  return null;
}

/** Each request signed afresh (new nonce, created = now) over the exact URL that is sent. */
export const signedSystemInfo: Workload = {
  describe: `POST ${COMMAND_PATH} (application/json, RFC 9421-signed)`,
  expectStatus: 200,
  async prepare(target) {
    const signer = await signerFor(target);
    const url = new URL(COMMAND_PATH, target.apiUrl);
    return async () =>
      specOf(url, await prepareSignedRequest(signer, { method: "POST", url, body: { bytes: JSON_BODY, contentType: "application/json" } }));
  },
  check: checkSystemInfo,
};

/**
 * Requests signed before the load starts (in prepare(), outside the timed window), so the
 * client's signing does not compete with the server for the cores: what the server's own
 * signed-request path costs. Each still has its own nonce and a `created` well inside the 60 s
 * window. A pool that runs out is refilled by signing in line (then the figure is understated).
 */
const PRESIGNED_POOL = 30_000;
export const signedSystemInfoPresigned: Workload = {
  describe: `POST ${COMMAND_PATH} (application/json, RFC 9421-signed before the window)`,
  expectStatus: 200,
  async prepare(target) {
    const signer = await signerFor(target);
    const url = new URL(COMMAND_PATH, target.apiUrl);
    const sign = async () => specOf(url, await prepareSignedRequest(signer, { method: "POST", url, body: { bytes: JSON_BODY, contentType: "application/json" } }));
    const pool: RequestSpec[] = [];
    for (let i = 0; i < PRESIGNED_POOL; i++) pool.push(await sign());
    let next = 0;
    return () => (next < pool.length ? pool[next++]! : sign());
  },
  check: checkSystemInfo,
};

/** The same, the body encrypted to the bundle's server_key for each request (a fresh ephemeral key each time). */
export const signedSystemInfoJwe: Workload = {
  describe: `POST ${COMMAND_PATH} (application/jose, JWE, RFC 9421-signed)`,
  expectStatus: 200,
  async prepare(target) {
    const signer = await signerFor(target);
    const encryptor: BodyEncryptor = await createBodyEncryptor(target.bundle.server_key as JWK);
    const url = new URL(COMMAND_PATH, target.apiUrl);
    return async () => specOf(url, await prepareSignedRequest(signer, { method: "POST", url, body: await encryptor.encrypt(ARGS) }));
  },
  check: checkSystemInfo,
};

const WARMUP_MS = 1000;
const DURATION_MS = 5000;
/**
 * The signed runs are shorter. Every accepted signed request leaves its replay key in the
 * child's share of the replay cache until its `created` + 61 s (src/api/replay-cache.ts: 20,000
 * keys per child by default, SPEC §5 "a per-client share"), and a child at its share is refused
 * 429 `replay_cache_full`: a 6 s run at a few thousand signed requests a second would measure
 * refusals, not the signed path. 0.5 s + 2 s stays under the share up to ≈ 8,000 req/s.
 */
const SIGNED_WARMUP_MS = 500;
const SIGNED_DURATION_MS = 2000;
/**
 * 16 like mtls_throughput's keep-alive run. The server allows 4 commands at once per client (429
 * beyond), but system.info finishes synchronously in the handler, so the slot is never held
 * across another request and 16 connections see no 429 (checked: every response must be 200).
 */
const CONCURRENCY = 16;

const CLIENT_WARMUP = 200;
const CLIENT_ITERATIONS = 2000;

const RUNS = [
  { key: "unsigned", workload: "measure/mtls-throughput.ts#healthGet", label: "unsigned GET /v1/health", warmupMs: WARMUP_MS, durationMs: DURATION_MS },
  { key: "signed", workload: "measure/signed-post.ts#signedSystemInfo", label: "signed POST /v1/commands/system.info, JSON body", warmupMs: SIGNED_WARMUP_MS, durationMs: SIGNED_DURATION_MS },
  { key: "jwe", workload: "measure/signed-post.ts#signedSystemInfoJwe", label: "signed POST /v1/commands/system.info, JWE body", warmupMs: SIGNED_WARMUP_MS, durationMs: SIGNED_DURATION_MS },
  {
    key: "presigned",
    workload: "measure/signed-post.ts#signedSystemInfoPresigned",
    label: "signed POST /v1/commands/system.info, JSON body, signed before the window",
    warmupMs: SIGNED_WARMUP_MS,
    durationMs: SIGNED_DURATION_MS,
  },
] as const;

function runNote(label: string, r: LoadResult): string {
  const latency = r.latency_p50_ms === null ? "" : `, latency p50 ${r.latency_p50_ms.toFixed(2)} ms / p99 ${r.latency_p99_ms!.toFixed(2)} ms`;
  const bad = r.errors + r.unexpected_status_total;
  const failures = bad
    ? `; NOT ALL 200: ${r.errors} transport errors${r.first_error ? ` (first: ${r.first_error})` : ""}, ${r.unexpected_status_total} other statuses over the whole run, ${r.unexpected_status} in the window ${JSON.stringify(r.statuses)}${r.first_unexpected ? ` (first: ${r.first_unexpected})` : ""}`
    : "; every response 200, no transport errors (warm-up included)";
  return `${label}: ${r.requests} requests in ${r.duration_ms / 1000} s over ${r.tls_connections_total} keep-alive TLS connections${latency}${failures}`;
}

/** Per-request client cost, sequential in this process: wall clock and process CPU (all threads). */
async function clientCost(ctx: BenchContext): Promise<{ sign: { wall: number; cpu: number }; jwe: { wall: number; cpu: number } }> {
  const pki = await ctx.baselinePki();
  const signer = createRequestSigner({ key: await importClientKey(pki.client.client_key), clientId: "0".repeat(64) });
  const serverPair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  const encryptor = await createBodyEncryptor((await crypto.subtle.exportKey("jwk", serverPair.publicKey)) as JWK);
  const url = new URL(COMMAND_PATH, "https://127.0.0.1:8443");
  const signOnce = () => prepareSignedRequest(signer, { method: "POST", url, body: { bytes: JSON_BODY, contentType: "application/json" } });
  const jweOnce = async () => prepareSignedRequest(signer, { method: "POST", url, body: await encryptor.encrypt(ARGS) });
  const time = async (once: () => Promise<unknown>) => {
    for (let i = 0; i < CLIENT_WARMUP; i++) await once();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < CLIENT_ITERATIONS; i++) await once();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { wall: (wallMs * 1000) / CLIENT_ITERATIONS, cpu: (cpu.user + cpu.system) / CLIENT_ITERATIONS };
  };
  return { sign: await time(signOnce), jwe: await time(jweOnce) };
}

export const signedPost: Measurement = {
  id: "signed_post",
  title: "Signed-request cost (RFC 9421)",
  async run(ctx: BenchContext) {
    const results = {} as Record<(typeof RUNS)[number]["key"], LoadResult>;
    for (const run of RUNS) {
      const spec: LoadSpec = { workload: run.workload, connection: "keepalive", concurrency: CONCURRENCY, warmupMs: run.warmupMs, durationMs: run.durationMs };
      ctx.progress(`  ${run.label}, ${CONCURRENCY} concurrent`);
      const r = await loadAgainstIcecore(ctx, spec);
      if (r.requests === 0) throw new Error(`no request completed (${run.label}): ${r.first_error ?? r.first_unexpected ?? JSON.stringify(r.statuses)}`);
      results[run.key] = r;
    }
    ctx.progress("  client-side signing cost");
    const client = await clientCost(ctx);

    const { unsigned, signed, jwe, presigned } = results;
    const notAll200 = (r: LoadResult) => (r.errors + r.unexpected_status_total ? `${r.errors + r.unexpected_status_total} not 200, see remarks` : undefined);
    const rps = (name: string, r: LoadResult): Figure => {
      const note = notAll200(r);
      return { name: `${name}, keep-alive, ${CONCURRENCY} concurrent`, value: r.rps, unit: "req/s", better: "higher", ...(note ? { note } : {}) };
    };
    const figures: Figure[] = [
      rps("unsigned GET /v1/health", unsigned),
      rps("signed POST /v1/commands/system.info (JSON body)", signed),
      rps("signed POST /v1/commands/system.info (JWE body)", jwe),
      rps("signed POST /v1/commands/system.info (JSON body, signed before the window)", presigned),
      { name: "signed POST ÷ unsigned GET throughput", value: signed.rps / unsigned.rps, unit: "×", better: "higher", target: { kind: "at_least", value: 0.5 } },
      { name: "signed JWE ÷ unsigned throughput", value: jwe.rps / unsigned.rps, unit: "×", better: "higher" },
      {
        name: "signed POST (signed before the window: server cost only) ÷ unsigned GET throughput",
        value: presigned.rps / unsigned.rps,
        unit: "×",
        better: "higher",
        target: { kind: "at_least", value: 0.5 },
      },
      { name: `client: sign one POST (Content-Digest + ECDSA P-256), mean of ${CLIENT_ITERATIONS} sequential`, value: client.sign.wall, unit: "µs", better: "lower", note: `CPU ${client.sign.cpu.toFixed(1)} µs` },
      { name: `client: encrypt (JWE) + sign one POST, mean of ${CLIENT_ITERATIONS} sequential`, value: client.jwe.wall, unit: "µs", better: "lower", note: `CPU ${client.jwe.cpu.toFixed(1)} µs` },
    ];
    const cores = availableParallelism();
    const perRequestUs = (r: LoadResult) => (1e6 / r.rps).toFixed(1);
    const notes = [
      `One \`icecore run\` per workload, its load child bench/load-child.ts (Bun ${Bun.version}, \`node:https\` + keep-alive Agent, ${CONCURRENCY} connections, one request in flight on each); ${WARMUP_MS / 1000} s warm-up then ${DURATION_MS / 1000} s measured for the unsigned run, ${SIGNED_WARMUP_MS / 1000} s + ${SIGNED_DURATION_MS / 1000} s for the signed ones (they must stay under the child's replay-cache share, 20,000 keys per 61 s: a child's SUSTAINED signed rate is bounded by design at ≈ 330 req/s, bursts to 20,000), in the order unsigned, signed, JWE, signed-before-the-window. The unsigned run is mtls_throughput's workload (\`measure/mtls-throughput.ts#healthGet\`) repeated here so the ratio comes from one bench run.`,
      `Signed requests: each one built just before it is sent with \`prepareSignedRequest\` (src/client/request-signer.ts): a new 16-byte nonce and created = now, components "@method" "@target-uri" "content-digest" over the exact URL sent (${COMMAND_PATH} on the bundle's api_url), body \`${JSON.stringify(ARGS)}\` with its RFC 9530 Content-Digest; the JWE run encrypts that body to the bundle's server_key (\`createBodyEncryptor\`, ECDH-ES + A256GCM, a new ephemeral key per request) and signs the JWE's bytes. The client's signing (and encryption) time is inside each request's latency and competes with the server for the ${cores} cores.`,
      `Server path of a signed request, on top of the GET's (mTLS, Host/Origin checks, headers, request log line): body read, signature parse + freshness + ECDSA P-256 verify + digest, replay-cache insert, (JWE: ECDH-ES decrypt), JSON decode, args validation, the per-client command slot, system.info itself (in-process, a few os.* calls) and one audit record + one \`command\` log line (both to scratch files). Every response must be 200; any other status (a \`replayed\` or \`stale\` 401 would mean the load generator is wrong, a 429 the concurrency cap or the 100,000-nonce replay cache) is counted and reported below.`,
      `The server allows 4 commands at once per client; system.info completes synchronously inside the handler, so ${CONCURRENCY} connections got no 429 (see the status counts below) and the signed runs use the same ${CONCURRENCY} connections as the unsigned one.`,
      runNote("unsigned", unsigned),
      runNote("signed (JSON)", signed),
      runNote("signed (JWE)", jwe),
      runNote(`signed (JSON), ${PRESIGNED_POOL} requests signed before the window (each with its own nonce; past the pool, in line)`, presigned),
      `Wall time per request at these rates (1 ÷ req/s, both processes together, ${cores} cores): unsigned ${perRequestUs(unsigned)} µs, signed ${perRequestUs(signed)} µs, JWE ${perRequestUs(jwe)} µs.`,
      `Client share: at the signed run's rate, the client's signing alone is ≈ ${((client.sign.cpu * signed.rps) / 1e4 / cores).toFixed(0)} % of the ${cores} cores' time (${client.sign.cpu.toFixed(0)} µs CPU × ${signed.rps.toFixed(0)} req/s), and encrypting + signing ≈ ${((client.jwe.cpu * jwe.rps) / 1e4 / cores).toFixed(0)} % in the JWE run: the ratios above understate the server's own throughput on a machine where the client runs elsewhere.`,
      `Client cost: ${CLIENT_ITERATIONS} requests prepared back to back (after ${CLIENT_WARMUP} unmeasured) in the bench process with a client key from icecore's PKI code and a throw-away server key; no network. CPU is the bench process's user + system time over the loop (all threads), per request.`,
    ];
    return { figures, notes };
  },
};
