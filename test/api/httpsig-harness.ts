/**
 * A real Hono app composing the body → signature → decode middlewares in the order recommended
 * for src/api/app.ts, with a counting handler, plus helpers to build signed requests.
 * Shared by test/api/*.test.ts and test/httpsig/tamper.test.ts.
 */
import { Hono } from "hono";
import { ProblemError, problemResponse } from "../../src/api/problem.ts";
import { IdentityRegistry } from "../../src/identity/registry.ts";
import { ReplayCache } from "../../src/api/replay-cache.ts";
import { readBody } from "../../src/api/middleware/body.ts";
import { verifySignature } from "../../src/api/middleware/signature.ts";
import { decodeBody } from "../../src/api/middleware/jwe-body.ts";
import { mintServerKey, type ServerKey } from "../../src/api/server-key.ts";
import { mintAuthority, mintClientIdentity, type CertificateAuthority, type ClientCertificate, type ClientIdentity } from "../../src/pki/authority.ts";
import { signRequest } from "../../src/httpsig/sign.ts";
import { importClientKey } from "../../src/client/request-signer.ts";

export const BASE_URL = "https://127.0.0.1:41234";
export const HOUR_MS = 3600_000;

export interface Harness {
  app: Hono<any>;
  ca: CertificateAuthority;
  client: ClientIdentity;
  clientKey: CryptoKey;
  registry: IdentityRegistry;
  /** Registers `certificate` as the only leaf of a new child; returns the child_id. */
  register(certificate: ClientCertificate): string;
  replayCache: ReplayCache;
  serverKey: ServerKey;
  /** Number of times a route handler ran: the proof that a refused request executed nothing. */
  calls: { n: number; clientId?: string; body?: unknown };
  /** The server clock the middleware uses (ms); tests may move it. */
  clock: { now: number };
}

export async function makeHarness(opts: { maxBytes?: number; replayMaxEntries?: number; replayMaxPerClient?: number; windowSeconds?: number } = {}): Promise<Harness> {
  const ca = await mintAuthority();
  const client = await mintClientIdentity(ca, 1, { ttlMs: HOUR_MS });
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const registry = new IdentityRegistry({ now });
  const register = (certificate: ClientCertificate) => {
    const child = registry.addChild(1);
    registry.addLeaf(child.childId, certificate);
    return child.childId;
  };
  register(client);
  const replayCache = new ReplayCache({
    now,
    ...(opts.replayMaxEntries ? { maxEntries: opts.replayMaxEntries } : {}),
    ...(opts.replayMaxPerClient ? { maxPerClient: opts.replayMaxPerClient } : {}),
  });
  const serverKey = await mintServerKey();
  const calls: Harness["calls"] = { n: 0 };

  const app = new Hono<any>();
  app.onError((err, c) => (err instanceof ProblemError ? problemResponse(c, err) : c.text(`unexpected: ${err.message}`, 500)));
  const checks = [
    readBody(opts.maxBytes ? { maxBytes: opts.maxBytes } : {}),
    verifySignature({ mode: "required", identities: registry, replayCache, now, ...(opts.windowSeconds ? { windowSeconds: opts.windowSeconds } : {}) }),
    decodeBody({ serverKey: serverKey.privateKey }),
  ] as const;
  const handler = async (c: any) => {
    calls.n++;
    const clientId = c.get("caller")?.clientId;
    const text = c.get("bodyText");
    const body = text ? JSON.parse(text) : undefined;
    calls.clientId = clientId;
    calls.body = body;
    return c.json({ ok: true, clientId: clientId ?? null, body: body ?? null });
  };
  // Every unsafe method and any path below, so a tampered method or path meets the signature check
  // (the real app answers such requests 405 or 404: refused either way).
  for (const path of ["/v1/commands/*", "/v1/jobs/*"]) app.on(["POST", "PUT", "PATCH", "DELETE"], path, checks[0], checks[1], checks[2], handler);
  // Mounted without the checks, as the real API mounts its unsigned routes.
  app.get("/v1/health", handler);

  return { app, ca, client, clientKey: await importClientKey(client.keyPem), registry, register, replayCache, serverKey, calls, clock };
}

export interface SignedRequestSpec {
  method?: string;
  url?: string;
  body?: Uint8Array | string;
  contentType?: string;
  key?: CryptoKey;
  keyId?: string;
  created?: number;
  nonce?: string;
}

export const bytes = (s: string) => new TextEncoder().encode(s);

/** The pieces of a signed request, so tests can tamper with any of them before sending. */
export interface RequestParts {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export async function signedParts(h: Harness, spec: SignedRequestSpec = {}): Promise<RequestParts> {
  const method = spec.method ?? "POST";
  const url = spec.url ?? `${BASE_URL}/v1/commands/system.info`;
  const body = typeof spec.body === "string" ? bytes(spec.body) : spec.body;
  const sig = await signRequest({
    method,
    url,
    ...(body ? { body } : {}),
    key: spec.key ?? h.clientKey,
    keyId: spec.keyId ?? h.client.clientId,
    ...(spec.created !== undefined ? { created: spec.created } : { created: Math.floor(h.clock.now / 1000) }),
    ...(spec.nonce !== undefined ? { nonce: spec.nonce } : {}),
  });
  const headers: Record<string, string> = { ...(sig as unknown as Record<string, string>) };
  if (body) headers["Content-Type"] = spec.contentType ?? "application/json";
  return { method, url, headers, ...(body ? { body } : {}) };
}

export function toRequest(p: RequestParts): Request {
  return new Request(p.url, { method: p.method, headers: p.headers, ...(p.body ? { body: p.body as Uint8Array<ArrayBuffer> } : {}) });
}

export async function send(h: Harness, p: RequestParts): Promise<Response> {
  return h.app.request(toRequest(p));
}

export async function problemOf(res: Response): Promise<{ status: number; code: string; type: string; contentType: string | null }> {
  const contentType = res.headers.get("content-type");
  const body = (await res.json()) as { code: string; type: string; status: number };
  return { status: res.status, code: body.code, type: body.type, contentType };
}

export { mintClientIdentity };
