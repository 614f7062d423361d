/**
 * What GET /v1/events tells a child (SPEC §3, §5): `rotate` (its leaf is at 2/3 of its life:
 * renew now), `revoked` (one of its client_ids may no longer sign), `shutdown` (icecore is
 * stopping). Streams belong to a child_id: a child revoked as a whole has its streams closed.
 */
export type CoreEvent =
  | { event: "rotate"; data: { client_id: string; not_after: string; renew_by: string } }
  | { event: "revoked"; data: { client_id: string; reason: string } }
  | { event: "shutdown"; data: { reason: string } };

export interface Subscriber {
  onEvent(event: CoreEvent): void;
  /** The child was revoked or icecore is stopping: end the stream. */
  onClose(): void;
}

export class EventHub {
  readonly #subscribers = new Map<string, Set<Subscriber>>();

  /** Returns the unsubscribe function. */
  subscribe(childId: string, subscriber: Subscriber): () => void {
    let set = this.#subscribers.get(childId);
    if (!set) this.#subscribers.set(childId, (set = new Set()));
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (set.size === 0 && this.#subscribers.get(childId) === set) this.#subscribers.delete(childId);
    };
  }

  publish(childId: string, event: CoreEvent): void {
    for (const subscriber of [...(this.#subscribers.get(childId) ?? [])]) subscriber.onEvent(event);
  }

  broadcast(event: CoreEvent): void {
    for (const childId of [...this.#subscribers.keys()]) this.publish(childId, event);
  }

  /** Ends every stream of `childId` (revocation). */
  close(childId: string): void {
    const set = this.#subscribers.get(childId);
    this.#subscribers.delete(childId);
    for (const subscriber of [...(set ?? [])]) subscriber.onClose();
  }

  closeAll(): void {
    for (const childId of [...this.#subscribers.keys()]) this.close(childId);
  }

  /** Open streams, for tests and memory-boundedness checks. */
  get streams(): number {
    let n = 0;
    for (const set of this.#subscribers.values()) n += set.size;
    return n;
  }
}
