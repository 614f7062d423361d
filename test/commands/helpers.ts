/**
 * Shared helpers for the command tests. Everything here is real: real policies compiled by the
 * real loader, real fixture programs run by the real bun binary, a real audit file, and the real
 * routes mounted on a Hono app. The only stand-in is a three-line middleware that sets what the
 * lead's signature and body middleware would set (`clientId`, `body`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Hono } from "hono";
import type { ApiEnv } from "../../src/api/context.ts";
import { openAuditLog, type AuditLog } from "../../src/audit/audit-log.ts";
import { createConcurrencyLimiter, type ConcurrencyLimiter } from "../../src/commands/concurrency.ts";
import { JobManager } from "../../src/commands/jobs.ts";
import { compilePolicy } from "../../src/commands/policy-loader.ts";
import { commandRoutes } from "../../src/commands/routes.ts";
import type { Catalogue, ElevateWith } from "../../src/commands/types.ts";
import type { Logger } from "../../src/log/logger.ts";

export const BUN = process.execPath;
export const FIXTURES = resolve(import.meta.dir, "../fixtures/commands");
export const RECORDER = join(FIXTURES, "record-argv.ts");
export const SPAWN_TREE = join(FIXTURES, "spawn-tree.ts");
export const PRINT_LINES = join(FIXTURES, "print-lines.ts");
export const CLIENT_A = "a".repeat(64);
export const CLIENT_B = "b".repeat(64);

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

export interface TestApp {
  app: Hono<ApiEnv>;
  audit: AuditLog;
  auditPath: string;
  jobs: JobManager;
  limiter: ConcurrencyLimiter;
  auditRecords(): Record<string, unknown>[];
  post(name: string, body: unknown, client?: string | null): Promise<Response>;
  postRaw(name: string, json: string, client?: string | null): Promise<Response>;
  get(path: string): Promise<Response>;
  del(path: string, client?: string | null): Promise<Response>;
}

export function testApp(opts: {
  catalogue: Catalogue;
  elevateWith?: ElevateWith;
  dir?: string;
  jobs?: JobManager;
  limiter?: ConcurrencyLimiter;
  env?: Record<string, string | undefined>;
  logger?: Logger;
}): TestApp {
  const dir = opts.dir ?? tempDir();
  const auditPath = join(dir, "audit.jsonl");
  const audit = openAuditLog(auditPath);
  const jobs = opts.jobs ?? new JobManager();
  const limiter = opts.limiter ?? createConcurrencyLimiter();
  const app = new Hono<ApiEnv>();
  // Stand-in for the signature + body middleware: a header names the (already verified) client.
  app.use(async (c, next) => {
    const client = c.req.header("x-test-client");
    if (client) c.set("clientId", client);
    if (c.req.method === "POST") {
      const text = await c.req.text();
      c.set("body", text ? JSON.parse(text) : undefined);
    }
    await next();
  });
  app.route("/", commandRoutes({ catalogue: opts.catalogue, elevateWith: opts.elevateWith ?? "none", audit, jobs, limiter, env: opts.env ?? {}, ...(opts.logger ? { logger: opts.logger } : {}) }));
  const headers = (client: string | null | undefined, extra: Record<string, string> = {}) =>
    client === null ? extra : { "x-test-client": client ?? CLIENT_A, ...extra };
  const postRaw = async (name: string, json: string, client?: string | null) =>
    await app.request(`/v1/commands/${name}`, { method: "POST", body: json, headers: headers(client, { "content-type": "application/json" }) });
  return {
    app,
    audit,
    auditPath,
    jobs,
    limiter,
    auditRecords: () =>
      existsSync(auditPath)
        ? readFileSync(auditPath, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    post: (name, body, client) => postRaw(name, JSON.stringify(body), client),
    postRaw,
    get: async (path) => await app.request(path),
    del: async (path, client) => await app.request(path, { method: "DELETE", headers: headers(client) }),
  };
}

/** Gone = no such pid, or a zombie nobody has reaped yet (pid 1 in some sandboxes never reaps). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
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
