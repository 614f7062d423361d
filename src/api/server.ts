import type { Server } from "bun";

export interface TlsMaterial {
  caCertPem: Uint8Array;
  serverCertPem: Uint8Array;
  serverKeyPem: Uint8Array;
}

export type FetchHandler = (request: Request, server: Server<undefined>) => Response | Promise<Response>;

export interface ApiServer {
  readonly port: number;
  readonly url: string;
  /**
   * Start answering with `fetch`; until then every request gets 503 `not_ready` (SPEC §5). Given
   * a promise (the app still loading), requests from then on wait for it instead.
   */
  serve(fetch: FetchHandler | Promise<FetchHandler>): void;
  /** Stop accepting; wait up to `graceMs` for requests in flight, then close everything. */
  stop(graceMs?: number): Promise<void>;
}

export class PortUnavailable extends Error {
  constructor(port: number, cause: string) {
    super(`cannot listen on 127.0.0.1:${port} (${cause})`);
    this.name = "PortUnavailable";
  }
}

/**
 * OpenSSL's SSL_OP_NO_TICKET (node:crypto's `constants.SSL_OP_NO_TICKET`, checked by
 * test/api/mtls.test.ts), written out so the start-up path does not load node:crypto for one
 * number (≈ 2 ms, docs/performance.md).
 */
export const SSL_OP_NO_TICKET = 0x4000;

/**
 * TLS 1.2 suites: ECDHE with the ECDSA server key, AEAD only (no CBC, no SHA-1 MAC). TLS 1.3
 * suites are AEAD by definition (RFC 8446 §9.1) and not affected by this list.
 */
export const TLS12_CIPHERS = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"].join(":");

/** SPEC §5: the port is bound before the child starts, but nothing is served before the handoff. */
function notReady(): Response {
  const body = { type: "https://icecore.invalid/problems/not_ready", title: "Service Unavailable", status: 503, detail: "the handoff has not completed", code: "not_ready" };
  return new Response(JSON.stringify(body), {
    status: 503,
    headers: {
      "Content-Type": "application/problem+json",
      "Retry-After": "1",
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
      "Cache-Control": "no-store",
    },
  });
}

/**
 * SPEC §5: HTTPS only on 127.0.0.1, client certificate required and verified against our CA.
 * There is no plain-HTTP listener at all. The app is attached later (serve()): the port must be
 * known for the bundle, and the app is built after the handoff, off the child's critical path.
 */
export function listenTls(port: number, tls: TlsMaterial): ApiServer {
  let handler: FetchHandler | null = null;
  let pending: Promise<FetchHandler> | null = null;
  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port,
      // Slow or stalled clients are dropped (SPEC §8.5 slowloris); SSE streams send heartbeats.
      idleTimeout: 10,
      tls: {
        cert: Buffer.from(tls.serverCertPem),
        key: Buffer.from(tls.serverKeyPem),
        ca: Buffer.from(tls.caCertPem),
        requestCert: true,
        rejectUnauthorized: true,
        ciphers: TLS12_CIPHERS,
        // A resumed session skips certificate verification, so a client whose certificate
        // expired could keep using a ticket from when it was valid (test/api/mtls.test.ts).
        // Every connection does a full handshake against the current time instead.
        secureOptions: SSL_OP_NO_TICKET,
      },
      fetch: (request, bunServer) => (handler ? handler(request, bunServer) : pending ? pending.then((h) => h(request, bunServer)) : notReady()),
      error() {
        return new Response(null, { status: 500 });
      },
    });
  } catch (error) {
    throw new PortUnavailable(port, (error as { code?: string }).code ?? (error as Error).message);
  }
  const bound = server.port!;
  return {
    port: bound,
    url: `https://127.0.0.1:${bound}`,
    serve(fetch) {
      if (typeof fetch === "function") handler = fetch;
      else pending = fetch.then((h) => (handler = h));
    },
    async stop(graceMs = 5000) {
      const graceful = server.stop(false);
      let timer: Timer | undefined;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), graceMs)));
      const outcome = await Promise.race([graceful.then(() => "done" as const), timeout]);
      clearTimeout(timer);
      if (outcome === "timeout") await server.stop(true);
    },
  };
}
