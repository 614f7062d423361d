/**
 * Playwright's client-certificate proxy is a SOCKS5 listener on 127.0.0.1 with no authentication
 * that attaches OUR client certificate to every connection it relays to the Core: any local
 * process, of any user, could reach the Core as us through it (shown in docs/browser-notes.md).
 * This guard runs before Playwright sees a connection and destroys it unless the connecting
 * socket belongs to our uid AND is held by a descendant of this process (our Chromium).
 */
import type { Server, Socket } from "node:net";
import { descendantsOf, holdersOfSocket, identifyLoopbackPeer } from "../platform/loopback-peer.ts";

export interface GuardDecision {
  allowed: boolean;
  clientPort: number;
  uid: number | null;
  holders: number[];
  reason: string;
}

export interface ProxyGuardOptions {
  /** The process whose descendants may connect (default: this process). */
  ancestorPid?: number;
  uid?: number;
  /** Told about every refusal (for the log); never about the bytes. */
  onRefused?: (decision: GuardDecision) => void;
}

export function decidePeer(serverPort: number, socket: Socket, opts: ProxyGuardOptions = {}): GuardDecision {
  const clientPort = socket.remotePort ?? -1;
  const refuse = (reason: string, uid: number | null = null, holders: number[] = []): GuardDecision => ({ allowed: false, clientPort, uid, holders, reason });
  if (clientPort <= 0) return refuse("no remote port");
  const peer = identifyLoopbackPeer(serverPort, clientPort);
  if (peer === null) return refuse("the connecting socket is not in the kernel's loopback tables");
  const uid = opts.uid ?? process.getuid!();
  if (peer.uid !== uid) return refuse(`socket owned by uid ${peer.uid}`, peer.uid);
  const holders = holdersOfSocket(peer.inode, descendantsOf(opts.ancestorPid ?? process.pid));
  if (holders.length === 0) return refuse("not held by a descendant of the browser child", peer.uid);
  return { allowed: true, clientPort, uid: peer.uid, holders, reason: "descendant" };
}

/**
 * Install the guard as the first `connection` listener, so a refused socket is gone before
 * Playwright reads a byte, and judge the connections the listener accepted before it was guarded.
 */
export function guardProxyListener(server: Server, serverPort: number, opts: ProxyGuardOptions = {}, alreadyAccepted: Iterable<Socket> = []): void {
  const judge = (socket: Socket) => {
    let decision: GuardDecision;
    try {
      decision = decidePeer(serverPort, socket, opts);
    } catch (error) {
      decision = { allowed: false, clientPort: socket.remotePort ?? -1, uid: null, holders: [], reason: (error as Error).message };
    }
    if (!decision.allowed) {
      socket.destroy();
      opts.onRefused?.(decision);
    }
  };
  server.prependListener("connection", judge);
  for (const socket of alreadyAccepted) judge(socket);
}
