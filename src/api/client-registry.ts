/**
 * The clients icecore has issued certificates to, by client_id (SPEC §3).
 *
 * Bun.serve does not expose the TLS peer certificate, so mTLS only proves the caller holds SOME
 * leaf of our CA. The RFC 9421 signature's `keyid` names the client_id, and this registry maps it
 * to the public key of the leaf we minted for it, plus its validity period: SPEC §3 keeps an old
 * client_id valid until its own expiry after rotation, then refuses it.
 *
 * The server calls register() for each client leaf it mints, with the values mintClientIdentity()
 * returns. Entries are kept after expiry so that a late request gets `expired_client` rather than
 * `unknown_client`; prune() drops those long past.
 */
export interface RegisteredClient {
  readonly clientId: string;
  /** ECDSA P-256 public key with the "verify" usage. */
  readonly publicKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type ClientStatus = "valid" | "not_yet_valid" | "expired";

export class ClientRegistry {
  readonly #clients = new Map<string, RegisteredClient>();

  register(client: RegisteredClient): void {
    if (!/^[0-9a-f]{64}$/.test(client.clientId)) throw new TypeError("client_id must be 64 lowercase hex digits (SPEC §3)");
    const alg = client.publicKey.algorithm as { name: string; namedCurve?: string };
    if (client.publicKey.type !== "public" || alg.name !== "ECDSA" || alg.namedCurve !== "P-256" || !client.publicKey.usages.includes("verify")) {
      throw new TypeError("a client's key must be an ECDSA P-256 public key usable for verify");
    }
    if (!(client.notBefore.getTime() < client.notAfter.getTime())) throw new RangeError("notBefore must precede notAfter");
    const existing = this.#clients.get(client.clientId);
    // client_id is the certificate's hash: the same id with another key would be a bug upstream.
    if (existing && existing.publicKey !== client.publicKey) throw new Error(`client ${client.clientId} is already registered`);
    this.#clients.set(client.clientId, {
      clientId: client.clientId,
      publicKey: client.publicKey,
      notBefore: new Date(client.notBefore),
      notAfter: new Date(client.notAfter),
    });
  }

  lookup(clientId: string): RegisteredClient | undefined {
    return this.#clients.get(clientId);
  }

  /** Certificate validity is inclusive of both ends (RFC 5280 §4.1.2.5). */
  static status(client: RegisteredClient, nowMs: number): ClientStatus {
    if (nowMs < client.notBefore.getTime()) return "not_yet_valid";
    if (nowMs > client.notAfter.getTime()) return "expired";
    return "valid";
  }

  /** Forget clients expired for longer than `graceMs`; returns how many were dropped. */
  prune(nowMs: number, graceMs = 24 * 3600_000): number {
    let dropped = 0;
    for (const [id, client] of this.#clients) {
      if (client.notAfter.getTime() + graceMs < nowMs) {
        this.#clients.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.#clients.size;
  }
}
