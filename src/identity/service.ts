/**
 * The identity side of a running Core (SPEC §3): enrol a child (its child_id and the handoff leaf,
 * minted BEFORE the endpoint opens so the child never waits for it), renew a leaf for a public
 * key the child generated, announce rotation at 2/3 of a leaf's life, revoke a child's leaves
 * when it ends. Requests are checked against `registry`; children listen on `events`.
 */
import { issueClientCertificate, mintClientIdentity, type CertificateAuthority, type ClientCertificate, type ClientIdentity } from "../pki/authority.ts";
import { importP256PublicJwk } from "../pki/p256.ts";
import { EventHub } from "./events.ts";
import { IdentityRegistry, RENEWAL_GRACE_MS, ROTATE_AT_FRACTION, type ChildRecord, type Leaf, type RevokeReason } from "./registry.ts";

export interface IdentityServiceOptions {
  ca: CertificateAuthority;
  /** SPEC §2 --cert-ttl: the lifetime of every client leaf. */
  certTtlMs: number;
  now?: () => number;
  graceMs?: number;
  /** Called when a child is revoked (e.g. to cancel its jobs). */
  onChildRevoked?: (child: ChildRecord, reason: RevokeReason) => void;
  /** Called when a renewal issued `leaf`, which replaces `previous` (the `cert_rotated` log). */
  onRenewed?: (leaf: Leaf, previous: Leaf | null) => void;
  /** Called when one leaf is revoked, alone or with its child. */
  onLeafRevoked?: (leaf: Leaf) => void;
}

export interface Renewal {
  certificate: ClientCertificate;
  leaf: Leaf;
}

export class RenewalRefused extends Error {
  constructor(
    readonly code: "not_current" | "invalid_public_key" | "key_reused",
    message: string,
  ) {
    super(message);
    this.name = "RenewalRefused";
  }
}

/** When `rotate` is due for a leaf: 2/3 of the way from issuance to expiry. */
export function rotationDue(leaf: Pick<Leaf, "issuedAt" | "notAfter">): number {
  return leaf.issuedAt + (leaf.notAfter.getTime() - leaf.issuedAt) * ROTATE_AT_FRACTION;
}

/** The `renew_by` of a `rotate` event: leave a sixth of the life for the renewal and its grace. */
export function renewBy(leaf: Pick<Leaf, "issuedAt" | "notAfter">): number {
  return leaf.notAfter.getTime() - (leaf.notAfter.getTime() - leaf.issuedAt) / 6;
}

export class IdentityService {
  readonly registry: IdentityRegistry;
  readonly events = new EventHub();
  readonly #ca: CertificateAuthority;
  readonly #certTtlMs: number;
  readonly #now: () => number;
  /** `rotate` announcements, by client_id. */
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Ends of renewal graces, by the client_id being renewed away from. */
  readonly #graceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #graceMs: number;
  readonly #onRenewed: IdentityServiceOptions["onRenewed"];
  #serial = 0;

  constructor(options: IdentityServiceOptions) {
    this.#ca = options.ca;
    this.#certTtlMs = options.certTtlMs;
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.graceMs ?? RENEWAL_GRACE_MS;
    this.#onRenewed = options.onRenewed;
    this.registry = new IdentityRegistry({
      now: this.#now,
      graceMs: this.#graceMs,
      events: {
        revoked: (leaf) => {
          this.#clearTimers(leaf.clientId);
          options.onLeafRevoked?.(leaf);
          this.events.publish(leaf.childId, { event: "revoked", data: { client_id: leaf.clientId, reason: leaf.revokeReason ?? "revoked" } });
        },
        childRevoked: (child, reason) => {
          this.events.close(child.childId);
          options.onChildRevoked?.(child, reason);
        },
      },
    });
  }

  get certTtlMs(): number {
    return this.#certTtlMs;
  }

  /** A new child_id and its handoff leaf (SPEC §3, §4), registered before the child exists. */
  async enrollChild(instance: number): Promise<{ child: ChildRecord; identity: ClientIdentity }> {
    const child = this.registry.addChild(instance);
    const identity = await mintClientIdentity(this.#ca, ++this.#serial, { ttlMs: this.#certTtlMs });
    this.#register(child.childId, identity);
    return { child, identity };
  }

  /**
   * SPEC §3 renewal: `callerClientId` (already verified as the signer) asks for a new leaf for
   * `publicJwk`, a P-256 key the child generated. Only the child's current leaf may renew.
   */
  async renew(callerClientId: string, publicJwk: unknown): Promise<Renewal> {
    const caller = this.registry.lookup(callerClientId);
    if (!caller || !this.registry.isCurrent(callerClientId)) {
      throw new RenewalRefused("not_current", "only the child's newest certificate may renew; use the certificate from the last renewal");
    }
    let publicKey: CryptoKey;
    try {
      publicKey = await importP256PublicJwk(publicJwk, "ECDSA");
    } catch {
      throw new RenewalRefused("invalid_public_key", "public_key must be a P-256 public JWK (kty EC, crv P-256, x, y; no d)");
    }
    // Renewing to a key this child already had certified (the current one, or one it retired,
    // such as the key that crossed the handoff) would bring that key back to life (SPEC §3).
    if (this.registry.holdsKey(caller.childId, Buffer.from(await crypto.subtle.exportKey("spki", publicKey)).toString("hex"))) {
      throw new RenewalRefused("key_reused", "public_key must be a new key, not one this child's certificates already held");
    }
    const certificate = await issueClientCertificate(this.#ca, publicKey, ++this.#serial, { ttlMs: this.#certTtlMs });
    // Checked again after the await: a concurrent renewal by the same leaf must not fork the child.
    if (!this.registry.isCurrent(callerClientId)) {
      throw new RenewalRefused("not_current", "only the child's newest certificate may renew; use the certificate from the last renewal");
    }
    const leaf = this.#register(caller.childId, certificate);
    const previous = leaf.predecessor === null ? null : (this.registry.lookup(leaf.predecessor) ?? null);
    if (previous?.graceUntil != null) {
      // SPEC §3: revoked 60 s after the renewal at the latest, whether or not anyone presents it again.
      const clientId = previous.clientId;
      const timer = setTimeout(() => {
        this.#graceTimers.delete(clientId);
        this.registry.endGrace(clientId);
      }, Math.max(0, previous.graceUntil - this.#now()));
      timer.unref?.();
      this.#graceTimers.set(clientId, timer);
    }
    this.#onRenewed?.(leaf, previous);
    return { certificate, leaf };
  }

  revokeChild(childId: string, reason: RevokeReason): void {
    this.registry.revokeChild(childId, reason);
  }

  /** SPEC §5 `shutdown` on every stream, then every stream ends and every rotation timer stops. */
  shutdown(reason: string): void {
    this.events.broadcast({ event: "shutdown", data: { reason } });
    this.events.closeAll();
    for (const timers of [this.#timers, this.#graceTimers]) {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    }
  }

  #register(childId: string, certificate: ClientCertificate): Leaf {
    const leaf = this.registry.addLeaf(childId, certificate);
    const due = rotationDue(leaf);
    const timer = setTimeout(() => {
      this.#timers.delete(leaf.clientId);
      // Announced only while the leaf is still the child's current one and may sign.
      if (!this.registry.isCurrent(leaf.clientId) || this.registry.status(leaf) !== "valid") return;
      this.events.publish(leaf.childId, {
        event: "rotate",
        data: { client_id: leaf.clientId, not_after: leaf.notAfter.toISOString(), renew_by: new Date(renewBy(leaf)).toISOString() },
      });
      this.registry.prune();
    }, Math.max(0, due - this.#now()));
    timer.unref?.();
    this.#timers.set(leaf.clientId, timer);
    return leaf;
  }

  #clearTimers(clientId: string): void {
    for (const timers of [this.#timers, this.#graceTimers]) {
      const timer = timers.get(clientId);
      if (timer) clearTimeout(timer);
      timers.delete(clientId);
    }
  }
}
