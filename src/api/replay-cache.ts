/**
 * Replay keys already accepted, per client, for as long as a request carrying them could still
 * pass the clock check (SPEC §5: `created` within ±60 s; a key seen in the window is `replayed`).
 * The key is the signature's `nonce`, or, without one, the signature value itself (RFC 9421 §2.3
 * makes `nonce` optional; the signature middleware normalises the value first).
 *
 * Why the expiry is `created + window` (plus a second of slack): a request is fresh while
 * |now − created| ≤ window, so once now > created + window the same signed request is `stale`
 * anyway and its key no longer needs remembering. `created` itself cannot be changed without
 * breaking the signature (RFC 9421 §2.3: it is inside @signature-params).
 *
 * Memory is bounded twice (SPEC §5 "the replay cache has a per-client share"): each client may
 * hold at most `maxPerClient` live keys, and all clients together `maxEntries`. The signature
 * middleware keys shares by child_id, so a child that renews its certificate keeps its share. A client at its
 * share is refused with 429 `replay_cache_full` and a Retry-After for its earliest expiry; it
 * cannot take another client's room. Refusing fails CLOSED: evicting a live key would reopen a
 * replay window. Only verified requests reach the cache, so strangers cannot fill it.
 */
export interface ReplayCacheOptions {
  maxEntries?: number;
  maxPerClient?: number;
  now?: () => number;
}

export type RecordOutcome = { outcome: "recorded" } | { outcome: "replayed" } | { outcome: "full"; retryAfterSeconds: number };

/** Expired entries checked at the head of a client's insertion order on each insert: amortised cleanup. */
const INCREMENTAL_SWEEP = 8;

class ClientShare {
  /** key → expiry (ms). Map keeps insertion order, which roughly follows expiry order. */
  readonly entries = new Map<string, number>();
  /** Invariant: no entry expires before this, so a full sweep before then would find nothing. */
  noSweepBefore = 0;

  sweepHead(now: number): number {
    let checked = 0;
    let dropped = 0;
    for (const [key, expiry] of this.entries) {
      if (checked++ >= INCREMENTAL_SWEEP) break;
      if (expiry < now) {
        this.entries.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Drops every expired entry; returns how many, and the earliest remaining expiry. */
  sweepAll(now: number): { dropped: number; earliest: number } {
    if (now < this.noSweepBefore) return { dropped: 0, earliest: this.noSweepBefore };
    let earliest = Number.POSITIVE_INFINITY;
    let dropped = 0;
    for (const [key, expiry] of this.entries) {
      if (expiry < now) {
        this.entries.delete(key);
        dropped++;
      } else if (expiry < earliest) earliest = expiry;
    }
    this.noSweepBefore = earliest;
    return { dropped, earliest };
  }
}

export class ReplayCache {
  readonly maxEntries: number;
  readonly maxPerClient: number;
  readonly #now: () => number;
  readonly #clients = new Map<string, ClientShare>();
  #size = 0;

  constructor(opts: ReplayCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.maxPerClient = opts.maxPerClient ?? Math.min(this.maxEntries, 20_000);
    for (const [name, value] of [["maxEntries", this.maxEntries], ["maxPerClient", this.maxPerClient]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    }
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Atomically (JS is single-threaded; there is no await in here) checks and records a key.
   * Call ONLY after the signature verified, or forged requests could burn real clients' keys.
   */
  checkAndRecord(clientId: string, key: string, expiresAtMs: number): RecordOutcome {
    const now = this.#now();
    let share = this.#clients.get(clientId);
    const seen = share?.entries.get(key);
    if (seen !== undefined) {
      if (seen >= now) return { outcome: "replayed" };
      share!.entries.delete(key);
      this.#size--;
    }
    share ??= new ClientShare();
    this.#size -= share.sweepHead(now);
    if (share.entries.size >= this.maxPerClient) {
      const swept = share.sweepAll(now);
      this.#size -= swept.dropped;
      if (share.entries.size >= this.maxPerClient) return full(swept.earliest, now);
    }
    if (this.#size >= this.maxEntries) {
      const earliest = this.sweep(now);
      if (this.#size >= this.maxEntries) return full(earliest, now);
    }
    share.entries.set(key, expiresAtMs);
    share.noSweepBefore = Math.min(share.noSweepBefore, expiresAtMs);
    this.#clients.set(clientId, share);
    this.#size++;
    return { outcome: "recorded" };
  }

  /** Forget a client's keys (its identity was forgotten: nothing it signed can verify again). */
  forget(clientId: string): void {
    const share = this.#clients.get(clientId);
    if (!share) return;
    this.#size -= share.entries.size;
    this.#clients.delete(clientId);
  }

  get size(): number {
    return this.#size;
  }

  /** How many clients hold keys (memory-boundedness over many renewals). */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * Drops every expired key and every client left with none; returns the earliest remaining
   * expiry. Called when full, and periodically by the runtime so memory follows the live load.
   */
  sweep(now = this.#now()): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const [clientId, share] of this.#clients) {
      const swept = share.sweepAll(now);
      this.#size -= swept.dropped;
      earliest = Math.min(earliest, swept.earliest);
      if (share.entries.size === 0) this.#clients.delete(clientId);
    }
    return earliest;
  }
}

function full(earliest: number, now: number): RecordOutcome {
  return { outcome: "full", retryAfterSeconds: Math.max(1, Math.ceil((earliest - now) / 1000)) };
}
