/**
 * Everything that differs between operating systems lives behind these three small interfaces
 * (Tailscale safesocket's face, SPIRE peertracker's split):
 *
 *   - `endpoints`: bind a one-time local endpoint and hand over each connection with its peer
 *     named by the kernel; on the client side, connect, check the server, read.
 *   - `Peer`: who connected (pid, user), pinned so a recycled pid cannot pass for it.
 *   - `hardening`: keep this process's memory to itself, and its children tied to it.
 *
 * Nothing outside src/platform names SO_PEERCRED, sun_path, a named pipe or a Win32 call.
 */
import { randomHex } from "../random-id.ts";

/** A POSIX uid, or a Windows user SID ("S-1-5-21-…"). Compared with ===. */
export type UserId = number | string;

export interface PeerCredentials {
  pid: number;
  uid: UserId;
}

/** A connected peer, pinned: the pid cannot be recycled under the checks (pidfd, start time, handle). */
export interface Peer {
  readonly creds: PeerCredentials;
  /** Executable path, for the audit record; null when the kernel will not tell us. */
  readonly exe: string | null;
  /** Is this peer `ancestorPid` or one of its descendants (walking the parent chain)? */
  isSelfOrDescendantOf(ancestorPid: number): boolean;
  /** Is the process that connected still alive and still the same process (not a reused pid)? */
  stillSame(): boolean;
  /** Release kernel handles held for the peer (a pidfd, a process handle). Idempotent. */
  release(): void;
}

/**
 * One accepted connection, before a byte is written. `creds` is the kernel's cheap answer
 * (SO_PEERCRED, getpeereid, the pipe client's token), so a caller can refuse other users before
 * doing any further work; `pin()` does the rest (pidfd, start time, exe path).
 */
export interface PendingConnection {
  readonly creds: PeerCredentials;
  /** Pin the peer for the ancestry check and the final still-same check. Throws PeerUnidentifiable. */
  pin(): Peer;
  /** Write all of `bytes`, flush, then close. Zeroes `bytes` as they are written (SPEC §4.6). */
  deliver(bytes: Uint8Array): Promise<void>;
  /** Close without writing a byte. Idempotent. */
  refuse(): void;
}

export interface LocalListener {
  /** What the child receives as `--pipe-name` (SPEC §4.1). */
  readonly name: string;
  /**
   * Stop accepting, so a further connect is refused by the kernel, and remove anything the
   * endpoint left in the file system. Accepted connections stay usable. Idempotent.
   */
  close(): void;
}

export interface EndpointOptions {
  /** Called once per connection, synchronously from the accept path. */
  onConnection(connection: PendingConnection): void;
  /** Called when an incoming connection could not even be named (the peer vanished). */
  onUnidentified?(reason: string): void;
}

export interface ReceiveOptions {
  maxBytes: number;
  /** Date.now() value after which reading gives up. */
  deadline: number;
}

export interface Endpoints {
  /** Bind a fresh, unguessable one-time endpoint (SPEC §4.1). Throws if the name cannot be bound. */
  listen(options: EndpointOptions): LocalListener;
  /** Does `name` have the shape this OS's endpoints have? (Client-side check before connecting.) */
  isEndpointName(name: string): boolean;
  /**
   * Client side (SPEC §4 mutual check): connect to `name`, verify with the kernel that the
   * server process runs as this user and is an ancestor of this process, then read until the
   * server closes, at most `maxBytes`. Throws EndpointNotReady while nobody listens (the caller
   * retries), EndpointBusy when the listener exists but cannot take the connection yet, and
   * ServerNotTrusted when the server is not who it must be.
   */
  receive(name: string, options: ReceiveOptions): Promise<Uint8Array>;
}

export interface Hardening {
  /**
   * SPEC §7: no core dumps, memory and environ closed to other processes of the same user where
   * the OS allows it. Throws when the OS call fails.
   */
  harden(): void;
  /** The pid of a process tracing this one (Linux TracerPid), or null when none or unknowable. */
  tracerPid(): number | null;
  /**
   * Why a same-user process may be able to attach to this one before harden() ran, or null when
   * the kernel forbids it (Linux Yama ptrace_scope ≥ 1).
   */
  attachBeforeHardenRisk(): string | null;
  /**
   * An argv prefix that makes a spawned process die with icecore even when icecore is killed
   * with SIGKILL (SPEC §7 "no orphans"), or [] where the OS offers none.
   */
  orphanGuard(): readonly string[];
}

export interface Platform {
  readonly os: string;
  /** Can this OS name the peer of a local endpoint? If false, the handoff fails closed. */
  readonly canIdentifyPeers: boolean;
  currentUid(): UserId;
  /** SPEC §7: is this process privileged (POSIX uid 0, a Windows elevated token)? icecore refuses to run so. */
  isPrivileged(): boolean;
  readonly endpoints: Endpoints;
  readonly hardening: Hardening;
}

export class EndpointNotReady extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointNotReady";
  }
}

/** The listener exists but its queue is full (a flood): retry soon, not with a long backoff. */
export class EndpointBusy extends EndpointNotReady {
  constructor(message: string) {
    super(message);
    this.name = "EndpointBusy";
  }
}

export class PeerUnidentifiable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerUnidentifiable";
  }
}

/** The endpoint's server is not this process's ancestor, or runs as another user (SPEC §4). */
export class ServerNotTrusted extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ServerNotTrusted";
  }
}

export class PlatformUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlatformUnsupported";
  }
}

/** 32 lowercase hex characters of fresh randomness, shared by every OS's endpoint name. */
export function endpointToken(): string {
  return randomHex(16);
}
