/**
 * Shared helpers for the command tests. Everything here is real: real policies compiled by the
 * real loader, real fixture programs run by the real bun binary, a real audit file, and the real
 * API (createApp: Host/Origin checks, body read, RFC 9421 signature verification, validation,
 * the command service) answering requests signed by two real enrolled children, A and B.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openAuditLog, type AuditLog } from "../../src/audit/audit-log.ts";
import { createConcurrencyLimiter, type ConcurrencyLimiter } from "../../src/commands/concurrency.ts";
import { JobManager } from "../../src/commands/jobs.ts";
import { compilePolicy } from "../../src/commands/policy-loader.ts";
import { CommandService } from "../../src/commands/service.ts";
import type { Catalogue, ElevateWith } from "../../src/commands/types.ts";
import type { Logger } from "../../src/log/logger.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { createApp, type AppType } from "../../src/api/app.ts";
import { mintServerKey } from "../../src/api/server-key.ts";
import { IdentityService } from "../../src/identity/service.ts";
import { mintAuthority, type CertificateAuthority } from "../../src/pki/authority.ts";
import { signRequest } from "../../src/httpsig/sign.ts";
import { readProcStat } from "../../src/platform/linux-proc.ts";
import { importClientKey } from "../../src/client/request-signer.ts";

export const BUN = process.execPath;
export const FIXTURES = resolve(import.meta.dir, "../fixtures/commands");
export const RECORDER = join(FIXTURES, "record-argv.ts");
export const SPAWN_TREE = join(FIXTURES, "spawn-tree.ts");
export const PRINT_LINES = join(FIXTURES, "print-lines.ts");
/** The two children every test app enrols. */
export const CLIENT_A = "A";
export const CLIENT_B = "B";
export type ClientLabel = typeof CLIENT_A | typeof CLIENT_B;
/** The port the app believes it serves (requests carry it in Host, as Bun.serve would see). */
const PORT = 41234;
const ORIGIN = `https://127.0.0.1:${PORT}`;

const scratch: string[] = [];
/** Each test file calls this from afterAll: bun runs every file in one process, so an exit hook is too late. */
export function removeScratch(): void {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh scratch directory, removed when the test process exits. */
export function tempDir(prefix = "icecore-cmd-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

/** A policy value (as parsed JSON) compiled by the real loader, replace mode unless said otherwise. */
export function catalogueOf(commands: Record<string, unknown>, mode: "replace" | "extend" = "replace"): Catalogue {
  return compilePolicy({ mode, commands });
}

let sharedCa: Promise<CertificateAuthority> | null = null;

export interface TestApp {
  app: AppType;
  audit: AuditLog;
  auditPath: string;
  jobs: JobManager;
  limiter: ConcurrencyLimiter;
  identity: IdentityService;
  clientId(label?: ClientLabel): string;
  childId(label?: ClientLabel): string;
  auditRecords(): Record<string, unknown>[];
  /** A signed POST by `client` (null: unsigned). */
  post(name: string, body: unknown, client?: ClientLabel | null): Promise<Response>;
  postRaw(name: string, json: string, client?: ClientLabel | null): Promise<Response>;
  /** A GET, signed by `client` unless null. */
  get(path: string, client?: ClientLabel | null, headers?: Record<string, string>): Promise<Response>;
  del(path: string, client?: ClientLabel | null): Promise<Response>;
}

export async function testApp(opts: {
  catalogue: Catalogue;
  elevateWith?: ElevateWith;
  dir?: string;
  jobs?: JobManager;
  limiter?: ConcurrencyLimiter;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  heartbeatMs?: number;
}): Promise<TestApp> {
  const dir = opts.dir ?? tempDir();
  const auditPath = join(dir, "audit.jsonl");
  const audit = openAuditLog(auditPath);
  const jobs = opts.jobs ?? new JobManager();
  const limiter = opts.limiter ?? createConcurrencyLimiter();
  const ca = await (sharedCa ??= mintAuthority());
  const identity = new IdentityService({ ca, certTtlMs: 3600_000, onChildRevoked: (child) => void jobs.cancelOwnedBy(child.childId) });
  const clients = new Map<ClientLabel, { clientId: string; childId: string; key: CryptoKey }>();
  for (const label of [CLIENT_A, CLIENT_B] as const) {
    const { child, identity: leaf } = await identity.enrollChild(1);
    clients.set(label, { clientId: leaf.clientId, childId: child.childId, key: await importClientKey(leaf.keyPem) });
  }
  const logger = opts.logger ?? silentLogger;
  const commands = new CommandService({ catalogue: opts.catalogue, elevateWith: opts.elevateWith ?? "none", audit, jobs, limiter, logger, env: opts.env ?? {} });
  const { app } = createApp({
    port: PORT,
    apiUrl: () => ORIGIN,
    logger,
    audit,
    identity,
    commands,
    serverKey: (await mintServerKey()).privateKey,
    caCertPem: new TextDecoder().decode(ca.certPem),
    ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
  });

  const send = async (method: string, path: string, client: ClientLabel | null | undefined, body?: string, extra: Record<string, string> = {}) => {
    const url = `${ORIGIN}${path}`;
    const headers: Record<string, string> = { Host: `127.0.0.1:${PORT}`, ...extra };
    const bytes = body === undefined ? undefined : new TextEncoder().encode(body);
    if (bytes) headers["Content-Type"] = "application/json";
    if (client !== null) {
      const signer = clients.get(client ?? CLIENT_A)!;
      Object.assign(headers, await signRequest({ method, url, key: signer.key, keyId: signer.clientId, ...(bytes ? { body: bytes } : {}) }));
    }
    return await app.request(url, { method, headers, ...(bytes ? { body: bytes } : {}) });
  };
  const postRaw = (name: string, json: string, client?: ClientLabel | null) => send("POST", `/v1/commands/${name}`, client, json);
  return {
    app,
    audit,
    auditPath,
    jobs,
    limiter,
    identity,
    clientId: (label = CLIENT_A) => clients.get(label)!.clientId,
    childId: (label = CLIENT_A) => clients.get(label)!.childId,
    auditRecords: () =>
      existsSync(auditPath)
        ? readFileSync(auditPath, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    post: (name, body, client) => postRaw(name, JSON.stringify(body), client),
    postRaw,
    get: (path, client, headers) => send("GET", path, client, undefined, headers),
    del: (path, client) => send("DELETE", path, client),
  };
}

/** Gone = no such pid, or a zombie nobody has reaped yet (pid 1 in some sandboxes never reaps). */
export function processGone(pid: number): boolean {
  const state = readProcStat(pid)?.state;
  return state === undefined || state === "Z" || state === "X";
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, stepMs = 20): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (cond()) return true;
    await Bun.sleep(stepMs);
  }
  return cond();
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Parse a complete text/event-stream body. */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    const e: SseEvent = { event: "message", data: "" };
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      const i = line.indexOf(":");
      const field = i === -1 ? line : line.slice(0, i);
      const value = i === -1 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") e.event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") e.id = value;
    }
    e.data = data.join("\n");
    out.push(e);
  }
  return out;
}
