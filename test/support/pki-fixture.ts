/**
 * Real PKI + real mTLS API server for tests, and a raw TLS/HTTP client that opens ONE NEW TLS
 * connection per call (never pooled, never reused) so every call is a full handshake in which the
 * server must verify the client certificate again.
 *
 * With TLS 1.3 the client side of the handshake "succeeds" before the server has looked at the
 * client certificate (the server's verdict comes after, as an alert or a reset), so a finished
 * handshake proves nothing: only an HTTP status line from the server counts as acceptance.
 */
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { ServerKeyJwk } from "../../src/handoff/bundle.ts";
import type { Logger } from "../../src/log/logger.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { createAuditLog, type AuditLog, type WrittenRecord } from "../../src/audit/audit-log.ts";
import { builtinCatalogue, type Catalogue } from "../../src/commands/index.ts";
import { startCoreServices, type ConsoleAssets, type CoreServices } from "../../src/runtime/services.ts";
import { mintServerIdentity, type CertificateAuthority, type ClientIdentity, type ServerIdentity } from "../../src/pki/authority.ts";

const decoder = new TextDecoder();
/** PEM bytes as the string node:tls wants (test code only: a long-lived string is fine here). */
export const pemText = (bytes: Uint8Array): string => decoder.decode(bytes);

export const HOUR_MS = 3600_000;

/** A client identity as node:tls options take it. */
export interface TlsClientMaterial {
  cert: string;
  key: string;
}

export function tlsMaterialOf(identity: ClientIdentity | ServerIdentity): TlsClientMaterial {
  return { cert: pemText(identity.certPem), key: pemText(identity.keyPem) };
}

/** An audit trail kept in memory: what a test reads back. */
export interface MemoryAudit {
  log: AuditLog;
  records(): WrittenRecord[];
}

export function memoryAudit(): MemoryAudit {
  const lines: string[] = [];
  return {
    log: createAuditLog(null, (line) => void lines.push(line), () => {}),
    records: () => lines.map((line) => JSON.parse(line) as WrittenRecord),
  };
}

/** A client enrolled as a child of the running Core: its identity and its child_id. */
export interface EnrolledClient {
  identity: ClientIdentity;
  childId: string;
  tls: TlsClientMaterial;
}

export interface PkiFixture {
  url: string;
  port: number;
  ca: CertificateAuthority;
  /** PEM of the CA, as node:tls `ca` takes it. */
  caPem: string;
  /** A good client identity (CA-signed, clientAuth, valid now), enrolled as child 1. */
  client: ClientIdentity;
  childId: string;
  /** `client` as node:tls options. */
  clientTls: TlsClientMaterial;
  /** The Core's parts, exactly as `icecore run` composes them (src/runtime/services.ts). */
  core: CoreServices;
  audit: MemoryAudit;
  /** Public half of the API's ECDH-ES key (a bundle's `server_key`). */
  serverKeyJwk: ServerKeyJwk;
  /** Enrol another child (its own child_id and leaf). */
  enroll(instance?: number): Promise<EnrolledClient>;
  /** A CA-signed certificate for the server role (EKU serverAuth), e.g. to present as a client. */
  serverRoleIdentity(): Promise<ServerIdentity>;
  stop(): Promise<void>;
}

export interface PkiFixtureOptions {
  logger?: Logger;
  /** Use an existing CA (e.g. a "rogue" second server) instead of minting one. */
  ca?: CertificateAuthority;
  catalogue?: Catalogue;
  certTtlMs?: number;
  heartbeatMs?: number;
  killGraceMs?: number;
  /** Leave the API unserved (503 not_ready), as before the first handoff. */
  serve?: boolean;
  /** Serve the console (SPEC §9) as `icecore run` does. */
  consoleAssets?: ConsoleAssets;
}

/** The Core's services on port 0 with one enrolled child, served, as after a first handoff. */
export async function startPkiFixture(options: PkiFixtureOptions = {}): Promise<PkiFixture> {
  const audit = memoryAudit();
  const core = await startCoreServices({
    port: 0,
    certTtlMs: options.certTtlMs ?? HOUR_MS,
    catalogue: options.catalogue ?? builtinCatalogue(),
    elevateWith: "none",
    logger: options.logger ?? silentLogger,
    audit: audit.log,
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.killGraceMs ? { killGraceMs: options.killGraceMs } : {}),
    ...(options.consoleAssets ? { consoleAssets: options.consoleAssets } : {}),
  });
  const enroll = async (instance = 1): Promise<EnrolledClient> => {
    const { child, identity } = await core.identity.enrollChild(instance);
    return { identity, childId: child.childId, tls: tlsMaterialOf(identity) };
  };
  const first = await enroll();
  if (options.serve !== false) await core.serveApi();
  return {
    url: core.api.url,
    port: core.api.port,
    ca: core.ca,
    caPem: pemText(core.ca.certPem),
    client: first.identity,
    childId: first.childId,
    clientTls: first.tls,
    core,
    audit,
    serverKeyJwk: core.serverKey.publicJwk,
    enroll,
    serverRoleIdentity: () => mintServerIdentity(core.ca, { ttlMs: HOUR_MS }),
    stop: () => core.stop("test over", 500),
  };
}

export interface TlsRequestOptions {
  port: number;
  /** PEM the client trusts for the SERVER certificate. Omitted: the system store (which does not know our CA). */
  ca?: string;
  /** Client certificate and key (PEM). Omitted: no client certificate is offered. */
  cert?: string;
  key?: string;
  /** The Host header. Default `127.0.0.1:<port>`; null sends no Host header at all. */
  host?: string | null;
  headers?: Record<string, string>;
  path?: string;
  method?: string;
  body?: string;
  /** Where to connect (default 127.0.0.1); the server certificate is checked against this name. */
  connectHost?: string;
  /** Extra node:tls options (e.g. minVersion/maxVersion). */
  tls?: Partial<ConnectionOptions>;
  timeoutMs?: number;
}

export interface TlsResponse {
  /** The HTTP status, or null when no status line arrived (TLS alert, reset, close, timeout). */
  status: number | null;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Set when the connection failed or ended without a complete response. */
  error?: string;
  /** Did the client side of the TLS handshake complete? (Informational: not acceptance.) */
  handshake: boolean;
  /** The TLS session (ticket) the server issued, if any; pass it back as `tls.session` to resume. */
  session?: Buffer;
}

/** One NEW TLS connection, one raw HTTP/1.1 request with `Connection: close`, read to the end. */
export function tlsRequest(opts: TlsRequestOptions): Promise<TlsResponse> {
  const host = opts.host === undefined ? `127.0.0.1:${opts.port}` : opts.host;
  const lines = [`${opts.method ?? "GET"} ${opts.path ?? "/v1/health"} HTTP/1.1`];
  if (host !== null) lines.push(`Host: ${host}`);
  lines.push("Connection: close");
  for (const [name, value] of Object.entries(opts.headers ?? {})) lines.push(`${name}: ${value}`);
  if (opts.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(opts.body)}`);
  const request = lines.join("\r\n") + "\r\n\r\n" + (opts.body ?? "");

  return new Promise<TlsResponse>((resolve) => {
    const chunks: Buffer[] = [];
    let handshake = false;
    let session: Buffer | undefined;
    let settled = false;
    let socket: TLSSocket;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const response = parseHttpResponse(Buffer.concat(chunks), handshake, error);
      if (session !== undefined) response.session = session;
      resolve(response);
    };
    const timer = setTimeout(() => finish("timeout"), opts.timeoutMs ?? 10_000);
    const connectHost = opts.connectHost ?? "127.0.0.1";
    socket = tlsConnect({
      host: connectHost,
      port: opts.port,
      // SNI may not carry an IP address (RFC 6066 §3).
      ...(/^[\d.]+$|:/.test(connectHost) ? {} : { servername: connectHost }),
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: true,
      ...opts.tls,
    });
    socket.on("secureConnect", () => {
      handshake = true;
      socket.write(request);
    });
    socket.on("session", (ticket: Buffer) => {
      session = ticket;
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error: Error & { code?: string }) => finish(`${error.code ?? error.name}: ${error.message}`));
    socket.on("end", () => finish());
    socket.on("close", () => finish());
  });
}

/** Parses what came back; anything without a full status line has status null. */
export function parseHttpResponse(raw: Buffer, handshake: boolean, error?: string): TlsResponse {
  const text = raw.toString("latin1");
  const headEnd = text.indexOf("\r\n\r\n");
  const statusMatch = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?\r\n/.exec(text);
  if (statusMatch === null || headEnd < 0) {
    return {
      status: null,
      headers: {},
      body: text,
      handshake,
      error: error ?? (raw.length === 0 ? "connection closed before any response" : "no HTTP status line in the reply"),
    };
  }
  const headers: Record<string, string> = {};
  for (const line of text.slice(statusMatch[0].length, headEnd).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  let bodyBytes = raw.subarray(Buffer.byteLength(text.slice(0, headEnd + 4), "latin1"));
  if ((headers["transfer-encoding"] ?? "").toLowerCase().includes("chunked")) bodyBytes = dechunk(bodyBytes);
  const result: TlsResponse = { status: Number(statusMatch[1]), headers, body: bodyBytes.toString("utf8"), handshake };
  if (error !== undefined) result.error = error;
  return result;
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const lineEnd = data.indexOf("\r\n", offset, "latin1");
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(offset, lineEnd).toString("latin1").split(";")[0]!, 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Runs `count` tasks with at most `concurrency` in flight; returns results in order. */
export async function mapLimited<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= count) return;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** A bundle v1 for one of the fixture's clients, as the handoff would deliver it (for the SDK). */
export function bundleOf(fx: PkiFixture, client: ClientIdentity = fx.client, apiUrl = fx.url) {
  // Lazy import: most tests never need the handoff encoder.
  const { decodeBundle, encodeBundle } = require("../../src/handoff/bundle.ts") as typeof import("../../src/handoff/bundle.ts");
  return decodeBundle(
    encodeBundle({
      caCertPem: fx.ca.certPem.slice(),
      clientCertPem: client.certPem.slice(),
      clientKeyPem: client.keyPem.slice(),
      apiUrl,
      clientId: client.clientId,
      notAfter: client.notAfter,
      serverKey: fx.serverKeyJwk,
    }),
  );
}
