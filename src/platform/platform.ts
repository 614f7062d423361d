/**
 * Everything that differs between operating systems for the handoff lives behind this one
 * interface (Tailscale safesocket / SPIRE peertracker style). Nothing outside src/platform names
 * SO_PEERCRED, sun_path or a named pipe.
 */

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** A connected peer as the kernel named it, pinned so a recycled pid cannot pass for it. */
export interface Peer {
  readonly creds: PeerCredentials;
  /** Executable path, for the audit record; null when the kernel will not tell us. */
  readonly exe: string | null;
  /** Is this peer `ancestorPid` or one of its descendants (walking the parent chain)? */
  isSelfOrDescendantOf(ancestorPid: number): boolean;
  /** Is the process that connected still alive and still the same process (not a reused pid)? */
  stillSame(): boolean;
  /** Release kernel handles held for the peer (a pidfd). Idempotent. */
  release(): void;
}

export interface EndpointAddress {
  /** What the child receives as `--pipe-name`. */
  readonly name: string;
  /** What Bun.listen({ unix }) binds. */
  readonly listenPath: string;
  /** Lock down what binding created (macOS: the socket file to 0600). Throws to abort the handoff. */
  afterBind(): void;
  /** Remove anything the endpoint left in the file system. Idempotent; safe on every exit path. */
  dispose(): void;
}

export interface HandoffPlatform {
  readonly os: string;
  /** Can this OS name the peer of a local socket? If false, handoff fails closed. */
  readonly canIdentifyPeers: boolean;
  /** Allocate a fresh, unguessable endpoint address (SPEC §4.1). */
  allocateEndpoint(): EndpointAddress;
  /** Does `name` have the shape this OS's endpoints have? (Client-side check before connecting.) */
  isEndpointName(name: string): boolean;
  /** Identify the process at the other end of an accepted socket, before anything is written. */
  identifyPeer(fd: number): Peer;
  /**
   * Client side: connect to `name` and read until the server closes, at most `maxBytes`.
   * Throws EndpointNotReady when nobody listens yet (the caller retries).
   */
  readOnce(name: string, opts: { maxBytes: number; deadline: number }): Promise<Uint8Array>;
  /** SPEC §7: no core dumps, not ptrace-able or /proc-readable by same-user processes. */
  hardenProcess(): void;
}

export class EndpointNotReady extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointNotReady";
  }
}

export class PeerUnidentifiable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerUnidentifiable";
  }
}

/** 32 lowercase hex characters of fresh randomness, shared by every OS's endpoint name. */
export function endpointToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
}
