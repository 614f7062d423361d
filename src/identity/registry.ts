/**
 * Who may sign (SPEC §3, §5): every child icecore spawned (`child_id`) and the client leaves it
 * holds. Bun.serve does not expose the TLS peer certificate, so mTLS proves only that a caller
 * holds SOME leaf of our CA; the RFC 9421 `keyid` names the client_id, and this registry maps it
 * to that leaf's public key, its child, and whether it may still sign.
 *
 * Lifecycle of a leaf:
 *   issued (handoff or renewal) → valid → [renewed: its successor exists]
 *     → revoked ("superseded") when the successor first signs, or GRACE_MS after the renewal;
 *   any leaf → revoked ("child_exited", "replaced", "shutdown") when its child is revoked;
 *   any leaf → expired after notAfter.
 * A child holds at most two live leaves (the current one and the one it is renewing away from):
 * a second renewal within the grace revokes the oldest at once.
 *
 * Memory stays bounded over any number of restarts and renewals: a leaf is forgotten
 * EXPIRED_MEMORY_MS after it expires; a revoked one is remembered (so a late request gets `revoked_client`, not
 * `unknown_client`) until it expires, and at most MAX_REVOKED of them are kept (the oldest go
 * first; forgetting one only turns `revoked_client` into `unknown_client`, still a 401).
 */
import type { ClientCertificate } from "../pki/authority.ts";
import { randomHex } from "../random-id.ts";

export const RENEWAL_GRACE_MS = 60_000;
export const MAX_REVOKED = 256;
/** An expired leaf is remembered this long after its expiry, so a late request gets `expired_client`. */
export const EXPIRED_MEMORY_MS = 10 * 60_000;
/** SPEC §3: `rotate` is announced at 2/3 of a leaf's lifetime. */
export const ROTATE_AT_FRACTION = 2 / 3;

export type RevokeReason = "superseded" | "child_exited" | "replaced" | "shutdown";

export interface Leaf {
  readonly clientId: string;
  readonly childId: string;
  readonly publicKey: CryptoKey;
  /** The certificate's SubjectPublicKeyInfo (DER, hex): which key this leaf certifies. */
  readonly spki: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** When icecore issued it (ms); rotation is due at issuedAt + 2/3 of (notAfter − issuedAt). */
  readonly issuedAt: number;
  revokedAt: number | null;
  revokeReason: RevokeReason | null;
  /** For a leaf being renewed away from: revoked at this time unless its successor signs first. */
  graceUntil: number | null;
  /** The leaf this one replaced, while that one is in its grace. */
  predecessor: string | null;
}

export type LeafStatus = "valid" | "not_yet_valid" | "expired" | "revoked";

export interface ChildRecord {
  readonly childId: string;
  /** The instance this child runs in (1-based, SPEC §2 --instances) and its restart count. */
  readonly instance: number;
  readonly pid: number | null;
  current: string | null;
  revoked: boolean;
}

export interface RegistryEvents {
  /** A leaf was revoked (one of a child's, or all of them when the child is revoked). */
  revoked?(leaf: Leaf): void;
  /** A child and all its leaves were revoked. */
  childRevoked?(child: ChildRecord, reason: RevokeReason): void;
}

export interface RegistryOptions {
  now?: () => number;
  graceMs?: number;
  maxRevoked?: number;
  events?: RegistryEvents;
}

export class UnknownChild extends Error {
  constructor(childId: string) {
    super(`no such child ${childId}`);
    this.name = "UnknownChild";
  }
}

export class IdentityRegistry {
  readonly #leaves = new Map<string, Leaf>();
  readonly #children = new Map<string, ChildRecord>();
  /** Revoked client_ids in revocation order, for the MAX_REVOKED bound. */
  #revokedOrder: string[] = [];
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #maxRevoked: number;
  readonly #events: RegistryEvents;

  constructor(options: RegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.graceMs ?? RENEWAL_GRACE_MS;
    this.#maxRevoked = options.maxRevoked ?? MAX_REVOKED;
    this.#events = options.events ?? {};
  }

  /** SPEC §3: each spawned child (each instance, each restart) gets a random 16-byte child_id. */
  addChild(instance: number, pid: number | null = null): ChildRecord {
    const childId = randomHex(16);
    const child: ChildRecord = { childId, instance, pid, current: null, revoked: false };
    this.#children.set(childId, child);
    return child;
  }

  child(childId: string): ChildRecord | undefined {
    return this.#children.get(childId);
  }

  setPid(childId: string, pid: number): void {
    const child = this.#children.get(childId);
    if (child) (child as { pid: number | null }).pid = pid;
  }

  /**
   * Registers a leaf for `childId`: its first (the handoff's) or a renewal's. A renewal puts the
   * previous current leaf in its grace; one already in grace is revoked now (two live at most).
   */
  addLeaf(childId: string, certificate: ClientCertificate): Leaf {
    const child = this.#children.get(childId);
    if (!child || child.revoked) throw new UnknownChild(childId);
    if (this.#leaves.has(certificate.clientId)) throw new Error(`client ${certificate.clientId} is already registered`);
    const now = this.#now();
    const previous = child.current ? this.#leaves.get(child.current) : undefined;
    const leaf: Leaf = {
      clientId: certificate.clientId,
      childId,
      publicKey: certificate.publicKey,
      spki: Buffer.from(certificate.spkiDer).toString("hex"),
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      issuedAt: now,
      revokedAt: null,
      revokeReason: null,
      graceUntil: null,
      predecessor: null,
    };
    if (previous && previous.revokedAt === null) {
      if (previous.predecessor) this.#revoke(previous.predecessor, "superseded");
      previous.predecessor = null;
      previous.graceUntil = now + this.#graceMs;
      leaf.predecessor = previous.clientId;
    }
    this.#leaves.set(leaf.clientId, leaf);
    child.current = leaf.clientId;
    this.prune();
    return leaf;
  }

  lookup(clientId: string): Leaf | undefined {
    const leaf = this.#leaves.get(clientId);
    if (leaf) this.endGrace(leaf.clientId);
    return leaf;
  }

  /**
   * The renewal grace of `clientId` is over: revoke it now unless its successor already did.
   * Called by a timer at `graceUntil`, so the revocation (and its `revoked` event) happens on
   * time even when nobody presents the old key again; `lookup` checks the same on every request.
   */
  endGrace(clientId: string): void {
    const leaf = this.#leaves.get(clientId);
    if (leaf && leaf.revokedAt === null && leaf.graceUntil !== null && this.#now() >= leaf.graceUntil) this.#revoke(clientId, "superseded");
  }

  /**
   * Does any certificate of `childId` that is still remembered (live, in its grace, or revoked)
   * certify the key whose SubjectPublicKeyInfo is `spki`? A renewal to such a key would bring a
   * retired key, such as the one that crossed the handoff, back to life (SPEC §3).
   */
  holdsKey(childId: string, spki: string): boolean {
    for (const leaf of this.#leaves.values()) if (leaf.childId === childId && leaf.spki === spki) return true;
    return false;
  }

  /** Certificate validity is inclusive of both ends (RFC 5280 §4.1.2.5); revocation wins. */
  status(leaf: Leaf): LeafStatus {
    if (leaf.revokedAt !== null) return "revoked";
    const now = this.#now();
    if (now < leaf.notBefore.getTime()) return "not_yet_valid";
    if (now > leaf.notAfter.getTime()) return "expired";
    return "valid";
  }

  /**
   * A request signed by `clientId` verified. If this leaf is a renewal's, its predecessor is
   * revoked now (SPEC §3: "as soon as the new one signs its first request").
   */
  signed(clientId: string): void {
    const leaf = this.#leaves.get(clientId);
    if (!leaf?.predecessor) return;
    const predecessor = leaf.predecessor;
    leaf.predecessor = null;
    this.#revoke(predecessor, "superseded");
  }

  /** Is `clientId` the child's current leaf (the only one that may renew)? */
  isCurrent(clientId: string): boolean {
    const leaf = this.#leaves.get(clientId);
    return leaf !== undefined && this.#children.get(leaf.childId)?.current === clientId;
  }

  /** SPEC §3 revocation: every client_id of the child, at once. Idempotent. */
  revokeChild(childId: string, reason: RevokeReason): void {
    const child = this.#children.get(childId);
    if (!child || child.revoked) return;
    child.revoked = true;
    for (const leaf of this.#leaves.values()) {
      if (leaf.childId === childId) this.#revoke(leaf.clientId, reason);
    }
    this.#events.childRevoked?.(child, reason);
    this.prune();
  }

  /**
   * Forgets expired leaves, revoked leaves past expiry or beyond MAX_REVOKED, and empty revoked
   * children; returns how many leaves and children it forgot.
   */
  prune(): { leaves: number; children: number } {
    const before = this.size;
    const now = this.#now();
    for (const [id, leaf] of this.#leaves) {
      if (now > leaf.notAfter.getTime() + EXPIRED_MEMORY_MS) this.#leaves.delete(id);
    }
    this.#revokedOrder = this.#revokedOrder.filter((id) => this.#leaves.has(id));
    while (this.#revokedOrder.length > this.#maxRevoked) this.#leaves.delete(this.#revokedOrder.shift()!);
    const liveChildren = new Set<string>();
    for (const leaf of this.#leaves.values()) liveChildren.add(leaf.childId);
    for (const [id, child] of this.#children) {
      if (child.revoked && !liveChildren.has(id)) this.#children.delete(id);
    }
    const after = this.size;
    return { leaves: before.leaves - after.leaves, children: before.children - after.children };
  }

  /**
   * How many leaves (of which `revoked` are tombstones) and children are remembered: the
   * memory-boundedness figures of the `cert_rotated` and `maintenance` log events.
   */
  get size(): { leaves: number; revoked: number; children: number } {
    return { leaves: this.#leaves.size, revoked: this.#revokedOrder.length, children: this.#children.size };
  }

  #revoke(clientId: string, reason: RevokeReason): void {
    const leaf = this.#leaves.get(clientId);
    if (!leaf || leaf.revokedAt !== null) return;
    leaf.revokedAt = this.#now();
    leaf.revokeReason = reason;
    leaf.graceUntil = null;
    this.#revokedOrder.push(clientId);
    this.#events.revoked?.(leaf);
  }
}
