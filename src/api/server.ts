import type { Server } from "bun";
import { constants } from "node:crypto";

export interface TlsMaterial {
  caCertPem: Uint8Array;
  serverCertPem: Uint8Array;
  serverKeyPem: Uint8Array;
}

export interface ApiServer {
  readonly port: number;
  readonly url: string;
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
 * SPEC §5: HTTPS only on 127.0.0.1, client certificate required and verified against our CA.
 * There is no plain-HTTP listener at all. `fetch` is bound later (createApp needs the port).
 */
export function listenTls(port: number, tls: TlsMaterial, fetch: (request: Request, server: Server<undefined>) => Response | Promise<Response>): ApiServer {
  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port,
      // Slow or stalled clients are dropped (SPEC §8.5 slowloris).
      idleTimeout: 10,
      tls: {
        cert: Buffer.from(tls.serverCertPem),
        key: Buffer.from(tls.serverKeyPem),
        ca: Buffer.from(tls.caCertPem),
        requestCert: true,
        rejectUnauthorized: true,
        // A resumed session skips certificate verification, so a client whose certificate
        // expired could keep using a ticket from when it was valid (test/api/mtls.test.ts).
        // Every connection does a full handshake against the current time instead.
        secureOptions: constants.SSL_OP_NO_TICKET,
      },
      fetch,
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
    async stop(graceMs = 5000) {
      const graceful = server.stop(false);
      const timeout = Bun.sleep(graceMs).then(() => "timeout" as const);
      if ((await Promise.race([graceful.then(() => "done" as const), timeout])) === "timeout") await server.stop(true);
    },
  };
}
