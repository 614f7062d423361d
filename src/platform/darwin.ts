/**
 * macOS: Unix socket files in a fresh 0700 directory, peer identity from LOCAL_PEERTOKEN (an
 * audit_token_t: uid, pid and pid version read together) cross-checked with getpeereid, pinned by
 * the token's pid version, ancestry from proc_pidinfo. SPEC §4.1, §4.3, §7. docs/macos.md cites
 * the XNU and Libc lines behind every constant, offset and signature here.
 *
 * LOCAL_PEERTOKEN is not a credential frozen at connect: XNU reads the peer socket's last user's
 * pid when asked and returns the audit token of the process now holding that pid (uipc_usrreq.c,
 * uipc_ctloutput). What it adds over LOCAL_PEERPID is the pid version, read with the pid in one
 * kernel step: the kernel gives every fork and every exec a fresh one, so a recycled or exec'd pid
 * never matches it, and proc_pidpath_audittoken lets the kernel do that comparison itself.
 *
 * Every libSystem function called here has a fixed argument list. Apple arm64 passes variadic
 * arguments on the stack and bun:ffi cannot declare variadic functions (oven-sh/bun#12389), so
 * fcntl(F_SETFL/F_SETFD, x) through bun:ffi would hand the kernel stack garbage as `x`. Hence
 * ioctl(FIOCLEX) (no third argument) and recv(MSG_DONTWAIT) instead of fcntl.
 */
import { dlopen, FFIType, ptr, read as readPointer, type Pointer } from "bun:ffi";
import { chmodSync, lstatSync, mkdtempSync, rmSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import {
  PeerUnidentifiable,
  endpointToken,
  type Platform,
  type Peer,
  type PeerCredentials,
} from "./platform.ts";
import { receiveUnix } from "./posix-read.ts";
import { listenUnix, type UnixAddress } from "./posix-listener.ts";
import { isSelfOrDescendant, trustServer } from "./ancestry.ts";

// <sys/un.h>, <sys/socket.h>, <sys/filio.h>, <sys/errno.h>, <sys/resource.h>, <sys/ptrace.h>.
const SOL_LOCAL = 0;
const LOCAL_PEERTOKEN = 6;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const MSG_DONTWAIT = 0x80;
const FIOCLEX = 0x20006601; // _IO('f', 1): no argument, so no variadic slot.
const RLIMIT_CORE = 4;
const PT_DENY_ATTACH = 31;
const ENOENT = 2;
const EINTR = 4;
const EAGAIN = 35;
const ECONNRESET = 54;
const ECONNREFUSED = 61;

// <sys/proc_info.h>, <sys/proc.h>.
const PROC_PIDTBSDINFO = 3;
const PROC_PIDPATHINFO_MAXSIZE = 4096; // 4 * MAXPATHLEN
const SZOMB = 5;

/**
 * struct proc_bsdinfo (XNU bsd/sys/proc_info.h): twelve 4-byte fields (pbi_flags … rfu_1) fill
 * 0–47, pbi_comm[MAXCOMLEN=16] 48–63, pbi_name[32] 64–95, then pbi_nfiles 96, pbi_pgid 100,
 * pbi_pjobc 104, e_tdev 108, e_tpgid 112, pbi_nice 116; 120 is 8-aligned, so the two uint64 start
 * fields sit at 120 and 128 with no padding, and sizeof is 136.
 */
const PBI_STATUS = 4;
const PBI_PID = 12;
const PBI_PPID = 16;
const PBI_UID = 20;
const PBI_GID = 24;
const PBI_COMM = 48;
const PBI_COMM_SIZE = 16;
const PROC_BSDINFO_SIZE = 136;

/**
 * audit_token_t is `unsigned int val[8]` (XNU osfmk/mach/message.h). The kernel fills val[1] with
 * the effective uid, val[5] with the pid and val[7] with the pid version (bsd/kern/kern_prot.c,
 * proc_calc_audit_token); XNU's own libproc reads val[5] and val[7] the same way. libbsm's
 * audit_token_to_pid() and friends take the struct by value, which bun:ffi cannot pass, so the
 * slots are read here.
 */
const AUDIT_TOKEN_SIZE = 32;
const TOKEN_EUID = 1 * 4;
const TOKEN_PID = 5 * 4;
const TOKEN_PIDVERSION = 7 * 4;

/** sun_path is char[104]; one byte goes to the terminating NUL (SPEC §4.1: ≤ 103 bytes). */
const SUN_PATH_SIZE = 104;
const SOCKADDR_UN_SIZE = 2 + SUN_PATH_SIZE;
const MAX_PATH_BYTES = SUN_PATH_SIZE - 1;

type LibSystem = ReturnType<typeof openLibSystem>;
let libSystemCache: LibSystem | undefined;

function openLibSystem() {
  return dlopen("/usr/lib/libSystem.B.dylib", {
    getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    getpeereid: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    proc_pidinfo: { args: [FFIType.i32, FFIType.i32, FFIType.u64, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    // libproc.h: int proc_pidpath_audittoken(audit_token_t *, void *, uint32_t), macOS 11+.
    proc_pidpath_audittoken: { args: [FFIType.ptr, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    // Declared with the two fixed arguments only; FIOCLEX passes nothing variadic.
    ioctl: { args: [FFIType.i32, FFIType.u64], returns: FFIType.i32 },
    connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64_fast },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    ptrace: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    __error: { args: [], returns: FFIType.ptr },
  }).symbols;
}

/** Opened on first use, so importing this module on Linux (tests, index.ts) is harmless. */
function libSystem(): LibSystem {
  libSystemCache ??= openLibSystem();
  return libSystemCache;
}

function errno(): number {
  return readPointer.i32(libSystem().__error() as Pointer, 0);
}

const SOCKET_FILE_PATTERN = /\/icecore-[0-9a-f]{32}\.sock$/;
const DIR_PREFIX = "ic";
const MKDTEMP_SUFFIX = "XXXXXX";

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

export interface ProcBsdInfo {
  status: number;
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  comm: string;
}

/** Decode the fields icecore needs from a struct proc_bsdinfo (little-endian, as on every Mac). */
export function parseProcBsdInfo(bytes: Uint8Array): ProcBsdInfo {
  if (bytes.byteLength < PROC_BSDINFO_SIZE) {
    throw new RangeError(`proc_bsdinfo needs ${PROC_BSDINFO_SIZE} bytes, got ${bytes.byteLength}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, PROC_BSDINFO_SIZE);
  const commBytes = bytes.subarray(PBI_COMM, PBI_COMM + PBI_COMM_SIZE);
  const nul = commBytes.indexOf(0);
  return {
    status: view.getUint32(PBI_STATUS, true),
    pid: view.getUint32(PBI_PID, true),
    ppid: view.getUint32(PBI_PPID, true),
    uid: view.getUint32(PBI_UID, true),
    gid: view.getUint32(PBI_GID, true),
    comm: new TextDecoder().decode(nul === -1 ? commBytes : commBytes.subarray(0, nul)),
  };
}

/** The audit_token_t fields icecore reads. */
export interface AuditToken {
  /** val[1]: the effective uid. */
  euid: number;
  /** val[5] */
  pid: number;
  /** val[7]: int in the kernel (proc_pidversion), so read signed, as audit_token_to_pidversion() returns it. */
  pidversion: number;
}

/** Decode an audit_token_t (little-endian, as on every Mac). */
export function parseAuditToken(bytes: Uint8Array): AuditToken {
  if (bytes.byteLength < AUDIT_TOKEN_SIZE) {
    throw new RangeError(`audit_token_t needs ${AUDIT_TOKEN_SIZE} bytes, got ${bytes.byteLength}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, AUDIT_TOKEN_SIZE);
  return {
    euid: view.getUint32(TOKEN_EUID, true),
    pid: view.getInt32(TOKEN_PID, true),
    pidversion: view.getInt32(TOKEN_PIDVERSION, true),
  };
}

/**
 * The peer's uid as icecore must judge it, from two kernel answers about one socket: the effective
 * uid the kernel froze for the peer (LOCAL_PEERCRED, read by getpeereid: the connecting process's
 * at connect() on the server side, the listening process's at listen() on the client side) and the
 * effective uid in the audit token of the process now holding the peer's pid (LOCAL_PEERTOKEN).
 * It is `myUid` only when both are; otherwise it is one that is not, so the caller's uid check
 * refuses the peer and the audit record names the foreign uid.
 */
export function judgedPeerUid(connectEuid: number, tokenEuid: number, myUid: number): number {
  return connectEuid !== myUid ? connectEuid : tokenEuid;
}

const abi = {
  SOL_LOCAL,
  LOCAL_PEERTOKEN,
  AF_UNIX,
  SOCK_STREAM,
  MSG_DONTWAIT,
  FIOCLEX,
  RLIMIT_CORE,
  PT_DENY_ATTACH,
  ENOENT,
  EINTR,
  EAGAIN,
  ECONNRESET,
  ECONNREFUSED,
  PROC_PIDTBSDINFO,
  PROC_PIDPATHINFO_MAXSIZE,
  SZOMB,
  SUN_PATH_SIZE,
  PROC_BSDINFO_SIZE,
  AUDIT_TOKEN_SIZE,
  TOKEN_EUID,
  TOKEN_PID,
  TOKEN_PIDVERSION,
};
/**
 * Exported for the test that compares them with the XNU header lines cited in docs/macos.md; code
 * here uses the names above.
 */
export const DARWIN_ABI: Readonly<typeof abi> = Object.freeze(abi);

/**
 * BSD struct sockaddr_un for `path`: sun_len, sun_family, sun_path (NUL-terminated). `length`
 * counts the NUL, as Go's syscall package does on Darwin; sun_len carries the same value.
 */
export function bsdUnixAddress(path: string): { address: Uint8Array; length: number } {
  const pathBytes = new TextEncoder().encode(path);
  if (pathBytes.length === 0 || pathBytes.length > MAX_PATH_BYTES || pathBytes.includes(0)) {
    throw new RangeError(`socket path must be 1–${MAX_PATH_BYTES} bytes without NUL: ${path}`);
  }
  const address = new Uint8Array(SOCKADDR_UN_SIZE);
  const length = 2 + pathBytes.length + 1;
  address[0] = length;
  address[1] = AF_UNIX;
  address.set(pathBytes, 2);
  return { address, length };
}

function procBsdInfo(pid: number): ProcBsdInfo | null {
  const buffer = new Uint8Array(PROC_BSDINFO_SIZE);
  const n = libSystem().proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, ptr(buffer), buffer.byteLength);
  if (n !== PROC_BSDINFO_SIZE) return null;
  const info = parseProcBsdInfo(buffer);
  return info.pid === pid ? info : null;
}

/**
 * The executable path of the process `token` names, or null when no live process has the token's
 * pid with the token's pid version (it exited, is exiting, exec'd, or the pid was recycled): the
 * kernel makes that comparison itself (libproc.c proc_pidpath_audittoken, PIF_COMPARE_IDVERSION
 * in proc_info.c). Null also when the kernel cannot give the path; callers then fail closed.
 */
function pathOfTokenProcess(token: Uint8Array): string | null {
  const buffer = new Uint8Array(PROC_PIDPATHINFO_MAXSIZE);
  const n = libSystem().proc_pidpath_audittoken(ptr(token), ptr(buffer), buffer.byteLength);
  if (n <= 0) return null;
  return new TextDecoder().decode(buffer.subarray(0, n));
}

/** A process's parent from proc_pidinfo, or null when it is gone. */
const parentOf = (pid: number): number | null => procBsdInfo(pid)?.ppid ?? null;

interface PeerIdentity {
  /** The raw audit_token_t, handed back to the kernel by proc_pidpath_audittoken. */
  token: Uint8Array;
  pid: number;
  uid: number;
}

/** LOCAL_PEERTOKEN plus getpeereid on a connected socket: cheap kernel answers, no process lookup. */
function readPeerIdentity(fd: number): PeerIdentity {
  const c = libSystem();
  const token = new Uint8Array(AUDIT_TOKEN_SIZE);
  const length = new Uint32Array([token.byteLength]);
  if (c.getsockopt(fd, SOL_LOCAL, LOCAL_PEERTOKEN, ptr(token), ptr(length)) !== 0) {
    // EINVAL: no live process holds the peer's pid any more (uipc_ctloutput, proc_find).
    throw new PeerUnidentifiable(`LOCAL_PEERTOKEN failed (errno ${errno()})`);
  }
  if (length[0] !== AUDIT_TOKEN_SIZE) throw new PeerUnidentifiable(`LOCAL_PEERTOKEN gave ${length[0]} bytes, not ${AUDIT_TOKEN_SIZE}`);
  const ids = new Uint32Array(2);
  if (c.getpeereid(fd, ptr(ids, 0), ptr(ids, 4)) !== 0) {
    throw new PeerUnidentifiable(`getpeereid failed (errno ${errno()})`);
  }
  const fields = parseAuditToken(token);
  // pid 0 is the kernel's own token (proc_find(0) is kernproc), for sockets the kernel made.
  if (fields.pid <= 0) throw new PeerUnidentifiable("the kernel reported no peer pid");
  return { token, pid: fields.pid, uid: judgedPeerUid(ids[0]!, fields.euid, process.getuid!()) };
}

/** The token behind each PeerCredentials handed out, so pin() gets the very token that was judged. */
const tokenOfCredentials = new WeakMap<PeerCredentials, Uint8Array>();

function peerCredentials(fd: number): PeerCredentials {
  const identity = readPeerIdentity(fd);
  const creds: PeerCredentials = { pid: identity.pid, uid: identity.uid };
  tokenOfCredentials.set(creds, identity.token);
  return creds;
}

/**
 * No pidfd on macOS: the peer is pinned by its audit token's pid version (SPEC §4.3). The kernel
 * assigns a fresh version at every fork and exec (kern_fork.c, kern_exec.c) and never reuses one,
 * so it is a stricter pin than the start time, which an exec keeps and which has only microsecond
 * resolution; no start-time check is kept.
 */
class DarwinPeer implements Peer {
  readonly exe: string | null;

  constructor(
    readonly creds: PeerCredentials,
    private readonly token: Uint8Array,
  ) {
    const exe = pathOfTokenProcess(token);
    if (exe === null) throw new PeerUnidentifiable(`peer pid ${creds.pid} is gone or no longer the process that connected (errno ${errno()})`);
    this.exe = exe;
  }

  isSelfOrDescendantOf(ancestorPid: number): boolean {
    // First step on the pinned identity: read the parent, then have the kernel confirm the pid
    // still holds the token's version. A version is held by one process from its fork or exec on
    // and never reused, so the parent read in between was this peer's, not a recycled pid's.
    const info = procBsdInfo(this.creds.pid);
    if (info === null || info.status === SZOMB || !this.stillSame()) return false;
    if (this.creds.pid === ancestorPid) return true;
    return isSelfOrDescendant(info.ppid, ancestorPid, parentOf);
  }

  stillSame(): boolean {
    return pathOfTokenProcess(this.token) !== null;
  }

  release(): void {}
}

function pinPeer(creds: PeerCredentials): Peer {
  const token = tokenOfCredentials.get(creds);
  if (token === undefined) throw new PeerUnidentifiable("these credentials were not read from a macOS endpoint");
  return new DarwinPeer(creds, token);
}

/**
 * Creates `<base>/icXXXXXX/icecore-<32 hex>.sock` under the first base where the whole path fits
 * in sun_path. The short directory prefix keeps the usual 49-byte macOS $TMPDIR
 * (/var/folders/xx/<30 chars>/T/) within 103 bytes: 48 + 1 + 8 + 1 + 45 = 103.
 * Exported for tests; production code goes through darwinPlatform.endpoints.listen().
 */
export function allocateSocketEndpoint(bases: readonly string[]): UnixAddress {
  const socketFile = `icecore-${endpointToken()}.sock`;
  for (const base of bases) {
    if (!isAbsolute(base)) continue;
    if (byteLength(join(base, DIR_PREFIX + MKDTEMP_SUFFIX, socketFile)) > MAX_PATH_BYTES) continue;
    const dir = mkdtempSync(join(base, DIR_PREFIX));
    // mkdtemp already uses 0700; chmod anyway so the mode never depends on the platform or umask.
    chmodSync(dir, 0o700);
    const path = join(dir, socketFile);
    if (byteLength(path) > MAX_PATH_BYTES) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    let disposed = false;
    return {
      name: path,
      listenPath: path,
      afterBind: () => restrictSocketFile(path),
      dispose() {
        if (disposed) return;
        try {
          rmSync(path, { force: true });
          rmSync(dir, { recursive: true, force: true });
          disposed = true;
        } catch {
          // Never throws (UnixAddress contract); a later call retries.
        }
      },
    };
  }
  throw new Error(`no temporary directory gives a socket path of at most ${MAX_PATH_BYTES} bytes (tried ${bases.join(", ")})`);
}

function endpointBases(): string[] {
  const tmpdir = process.env.TMPDIR;
  return tmpdir && tmpdir !== "/tmp" ? [tmpdir, "/tmp"] : ["/tmp"];
}

/**
 * SPEC §4.1: the socket file is 0600. Call it right after Bun.listen({ unix: listenPath }) binds,
 * before spawning the child: Bun creates the file with the process umask. The 0700 directory
 * already keeps other users out; this is the second lock. Throws if `path` is not a socket or
 * chmod fails, and the caller must then abort the handoff.
 */
export function restrictSocketFile(path: string): void {
  if (!lstatSync(path).isSocket()) throw new Error(`${path} is not a socket`);
  chmodSync(path, 0o600);
}

/**
 * SPEC §4 mutual check, client side. On a client socket LOCAL_PEERTOKEN names the server: the peer
 * socket is the one the listener's sonewconn() made for this connection, which inherits the
 * listener's last user and becomes the acceptor's on accept (uipc_usrreq.c unp_connect,
 * uipc_socket2.c sonewconn_internal); getpeereid gives the listener's uid cached at listen()
 * (unp_listen). The server must run as this user and be this process or an ancestor, and when the
 * walk reaches its pid the kernel must confirm the token's pid version there.
 */
function checkServer(fd: number, name: string): void {
  const server = readPeerIdentity(fd);
  trustServer(server, process.getuid!(), name, isSelfOrDescendant(process.pid, server.pid, parentOf, () => pathOfTokenProcess(server.token) !== null));
}

function receive(name: string, opts: { maxBytes: number; deadline: number }): Promise<Uint8Array> {
  const { address, length } = bsdUnixAddress(name);
  const c = libSystem();
  return receiveUnix(
    {
      open() {
        const fd = c.socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && c.ioctl(fd, FIOCLEX) !== 0) {
          const code = errno();
          c.close(fd);
          throw new Error(`ioctl(FIOCLEX) failed (errno ${code})`);
        }
        return fd;
      },
      // A blocking connect is safe here: XNU completes an AF_UNIX stream connect at once or
      // refuses it (no listener, full backlog); it never waits (uipc_usrreq.c, unp_connect).
      connect: (fd) => c.connect(fd, ptr(address), length),
      checkServer: (fd) => checkServer(fd, name),
      // MSG_DONTWAIT keeps the event loop free without a variadic fcntl (see the header comment).
      read: (fd, buffer) => Number(c.recv(fd, ptr(buffer), buffer.byteLength, MSG_DONTWAIT)),
      close: (fd) => void c.close(fd),
      errno,
      codes: { EINTR, EAGAIN, ECONNRESET, ECONNREFUSED, ENOENT },
    },
    name,
    opts,
  );
}

export const darwinPlatform: Platform = {
  os: "darwin",
  canIdentifyPeers: true,
  currentUid: () => process.getuid!(),
  isPrivileged: () => process.getuid!() === 0,
  endpoints: {
    listen: (options) =>
      listenUnix(allocateSocketEndpoint(endpointBases()), { credentials: peerCredentials, pin: (_fd, creds) => pinPeer(creds) }, options),
    isEndpointName: (name) =>
      isAbsolute(name) && !name.includes("\0") && SOCKET_FILE_PATTERN.test(name) && byteLength(name) <= MAX_PATH_BYTES,
    receive,
  },
  hardening: {
    /**
     * SPEC §7 on macOS. RLIMIT_CORE 0: no core file holds keys. PT_DENY_ATTACH: the kernel refuses
     * later ptrace attaches (lldb, dtrace -p) from same-user processes, the closest analogue of
     * PR_SET_DUMPABLE 0. It does not stop root, nor task_for_pid by a process entitled to it, and
     * icecore started under a debugger is killed by the kernel at this call.
     */
    harden() {
      const c = libSystem();
      const noCore = new BigUint64Array([0n, 0n]);
      if (c.setrlimit(RLIMIT_CORE, ptr(noCore)) !== 0) throw new Error(`setrlimit(RLIMIT_CORE) failed (errno ${errno()})`);
      if (c.ptrace(PT_DENY_ATTACH, 0, null, 0) !== 0) throw new Error(`ptrace(PT_DENY_ATTACH) failed (errno ${errno()})`);
    },
    // A process started under a debugger is killed by PT_DENY_ATTACH itself; none can attach after.
    tracerPid: () => null,
    attachBeforeHardenRisk: () => null,
    // macOS has no PR_SET_PDEATHSIG; children are ended on every orderly exit path only.
    orphanGuard: () => [],
  },
};
