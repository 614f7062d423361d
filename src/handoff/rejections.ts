/**
 * Refused handoff peers, coalesced (SPEC §4.3 audit record `handoff_peer_rejected`).
 *
 * Any local user can connect to an abstract socket whose name is readable in /proc/net/unix, in
 * a loop. One audit line per connection would let such a flood write megabytes and starve the
 * event loop with synchronous writes. So the FIRST refusal of each (user, reason) in a window is
 * reported at once and in full (pid, exe); the rest in that window are counted and reported as
 * one record with `count` when the window ends. A flood therefore costs a few records a second.
 */
import type { UserId } from "../platform/platform.ts";

export interface PeerRejection {
  pid: number | null;
  uid: UserId | null;
  exe: string | null;
  reason: string;
  /** How many refusals this record stands for (1, or the number coalesced in a window). */
  count: number;
}

export const REJECTION_WINDOW_MS = 1000;
/** At most this many distinct (user, reason) keys are tracked per window; the rest share one. */
const MAX_KEYS = 16;

/** Reasons that embed a pid are grouped by their shape, not their text. */
function reasonKind(reason: string): string {
  return reason.replace(/\d+/g, "#");
}

interface Pending {
  first: Omit<PeerRejection, "count">;
  suppressed: number;
}

export class RejectionCoalescer {
  readonly #emit: (rejection: PeerRejection) => void;
  readonly #windowMs: number;
  #window = new Map<string, Pending>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(emit: (rejection: PeerRejection) => void, windowMs = REJECTION_WINDOW_MS) {
    this.#emit = emit;
    this.#windowMs = windowMs;
  }

  add(rejection: Omit<PeerRejection, "count">): void {
    let key = `${rejection.uid}\n${reasonKind(rejection.reason)}`;
    if (!this.#window.has(key) && this.#window.size >= MAX_KEYS) key = "overflow";
    const pending = this.#window.get(key);
    if (pending) {
      pending.suppressed++;
      return;
    }
    this.#window.set(key, { first: rejection, suppressed: 0 });
    this.#emit({ ...rejection, count: 1 });
    this.#timer ??= setTimeout(() => this.flush(), this.#windowMs);
  }

  /** Report what the current window suppressed, and start a new one. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const window = this.#window;
    this.#window = new Map();
    for (const { first, suppressed } of window.values()) {
      if (suppressed > 0) this.#emit({ pid: null, uid: first.uid, exe: null, reason: first.reason, count: suppressed });
    }
  }
}
