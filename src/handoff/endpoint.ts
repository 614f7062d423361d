/**
 * The one-time handoff endpoint (SPEC §4): the generic half. The platform binds the local
 * endpoint and names every peer through the kernel; this decides who gets the bundle:
 *
 *   1. another user: refused on the kernel's credentials alone, before any /proc work, so a
 *      flood from another account costs a getsockopt and a close per connection (SPEC §4.3);
 *   2. icecore's user: pinned (pidfd or start time), then it must be the child or a descendant;
 *   3. the first peer that passes consumes the endpoint and the listener is closed at once,
 *      BEFORE a byte is written (SPEC §4.4): a second connect is refused by the kernel;
 *   4. right before writing, the pinned peer must still be the same live process.
 */
import type { Peer, PendingConnection, Platform, UserId } from "../platform/platform.ts";
import { RejectionCoalescer, type PeerRejection } from "./rejections.ts";

export type { PeerRejection } from "./rejections.ts";

export interface Delivery {
  peer: { pid: number; uid: UserId };
  bytes: number;
  /** performance.now() when the listener was bound, when it closed (a peer was accepted), when the bundle was written. */
  openedAt: number;
  closedAt: number;
  writtenAt: number;
}

export interface OneTimeEndpoint {
  readonly name: string;
  /** The child is known only after spawning it with `name`; until then every peer is refused. */
  expectChild(pid: number): void;
  /** Resolves once the bundle went to the verified child; rejects if the endpoint is destroyed first. */
  readonly delivered: Promise<Delivery>;
  /** Destroy the endpoint (timeout, child death, shutdown). Idempotent. */
  destroy(reason: string): void;
  readonly isOpen: boolean;
}

export interface EndpointOptions {
  platform: Platform;
  /** The bundle, ideally built before the endpoint opened; the endpoint zeroes it once written. */
  payload: () => Uint8Array | Promise<Uint8Array>;
  /** Rejected peers, coalesced per user and reason (rejections.ts). */
  onRejected?: (rejection: PeerRejection) => void;
  /** A reason not to deliver right now (e.g. icecore is being traced), checked before writing. */
  preflight?: () => string | null;
  /**
   * The verified child was accepted and the listener closed, before any byte is written (SPEC
   * §4.4): the moment the endpoint's life ends, whatever the delivery then does.
   */
  onClosed?: (lifetimeMs: number) => void;
}

export class EndpointDestroyed extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "EndpointDestroyed";
  }
}

export function openEndpoint(options: EndpointOptions): OneTimeEndpoint {
  const { platform } = options;
  const myUid = platform.currentUid();
  const rejections = new RejectionCoalescer((rejection) => options.onRejected?.(rejection));
  let childPid: number | null = null;
  let consumed = false;
  let open = true;
  let resolveDelivered!: (d: Delivery) => void;
  let rejectDelivered!: (e: Error) => void;
  const delivered = new Promise<Delivery>((resolve, reject) => {
    resolveDelivered = resolve;
    rejectDelivered = reject;
  });
  // Nobody may be left with an unhandled rejection when the endpoint is destroyed unobserved.
  delivered.catch(() => {});

  const close = () => {
    if (!open) return;
    open = false;
    listener.close();
    rejections.flush();
  };

  const fail = (reason: string) => {
    close();
    rejectDelivered(new EndpointDestroyed(reason));
  };

  const serve = async (connection: PendingConnection, peer: Peer, closedAt: number) => {
    let bytes: Uint8Array;
    try {
      bytes = await options.payload();
    } catch (error) {
      peer.release();
      connection.refuse();
      fail(`could not build the bundle: ${(error as Error).message}`);
      return;
    }
    const refusal = options.preflight?.() ?? null;
    // SPIRE-style: the pid checked above must still be the same live process right before writing.
    const gone = peer.stillSame() ? null : "the verified child went away before the bundle was written";
    peer.release();
    if (refusal !== null || gone !== null) {
      bytes.fill(0);
      connection.refuse();
      if (gone !== null) rejections.add({ pid: peer.creds.pid, uid: peer.creds.uid, exe: peer.exe, reason: "peer exited or was replaced before delivery" });
      fail(refusal ?? gone!);
      return;
    }
    const length = bytes.length;
    try {
      await connection.deliver(bytes);
    } catch (error) {
      fail((error as Error).message);
      return;
    } finally {
      bytes.fill(0);
    }
    resolveDelivered({ peer: peer.creds, bytes: length, openedAt, closedAt, writtenAt: performance.now() });
  };

  const onConnection = (connection: PendingConnection) => {
    if (consumed || !open) {
      connection.refuse();
      return;
    }
    const { pid, uid } = connection.creds;
    if (uid !== myUid) {
      connection.refuse();
      rejections.add({ pid, uid, exe: null, reason: `uid ${uid} is not icecore's uid ${myUid}` });
      return;
    }
    if (childPid === null) {
      connection.refuse();
      rejections.add({ pid, uid, exe: null, reason: "no child has been spawned yet" });
      return;
    }
    let peer: Peer;
    try {
      peer = connection.pin();
    } catch (error) {
      connection.refuse();
      rejections.add({ pid, uid, exe: null, reason: `peer could not be identified: ${(error as Error).message}` });
      return;
    }
    if (!peer.isSelfOrDescendantOf(childPid)) {
      peer.release();
      connection.refuse();
      rejections.add({ pid, uid, exe: peer.exe, reason: `pid ${pid} is not the child (${childPid}) or its descendant` });
      return;
    }
    // SPEC §4.4: consumed, and the listener closed, before the first byte is written.
    consumed = true;
    close();
    const closedAt = performance.now();
    options.onClosed?.(closedAt - openedAt);
    void serve(connection, peer, closedAt);
  };

  const listener = platform.endpoints.listen({
    onConnection,
    onUnidentified: (reason) => rejections.add({ pid: null, uid: null, exe: null, reason: `peer could not be identified: ${reason}` }),
  });
  const openedAt = performance.now();

  return {
    name: listener.name,
    delivered,
    expectChild(pid) {
      childPid = pid;
    },
    destroy(reason) {
      consumed = true;
      if (open) fail(reason);
    },
    get isOpen() {
      return open;
    },
  };
}
