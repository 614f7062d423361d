/**
 * A real Hono app composing the body → signature → decode middlewares in the order recommended
 * for src/api/app.ts, with a counting handler, plus helpers to build signed requests.
 * Shared by test/api/*.test.ts and test/httpsig/tamper.test.ts.
 */
import { Hono } from "hono";
import { ProblemError, problemResponse } from "../../src/api/problem.ts";
import { ClientRegistry } from "../../src/api/client-registry.ts";
import { ReplayCache } from "../../src/api/replay-cache.ts";
import { readBody, type BodyEnv } from "../../src/api/middleware/body.ts";
import { verifySignature } from "../../src/api/middleware/signature.ts";
import { decodeBody } from "../../src/api/middleware/jwe-body.ts";
import { mintServerKey, type ServerKey } from "../../src/api/server-key.ts";
import { mintAuthority, mintClientIdentity, type CertificateAuthority, type ClientIdentity } from "../../src/pki/authority.ts";
import { signRequest } from "../../src/httpsig/sign.ts";
import { importClientKey } from "../../src/client/request-signer.ts";

export const BASE_URL = "https://127.0.0.1:41234";
export const HOUR_MS = 3600_000;

export interface Harness {
  app: Hono<BodyEnv>;
  ca: CertificateAuthority;
  client: ClientIdentity;
  clientKey: CryptoKey;
  registry: ClientRegistry;
  replayCache: ReplayCache;
  serverKey: ServerKey;
  /** Number of times a route handler ran: the proof that a refused request executed nothing. */
  calls: { n: number; clientId?: string; body?: unknown };
  /** The server clock the middleware uses (ms); tests may move it. */
  clock: { now: number };
}

export async function makeHarness(opts: { maxBytes?: number; replayMaxEntries?: number; windowSeconds?: number } = {}): Promise<Harness> {
  const ca = await mintAuthority();
  const client = await mintClientIdentity(ca, 1, { ttlMs: HOUR_MS });
  const registry = new ClientRegistry();
  registry.register(client);
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const replayCache = new ReplayCache({ now, ...(opts.replayMaxEntries ? { maxEntries: opts.replayMaxEntries } : {}) });
  const serverKey = await mintServerKey();
  const calls: Harness["calls"] = { n: 0 };

  const app = new Hono<BodyEnv>();
  app.onError((err, c) => (err instanceof ProblemError ? problemResponse(c, err) : c.text(`unexpected: ${err.message}`, 500)));
  app.use(
    readBody(opts.maxBytes ? { maxBytes: opts.maxBytes } : {}),
    verifySignature({ registry, replayCache, now, ...(opts.windowSeconds ? { windowSeconds: opts.windowSeconds } : {}) }),
    decodeBody({ serverKey: serverKey.privateKey }),
  );
  const handler = (c: any) => {
    calls.n++;
    calls.clientId = c.get("clientId");
    calls.body = c.get("body");
    return c.json({ ok: true, clientId: c.get("clientId") ?? null, body: c.get("body") ?? null });
  };
  app.post("/v1/commands/:name", handler);
  app.delete("/v1/jobs/:id", handler);
  app.get("/v1/health", handler);

  return { app, ca, client, clientKey: await importClientKey(client.keyPem), registry, replayCache, serverKey, calls, clock };
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
