/**
 * Certificates for the baseline server, minted by icecore's own PKI code (src/pki/authority.ts)
 * so both servers run the same algorithms (ECDSA P-256), chain shape and extensions.
 * They live in this process's memory and reach the baseline processes through stdin only.
 */
import { mintAuthority, mintClientIdentity, mintServerIdentity } from "../../src/pki/authority.ts";

export interface BaselinePki {
  /** What the baseline server needs (PEM text). */
  server: { ca: string; cert: string; key: string };
  /** What a load child needs: the same field names as icecore's bundle v1. */
  client: { ca_cert: string; client_cert: string; client_key: string };
}

const LIFETIME_MS = 3600_000;

export async function mintBaselinePki(): Promise<BaselinePki> {
  const text = new TextDecoder();
  const ca = await mintAuthority({ lifetimeMs: LIFETIME_MS, commonName: "icecore bench baseline CA" });
  const server = await mintServerIdentity(ca, { ttlMs: LIFETIME_MS });
  const client = await mintClientIdentity(ca, 1, { ttlMs: LIFETIME_MS });
  const caPem = text.decode(ca.certPem);
  return {
    server: { ca: caPem, cert: text.decode(server.certPem), key: text.decode(server.keyPem) },
    client: { ca_cert: caPem, client_cert: text.decode(client.certPem), client_key: text.decode(client.keyPem) },
  };
}
