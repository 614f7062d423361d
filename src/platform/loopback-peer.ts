/**
 * Who is at the other end of a loopback TCP connection we accepted? TCP has no SO_PEERCRED, so on
 * Linux the kernel's socket tables answer instead: /proc/net/tcp{,6} give the connecting socket's
 * owner uid and inode, and the process holding that inode is found among the candidate pids'
 * /proc/<pid>/fd links. Used to keep other processes off a loopback listener that must serve only
 * our own children (the browser child's client-certificate proxy, src/browser/proxy-guard.ts).
 *
 * Other OSes: not implemented, and `identifyLoopbackPeer` says so (callers fail closed).
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { readProcStat } from "./linux-proc.ts";

export interface LoopbackPeer {
  /** Owner of the connecting socket. */
  uid: number;
  /** Socket inode of the connecting end. */
  inode: number;
}

export class LoopbackPeerUnsupported extends Error {
  constructor() {
    super(`naming the peer of a loopback TCP connection is not implemented on ${process.platform}`);
    this.name = "LoopbackPeerUnsupported";
  }
}

export const canIdentifyLoopbackPeers = process.platform === "linux";

/** The IPv4 loopback net 127/8, or ::1, or ::ffff:127.x.y.z, from /proc/net/tcp's hex (host byte order per 32-bit word; x86 and arm64 are little-endian). */
function isLoopbackHex(hex: string): boolean {
  const word = (i: number) => Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
  const firstOctet = (w: number) => w & 0xff;
  if (hex.length === 8) return firstOctet(word(0)) === 127;
  if (hex.length === 32) {
    const [a, b, c, d] = [word(0), word(1), word(2), word(3)];
    if (a === 0 && b === 0 && c === 0 && d === 0x01000000) return true; // ::1
    return a === 0 && b === 0 && c === 0xffff0000 && firstOctet(d) === 127; // ::ffff:127.x.y.z
  }
  return false;
}

/**
 * The connecting socket of the loopback connection from `clientPort` to `serverPort`, as the kernel
 * lists it; null when it is not (or no longer) there.
 */
export function identifyLoopbackPeer(serverPort: number, clientPort: number): LoopbackPeer | null {
  if (!canIdentifyLoopbackPeers) throw new LoopbackPeerUnsupported();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [localIp, localPort] = f[1]!.split(":");
      const [remoteIp, remotePort] = f[2]!.split(":");
      if (Number.parseInt(localPort!, 16) !== clientPort || Number.parseInt(remotePort!, 16) !== serverPort) continue;
      if (!isLoopbackHex(localIp!) || !isLoopbackHex(remoteIp!)) continue;
      return { uid: Number(f[7]), inode: Number(f[9]) };
    }
  }
  return null;
}

/** Pids of `root`'s descendants (not `root` itself), from the parent links in /proc/<pid>/stat. */
export function descendantsOf(root: number): number[] {
  if (!canIdentifyLoopbackPeers) throw new LoopbackPeerUnsupported();
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = readProcStat(Number(entry))?.ppid;
    if (ppid === undefined) continue; // exited meanwhile
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** Which of `pids` hold socket `inode` open (by their /proc/<pid>/fd links). */
export function holdersOfSocket(inode: number, pids: readonly number[]): number[] {
  if (!canIdentifyLoopbackPeers) throw new LoopbackPeerUnsupported();
  const target = `socket:[${inode}]`;
  const holders: number[] = [];
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) {
          holders.push(pid);
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return holders;
}
