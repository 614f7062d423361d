/**
 * Nonces already accepted, per client, for as long as a request carrying them could still pass
 * the clock check (SPEC §5: `created` within ±60 s, a nonce seen in the window is `replayed`).
 *
 * Why the expiry is `created + window` (plus a second of slack): a request is fresh while
 * |now − created| ≤ window, so once now > created + window the same signed request is `stale`
 * anyway and its nonce no longer needs remembering. `created` itself cannot be changed without
 * breaking the signature (RFC 9421 §2.3: it is inside @signature-params).
 *
 * Memory is bounded by `maxEntries` (default 100,000; nonce ≤ 128 chars and client_id 64 chars,
 * so a few tens of MB at worst). When full, expired entries are swept; if every entry is still
 * live the request is refused with 429 `replay_cache_full` and a Retry-After for the earliest
 * expiry. That choice fails CLOSED: evicting a live nonce would reopen a replay window, while a
 * 429 only slows a client that is sending more than maxEntries signed requests in two minutes —
 * and only signed (verified) requests ever reach the cache, so strangers cannot fill it.
 */
export interface ReplayCacheOptions {
  maxEntries?: number;
  now?: () => number;
}

export type RecordOutcome = { outcome: "recorded" } | { outcome: "replayed" } | { outcome: "full"; retryAfterSeconds: number };

/** Expired entries checked at the head of the insertion order on each insert: amortised cleanup. */
const INCREMENTAL_SWEEP = 8;

export class ReplayCache {
  readonly maxEntries: number;
  readonly #now: () => number;
  /** key → expiry (ms). Map keeps insertion order, which roughly follows expiry order. */
  readonly #entries = new Map<string, number>();
  /** Invariant: no entry expires before this, so a full sweep before then would find nothing. */
  #noSweepBefore = 0;

  constructor(opts: ReplayCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
    this.#now = opts.now ?? Date.now;
  }

  static keyOf(clientId: string, nonce: string): string {
    // client_id is hex and cannot contain "\n", so the key is unambiguous.
    return `${clientId}\n${nonce}`;
  }

  /**
   * Atomically (JS is single-threaded; there is no await in here) checks and records a nonce.
   * Call ONLY after the signature verified, or forged requests could burn real clients' nonces.
   */
  checkAndRecord(clientId: string, nonce: string, expiresAtMs: number): RecordOutcome {
    const now = this.#now();
    const key = ReplayCache.keyOf(clientId, nonce);
    const seen = this.#entries.get(key);
    if (seen !== undefined) {
      if (seen >= now) return { outcome: "replayed" };
      this.#entries.delete(key);
    }
    this.#sweepHead(now);
    if (this.#entries.size >= this.maxEntries) {
      const earliest = this.#sweepAll(now);
      if (this.#entries.size >= this.maxEntries) {
        return { outcome: "full", retryAfterSeconds: Math.max(1, Math.ceil((earliest - now) / 1000)) };
      }
    }
    this.#entries.set(key, expiresAtMs);
    this.#noSweepBefore = Math.min(this.#noSweepBefore, expiresAtMs);
    return { outcome: "recorded" };
  }

  get size(): number {
    return this.#entries.size;
  }

  #sweepHead(now: number): void {
    let checked = 0;
    for (const [key, expiry] of this.#entries) {
      if (checked++ >= INCREMENTAL_SWEEP) break;
      if (expiry < now) this.#entries.delete(key);
    }
  }

  /** Drops every expired entry; returns the earliest remaining expiry. */
  #sweepAll(now: number): number {
    if (now < this.#noSweepBefore) return this.#noSweepBefore;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [key, expiry] of this.#entries) {
      if (expiry < now) this.#entries.delete(key);
      else if (expiry < earliest) earliest = expiry;
    }
    this.#noSweepBefore = earliest;
    return earliest;
  }
}
