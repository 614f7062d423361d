/**
 * SPEC §5 rate limit: each client may have at most N commands running at once (default 4); one
 * more is refused with `too_many_requests` (429 with `Retry-After: 1` in the API). A running long job holds its slot
 * until it ends, so a client cannot start unlimited installs by not waiting for them.
 *
 * Per client, not global: one misbehaving child must not lock another out. Slots are counted in
 * memory only; icecore is one process.
 */
import { refusals } from "./errors.ts";

export const DEFAULT_MAX_CONCURRENT_PER_CLIENT = 4;

export interface ConcurrencyLimiter {
  /** A release function (idempotent), or null when the client is at its cap. */
  tryAcquire(clientId: string): (() => void) | null;
  /** Like tryAcquire, but throws `too_many_requests`. */
  acquire(clientId: string): () => void;
  inFlight(clientId: string): number;
  readonly perClient: number;
}

export function createConcurrencyLimiter(opts: { perClient?: number } = {}): ConcurrencyLimiter {
  const perClient = opts.perClient ?? DEFAULT_MAX_CONCURRENT_PER_CLIENT;
  if (!Number.isInteger(perClient) || perClient < 1) throw new Error("perClient must be a positive integer");
  const counts = new Map<string, number>();

  const tryAcquire = (clientId: string): (() => void) | null => {
    const n = counts.get(clientId) ?? 0;
    if (n >= perClient) return null;
    counts.set(clientId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(clientId) ?? 1) - 1;
      if (left <= 0) counts.delete(clientId);
      else counts.set(clientId, left);
    };
  };

  return {
    perClient,
    tryAcquire,
    acquire(clientId) {
      const release = tryAcquire(clientId);
      if (!release) throw refusals.tooMany(perClient);
      return release;
    },
    inFlight: (clientId) => counts.get(clientId) ?? 0,
  };
}
