/**
 * The one-time handoff endpoint (SPEC §4): the generic half. It binds the platform's local
 * socket, names every peer through the kernel before writing a byte, serves exactly one
 * verified peer, and closes the listener in the same tick as the write.
 */
import type { Socket, SocketListener } from "bun";
import type { HandoffPlatform, Peer, PeerCredentials } from "../platform/platform.ts";

export interface PeerRejection {
  pid: number | null;
  uid: number | null;
  exe: string | null;
  reason: string;
}

export interface Delivery {
  peer: PeerCredentials;
  bytes: number;
  /** performance.now() when the listener was bound, when the bundle was written, when the listener closed. */
  openedAt: number;
  writtenAt: number;
  closedAt: number;
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
  platform: HandoffPlatform;
  /** The bundle, produced on demand; the endpoint zeroes it after writing. */
  payload: () => Promise<Uint8Array>;
  onRejected?: (rejection: PeerRejection) => void;
  uid?: number;
}

export class EndpointDestroyed extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "EndpointDestroyed";
  }
}

interface Connection {
  pending: Uint8Array | null;
}

export function openEndpoint(options: EndpointOptions): OneTimeEndpoint {
  const { platform } = options;
  if (!platform.canIdentifyPeers) throw new Error(`handoff is not supported on ${platform.os}: the peer cannot be identified`);
  const myUid = options.uid ?? process.getuid!();
  const address = platform.allocateEndpoint();
  let childPid: number | null = null;
  let consumed = false;
  let open = true;
  let listener: SocketListener<Connection> | null = null;
  let resolveDelivered!: (d: Delivery) => void;
  let rejectDelivered!: (e: Error) => void;
  const delivered = new Promise<Delivery>((resolve, reject) => {
    resolveDelivered = resolve;
    rejectDelivered = reject;
  });
  // Nobody may be left with an unhandled rejection when the endpoint is destroyed unobserved.
  delivered.catch(() => {});

  const closeListener = () => {
    if (!open) return;
    open = false;
    listener?.stop(false);
    address.dispose();
  };

  const reject = (socket: Socket<Connection>, rejection: PeerRejection, peer?: Peer) => {
    peer?.release();
    socket.terminate();
    options.onRejected?.(rejection);
  };

  const serve = async (socket: Socket<Connection>, peer: Peer) => {
    let bytes: Uint8Array;
    try {
      bytes = await options.payload();
    } catch (error) {
      peer.release();
      socket.terminate();
      closeListener();
      rejectDelivered(new EndpointDestroyed(`could not build the bundle: ${(error as Error).message}`));
      return;
    }
    // SPIRE-style: the pid checked above must still be the same live process right before writing.
    if (!peer.stillSame()) {
      bytes.fill(0);
      reject(socket, { ...describe(peer), reason: "peer exited or was replaced before delivery" }, peer);
      closeListener();
      rejectDelivered(new EndpointDestroyed("the verified child went away before the bundle was written"));
      return;
    }
    peer.release();
    const written = socket.write(bytes);
    const writtenAt = performance.now();
    if (written < bytes.length) socket.data.pending = bytes.slice(Math.max(written, 0));
    else socket.end();
    closeListener();
    const closedAt = performance.now();
    bytes.fill(0);
    resolveDelivered({ peer: peer.creds, bytes: bytes.length, openedAt, writtenAt, closedAt });
  };

  listener = Bun.listen<Connection>({
    unix: address.listenPath,
    socket: {
      open(socket) {
        socket.data = { pending: null };
        if (consumed || !open) {
          socket.terminate();
          return;
        }
        let peer: Peer;
        try {
          peer = platform.identifyPeer(socketFd(socket));
        } catch (error) {
          reject(socket, { pid: null, uid: null, exe: null, reason: `peer could not be identified: ${(error as Error).message}` });
          return;
        }
        const { uid } = peer.creds;
        let reason: string | null = null;
        if (uid !== myUid) reason = `uid ${uid} is not icecore's uid ${myUid}`;
        else if (childPid === null) reason = "no child has been spawned yet";
        else if (!peer.isSelfOrDescendantOf(childPid)) reason = `pid ${peer.creds.pid} is not the child (${childPid}) or its descendant`;
        if (reason !== null) {
          reject(socket, { ...describe(peer), reason }, peer);
          return;
        }
        // SPEC §4.4: consumed before the first byte, so two racing peers can never both be served.
        consumed = true;
        void serve(socket, peer);
      },
      drain(socket) {
        const pending = socket.data.pending;
        if (pending === null) return;
        const written = socket.write(pending);
        if (written < pending.length) {
          socket.data.pending = pending.slice(Math.max(written, 0));
        } else {
          socket.data.pending = null;
          socket.end();
        }
        pending.fill(0);
      },
      data() {
        // The protocol is one-way; whatever a peer sends is ignored.
      },
    },
  });
  const openedAt = performance.now();
  try {
    address.afterBind();
  } catch (error) {
    closeListener();
    throw error;
  }

  return {
    name: address.name,
    delivered,
    expectChild(pid) {
      childPid = pid;
    },
    destroy(reason) {
      if (!consumed) consumed = true;
      const wasOpen = open;
      closeListener();
      if (wasOpen) rejectDelivered(new EndpointDestroyed(reason));
    },
    get isOpen() {
      return open;
    },
  };
}

/** Bun exposes the accepted descriptor at runtime (PLATFORM-NOTES) but not in its types. */
function socketFd(socket: Socket<Connection>): number {
  const fd = (socket as unknown as { fd?: number }).fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("the runtime did not expose the socket's descriptor");
  return fd;
}

function describe(peer: Peer): Omit<PeerRejection, "reason"> {
  return { pid: peer.creds.pid, uid: peer.creds.uid, exe: peer.exe };
}
