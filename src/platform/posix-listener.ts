/**
 * The server half of the handoff endpoint on Linux and macOS: Bun.listen on a Unix socket, each
 * accepted descriptor handed over with the kernel's credentials before any byte is written. The
 * per-OS files supply the address and how to name and pin a peer from a descriptor.
 */
import type { Socket, SocketListener } from "bun";
import type { EndpointOptions, LocalListener, PeerCredentials, Peer, PendingConnection } from "./platform.ts";

export interface UnixAddress {
  readonly name: string;
  /** What Bun.listen({ unix }) binds ("\0…" for the Linux abstract namespace). */
  readonly listenPath: string;
  /** Lock down what binding created (macOS: the socket file to 0600). Throws to abort. */
  afterBind(): void;
  /** Remove whatever the endpoint left in the file system. Never throws; idempotent. */
  dispose(): void;
}

export interface UnixPeerSource {
  /** The kernel's credentials of the connected peer: no /proc, nothing slow (flood path). */
  credentials(fd: number): PeerCredentials;
  /** Pin the peer whose credentials were read from `fd`. */
  pin(fd: number, creds: PeerCredentials): Peer;
}

interface ConnectionState {
  pending: Uint8Array | null;
  flushed: (() => void) | null;
  failed: ((error: Error) => void) | null;
}

export function listenUnix(address: UnixAddress, peers: UnixPeerSource, options: EndpointOptions): LocalListener {
  let open = true;
  let listener: SocketListener<ConnectionState> | null = null;

  const flushPending = (socket: Socket<ConnectionState>) => {
    const state = socket.data;
    const pending = state.pending;
    if (pending === null) return;
    const written = socket.write(pending);
    if (written >= pending.length) {
      pending.fill(0);
      state.pending = null;
      socket.end();
      state.flushed?.();
    } else if (written > 0) {
      state.pending = pending.slice(written);
      pending.fill(0);
    }
  };

  try {
    listener = Bun.listen<ConnectionState>({
      unix: address.listenPath,
      socket: {
        open(socket) {
          socket.data = { pending: null, flushed: null, failed: null };
          if (!open) {
            socket.terminate();
            return;
          }
          const fd = (socket as unknown as { fd?: number }).fd;
          let creds: PeerCredentials;
          try {
            // Bun exposes the accepted descriptor at runtime (PLATFORM-NOTES) but not in its types.
            if (typeof fd !== "number" || fd < 0) throw new Error("the runtime did not expose the socket's descriptor");
            creds = peers.credentials(fd);
          } catch (error) {
            socket.terminate();
            options.onUnidentified?.((error as Error).message);
            return;
          }
          let done = false;
          const connection: PendingConnection = {
            creds,
            pin: () => peers.pin(fd!, creds),
            refuse() {
              if (done) return;
              done = true;
              socket.terminate();
            },
            deliver(bytes) {
              if (done) return Promise.reject(new Error("the connection was already used"));
              done = true;
              return new Promise<void>((resolve, reject) => {
                socket.data.flushed = resolve;
                socket.data.failed = reject;
                socket.data.pending = bytes;
                flushPending(socket);
              });
            },
          };
          options.onConnection(connection);
        },
        drain: flushPending,
        close(socket) {
          const state = socket.data;
          if (state?.pending) {
            state.pending.fill(0);
            state.pending = null;
            state.failed?.(new Error("the peer closed the connection before the bundle was written"));
          }
        },
        data() {
          // The protocol is one-way; whatever a peer sends is ignored.
        },
      },
    });
    address.afterBind();
  } catch (error) {
    listener?.stop(true);
    address.dispose();
    throw error;
  }

  return {
    name: address.name,
    close() {
      if (!open) return;
      open = false;
      listener?.stop(false);
      address.dispose();
    },
  };
}
