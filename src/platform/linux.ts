/**
 * Linux: abstract Unix socket endpoints, peer identity from SO_PEERCRED pinned by SO_PEERPIDFD
 * (Linux ≥ 6.5) or by /proc start time, ancestry from /proc/<pid>/stat. SPEC §4.1, §4.3, §7.
 */
import { dlopen, FFIType, ptr, read as readPointer, type Pointer } from "bun:ffi";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import {
  PeerUnidentifiable,
  endpointToken,
  type Platform,
  type Peer,
  type PeerCredentials,
} from "./platform.ts";
import { receiveUnix } from "./posix-read.ts";
import { listenUnix } from "./posix-listener.ts";
import { isSelfOrDescendant, trustServer } from "./ancestry.ts";
import { readProcStat } from "./linux-proc.ts";

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERPIDFD = 77;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const PR_SET_DUMPABLE = 4;
const RLIMIT_CORE = 4;
const ENOENT = 2;
const EINTR = 4;
const EAGAIN = 11;
const ECONNREFUSED = 111;
const ECONNRESET = 104;
const ENOPROTOOPT = 92;

type Libc = ReturnType<typeof openLibc>;
let libcCache: Libc | undefined;

function openLibc() {
  return dlopen("libc.so.6", {
    getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
    setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

function libc(): Libc {
  libcCache ??= openLibc();
  return libcCache;
}

function errno(): number {
  return readPointer.i32(libc().__errno_location() as Pointer, 0);
}

const NAME_PREFIX = "@icecore-";
const NAME_PATTERN = /^@icecore-[0-9a-f]{32}$/;

/** A process's parent from /proc/<pid>/stat, or null when it is gone. */
const parentOf = (pid: number): number | null => readProcStat(pid)?.ppid ?? null;

function pidOfPidfd(pidfd: number): number | null {
  try {
    const match = /^Pid:\s*(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${pidfd}`, "latin1"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function peerCredentials(fd: number): PeerCredentials {
  const ucred = new Int32Array(3);
  const length = new Uint32Array([ucred.byteLength]);
  if (libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ptr(ucred), ptr(length)) !== 0) {
    throw new PeerUnidentifiable(`SO_PEERCRED failed (errno ${errno()})`);
  }
  const [pid, uid] = ucred as unknown as [number, number, number];
  if (pid <= 0) throw new PeerUnidentifiable("the kernel reported no peer pid");
  return { pid, uid };
}

/** A pidfd for the connecting process (Linux ≥ 6.5), or null where the kernel lacks SO_PEERPIDFD. */
function peerPidfd(fd: number): number | null {
  const pidfd = new Int32Array(1);
  const length = new Uint32Array([pidfd.byteLength]);
  if (libc().getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, ptr(pidfd), ptr(length)) !== 0) {
    const code = errno();
    if (code === ENOPROTOOPT) return null;
    throw new PeerUnidentifiable(`SO_PEERPIDFD failed (errno ${code})`);
  }
  return pidfd[0]!;
}

class LinuxPeer implements Peer {
  readonly exe: string | null;
  private readonly startTime: string;
  private pidfd: number | null;

  constructor(readonly creds: PeerCredentials, pidfd: number | null) {
    this.pidfd = pidfd;
    if (pidfd !== null && pidOfPidfd(pidfd) !== creds.pid) {
      this.release();
      throw new PeerUnidentifiable("the peer's pidfd does not name the pid SO_PEERCRED reported");
    }
    // Recorded before the ancestry walk: if the pid is recycled later, the start time changes.
    const stat = readProcStat(creds.pid);
    if (stat === null || stat.state === "Z") {
      this.release();
      throw new PeerUnidentifiable(`peer pid ${creds.pid} is gone`);
    }
    this.startTime = stat.startTime;
    let exe: string | null = null;
    try {
      exe = readlinkSync(`/proc/${creds.pid}/exe`);
    } catch {
      exe = null;
    }
    this.exe = exe;
  }

  isSelfOrDescendantOf(ancestorPid: number): boolean {
    return isSelfOrDescendant(this.creds.pid, ancestorPid, parentOf);
  }

  stillSame(): boolean {
    if (this.pidfd !== null && pidOfPidfd(this.pidfd) !== this.creds.pid) return false;
    const stat = readProcStat(this.creds.pid);
    return stat !== null && stat.state !== "Z" && stat.startTime === this.startTime;
  }

  release(): void {
    if (this.pidfd !== null) {
      libc().close(this.pidfd);
      this.pidfd = null;
    }
  }
}

/** struct sockaddr_un for an abstract name: family, then NUL, then the name, length exact. */
function abstractAddress(name: string): { address: Uint8Array; length: number } {
  const nameBytes = new TextEncoder().encode(name.slice(1));
  const address = new Uint8Array(2 + 1 + nameBytes.length);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(nameBytes, 3);
  return { address, length: address.length };
}

/** SPEC §4 mutual check: SO_PEERCRED on a connected socket names the process that called listen(). */
function checkServer(fd: number, name: string): void {
  const server = peerCredentials(fd);
  trustServer(server, process.getuid!(), name, isSelfOrDescendant(process.pid, server.pid, parentOf));
}

function receive(name: string, opts: { maxBytes: number; deadline: number }): Promise<Uint8Array> {
  const c = libc();
  const { address, length } = abstractAddress(name);
  return receiveUnix(
    {
      open: () => c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
      connect: (fd) => c.connect(fd, ptr(address), length),
      checkServer: (fd) => checkServer(fd, name),
      read: (fd, buffer) => Number(c.read(fd, ptr(buffer), buffer.byteLength)),
      close: (fd) => void c.close(fd),
      errno,
      codes: { EINTR, EAGAIN, ECONNRESET, ECONNREFUSED, ENOENT },
    },
    name,
    opts,
  );
}

function readProcStatus(field: string): string | null {
  try {
    const match = new RegExp(`^${field}:\\s*(.*)$`, "m").exec(readFileSync("/proc/self/status", "latin1"));
    return match ? match[1]!.trim() : null;
  } catch {
    return null;
  }
}

const PTRACE_SCOPE = "/proc/sys/kernel/yama/ptrace_scope";
const SETPRIV = "/usr/bin/setpriv";

export const linuxPlatform: Platform = {
  os: "linux",
  canIdentifyPeers: true,
  currentUid: () => process.getuid!(),
  isPrivileged: () => process.getuid!() === 0,
  endpoints: {
    listen(options) {
      const name = `${NAME_PREFIX}${endpointToken()}`;
      // Abstract namespace: no file exists, so there is nothing to clean up on any exit path.
      const address = { name, listenPath: `\0${name.slice(1)}`, afterBind() {}, dispose() {} };
      return listenUnix(address, { credentials: peerCredentials, pin: (fd, creds) => new LinuxPeer(creds, peerPidfd(fd)) }, options);
    },
    isEndpointName: (name) => NAME_PATTERN.test(name),
    receive,
  },
  hardening: {
    harden() {
      const c = libc();
      if (c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_DUMPABLE) failed (errno ${errno()})`);
      const noCore = new BigUint64Array([0n, 0n]);
      if (c.setrlimit(RLIMIT_CORE, ptr(noCore)) !== 0) throw new Error(`setrlimit(RLIMIT_CORE) failed (errno ${errno()})`);
    },
    tracerPid() {
      const value = Number(readProcStatus("TracerPid"));
      return Number.isInteger(value) && value > 0 ? value : null;
    },
    attachBeforeHardenRisk() {
      let scope: string;
      try {
        scope = readFileSync(PTRACE_SCOPE, "latin1").trim();
      } catch {
        return "this kernel has no Yama LSM, so a process of the same user can attach with ptrace before icecore makes itself undumpable";
      }
      return scope === "0" ? "kernel.yama.ptrace_scope is 0, so a process of the same user can attach with ptrace before icecore makes itself undumpable" : null;
    },
    // setpriv (util-linux) sets PR_SET_PDEATHSIG, then execs the command: same pid, so the
    // handoff's ancestry check is unchanged, and SIGKILL reaches the child if icecore dies.
    orphanGuard: () => (existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--"] : []),
  },
};
