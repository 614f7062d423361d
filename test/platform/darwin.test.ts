/**
 * macOS handoff platform (SPEC §4.1, §4.3, §7). The pure parts (names, paths, sockaddr bytes,
 * proc_bsdinfo decoding) and the file-system parts run everywhere; the bun:ffi parts need
 * libSystem and run only on macOS.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  DARWIN_ABI,
  allocateSocketEndpoint,
  bsdUnixAddress,
  darwinPlatform,
  judgedPeerUid,
  parseAuditToken,
  parseProcBsdInfo,
  restrictSocketFile,
} from "../../src/platform/darwin.ts";
import { EndpointNotReady, ServerNotTrusted, type PendingConnection, type Peer } from "../../src/platform/platform.ts";
import type { UnixAddress } from "../../src/platform/posix-listener.ts";

const isDarwin = process.platform === "darwin";
const MACOS_ONLY = "needs macOS: it calls libSystem.B.dylib through bun:ffi";
if (!isDarwin) console.info(`darwin.test.ts: skipping the macOS-only tests on ${process.platform} (${MACOS_ONLY})`);

const SOCKET_FILE = /^icecore-[0-9a-f]{32}\.sock$/;

describe("allocateEndpoint (SPEC §4.1)", () => {
  let scratch: string;
  let savedTmpdir: string | undefined;
  const endpoints: UnixAddress[] = [];

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), "darwin-test-"));
    savedTmpdir = process.env.TMPDIR;
  });
  afterEach(() => {
    for (const endpoint of endpoints.splice(0)) endpoint.dispose();
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    rmSync(scratch, { recursive: true, force: true });
  });

  function allocate(): UnixAddress {
    const endpoint = allocateSocketEndpoint([process.env.TMPDIR ?? "/tmp", "/tmp"]);
    endpoints.push(endpoint);
    return endpoint;
  }

  test("makes a fresh 0700 directory under $TMPDIR holding nothing yet, whatever the umask", () => {
    process.env.TMPDIR = scratch;
    const oldUmask = process.umask(0);
    let endpoint: UnixAddress;
    try {
      endpoint = allocate();
    } finally {
      process.umask(oldUmask);
    }
    const dir = dirname(endpoint.name);
    expect(dirname(dir)).toBe(scratch);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(dir).uid).toBe(process.getuid!());
    expect(existsSync(endpoint.name)).toBe(false);
  });

  test("name and listenPath are the same socket path, of the documented shape and length", () => {
    process.env.TMPDIR = scratch;
    const endpoint = allocate();
    expect(endpoint.listenPath).toBe(endpoint.name);
    expect(endpoint.name.split("/").at(-1)).toMatch(SOCKET_FILE);
    expect(Buffer.byteLength(endpoint.name)).toBeLessThanOrEqual(103);
    expect(darwinPlatform.endpoints.isEndpointName(endpoint.name)).toBe(true);
  });

  test("every allocation gets its own directory and token", () => {
    process.env.TMPDIR = scratch;
    const a = allocate();
    const b = allocate();
    expect(a.name).not.toBe(b.name);
    expect(dirname(a.name)).not.toBe(dirname(b.name));
    expect(a.name.split("/").at(-1)).not.toBe(b.name.split("/").at(-1));
  });

  test("the usual 49-byte macOS $TMPDIR still fits (exactly 103 bytes)", () => {
    // /var/folders/xx/<30 chars>/T/ is 49 bytes; build a directory of that length under /tmp.
    const base = mkdtempSync("/tmp/dt-");
    try {
      const fakeTmp = join(base, "x".repeat(49 - 1 - base.length - "/T/".length), "T") + "/";
      expect(fakeTmp.length).toBe(49);
      mkdirSync(fakeTmp, { recursive: true });
      process.env.TMPDIR = fakeTmp;
      const endpoint = allocate();
      expect(endpoint.name.startsWith(fakeTmp)).toBe(true);
      expect(Buffer.byteLength(endpoint.name)).toBe(103);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  test("a $TMPDIR too long for sun_path falls back to /tmp", () => {
    const longTmp = join(scratch, "d".repeat(70));
    mkdirSync(longTmp);
    process.env.TMPDIR = longTmp;
    const endpoint = allocate();
    expect(dirname(dirname(endpoint.name))).toBe("/tmp");
    expect(statSync(dirname(endpoint.name)).mode & 0o777).toBe(0o700);
  });

  test("no $TMPDIR: /tmp", () => {
    delete process.env.TMPDIR;
    expect(dirname(dirname(allocate().name))).toBe("/tmp");
  });

  test("throws, creating nothing, when no base directory is short enough", () => {
    const longA = join(scratch, "a".repeat(80));
    const longB = join(scratch, "b".repeat(80));
    mkdirSync(longA);
    mkdirSync(longB);
    expect(() => allocateSocketEndpoint([longA, longB])).toThrow(/at most 103 bytes/);
    expect(() => allocateSocketEndpoint(["relative/dir"])).toThrow(/at most 103 bytes/);
    expect(readdirSync(longA)).toEqual([]);
    expect(readdirSync(longB)).toEqual([]);
  });

  test("dispose() removes the socket file and the directory, is idempotent and never throws", async () => {
    process.env.TMPDIR = scratch;
    const endpoint = allocate();
    const listener = Bun.listen({ unix: endpoint.listenPath, socket: { data() {} } });
    try {
      expect(statSync(endpoint.name).isSocket()).toBe(true);
      restrictSocketFile(endpoint.name);
      expect(statSync(endpoint.name).mode & 0o777).toBe(0o600);
    } finally {
      listener.stop(true);
    }
    endpoint.dispose();
    expect(existsSync(endpoint.name)).toBe(false);
    expect(existsSync(dirname(endpoint.name))).toBe(false);
    expect(() => endpoint.dispose()).not.toThrow();
  });

  test("dispose() copes with the directory already being gone", () => {
    process.env.TMPDIR = scratch;
    const endpoint = allocate();
    rmSync(dirname(endpoint.name), { recursive: true });
    expect(() => endpoint.dispose()).not.toThrow();
  });

  test("restrictSocketFile refuses anything that is not a socket", () => {
    const file = join(scratch, "plain");
    writeFileSync(file, "x");
    expect(() => restrictSocketFile(file)).toThrow(/not a socket/);
    expect(() => restrictSocketFile(join(scratch, "missing"))).toThrow();
  });
});

describe("isEndpointName", () => {
  const token = "0123456789abcdef0123456789abcdef";

  test.each([
    `/tmp/icAbC123/icecore-${token}.sock`,
    `/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/icAbC123/icecore-${token}.sock`,
  ])("accepts %s", (name) => {
    expect(darwinPlatform.endpoints.isEndpointName(name)).toBe(true);
  });

  test.each([
    ["relative", `tmp/ic1/icecore-${token}.sock`],
    ["no directory", `icecore-${token}.sock`],
    ["Linux abstract name", `@icecore-${token}`],
    ["Windows pipe", `\\\\.\\pipe\\icecore-${token}`],
    ["upper-case hex", `/tmp/ic1/icecore-${token.toUpperCase()}.sock`],
    ["short token", `/tmp/ic1/icecore-${token.slice(1)}.sock`],
    ["long token", `/tmp/ic1/icecore-${token}0.sock`],
    ["no .sock", `/tmp/ic1/icecore-${token}`],
    ["trailing junk", `/tmp/ic1/icecore-${token}.sock.x`],
    ["prefix glued to the name", `/tmp/ic1/xicecore-${token}.sock`],
    ["NUL byte", `/tmp/ic\0/icecore-${token}.sock`],
    ["104 bytes", `/${"d".repeat(104 - 47)}/icecore-${token}.sock`],
    ["empty", ""],
  ])("refuses %s", (_label, name) => {
    expect(darwinPlatform.endpoints.isEndpointName(name)).toBe(false);
  });

  test("the 103-byte boundary counts bytes, not characters", () => {
    const fits = `/${"d".repeat(103 - 47)}/icecore-${token}.sock`;
    expect(fits.length).toBe(103);
    expect(darwinPlatform.endpoints.isEndpointName(fits)).toBe(true);
    const multibyte = `/${"é".repeat(28)}/icecore-${token}.sock`; // 56 bytes of directory name
    expect(Buffer.byteLength(multibyte)).toBe(103);
    expect(darwinPlatform.endpoints.isEndpointName(multibyte)).toBe(true);
    expect(darwinPlatform.endpoints.isEndpointName(`/x${multibyte}`)).toBe(false);
  });
});

describe("bsdUnixAddress", () => {
  test("lays out sun_len, sun_family, sun_path and its NUL in a 106-byte struct", () => {
    const path = "/tmp/icAbC123/icecore-0123456789abcdef0123456789abcdef.sock";
    const { address, length } = bsdUnixAddress(path);
    expect(address.byteLength).toBe(106); // 1 + 1 + char[104]
    expect(length).toBe(2 + path.length + 1);
    expect(address[0]).toBe(length);
    expect(address[1]).toBe(1); // AF_UNIX
    expect(new TextDecoder().decode(address.subarray(2, 2 + path.length))).toBe(path);
    expect(address.subarray(2 + path.length).every((byte) => byte === 0)).toBe(true);
  });

  test("exact bytes for a short path", () => {
    const { address, length } = bsdUnixAddress("/a/b");
    expect(length).toBe(7);
    expect([...address.subarray(0, 8)]).toEqual([7, 1, 0x2f, 0x61, 0x2f, 0x62, 0, 0]);
  });

  test("103 bytes is the longest path; longer, empty or NUL-carrying paths are refused", () => {
    const longest = `/${"p".repeat(102)}`;
    const { address, length } = bsdUnixAddress(longest);
    expect(length).toBe(106);
    expect(address[0]).toBe(106);
    expect(address[105]).toBe(0);
    expect(() => bsdUnixAddress(`${longest}p`)).toThrow(RangeError);
    expect(() => bsdUnixAddress("")).toThrow(RangeError);
    expect(() => bsdUnixAddress("/a\0b")).toThrow(RangeError);
  });
});

describe("parseProcBsdInfo", () => {
  // struct proc_bsdinfo as declared in XNU bsd/sys/proc_info.h, offsets computed here from
  // the declaration with C's natural alignment, independently of the constants in darwin.ts.
  const declaration: ReadonlyArray<readonly [string, number, number]> = [
    // [field, size, alignment]
    ["pbi_flags", 4, 4], ["pbi_status", 4, 4], ["pbi_xstatus", 4, 4], ["pbi_pid", 4, 4],
    ["pbi_ppid", 4, 4], ["pbi_uid", 4, 4], ["pbi_gid", 4, 4], ["pbi_ruid", 4, 4],
    ["pbi_rgid", 4, 4], ["pbi_svuid", 4, 4], ["pbi_svgid", 4, 4], ["rfu_1", 4, 4],
    ["pbi_comm", 16, 1], ["pbi_name", 32, 1],
    ["pbi_nfiles", 4, 4], ["pbi_pgid", 4, 4], ["pbi_pjobc", 4, 4], ["e_tdev", 4, 4],
    ["e_tpgid", 4, 4], ["pbi_nice", 4, 4],
    ["pbi_start_tvsec", 8, 8], ["pbi_start_tvusec", 8, 8],
  ];
  const offsets = new Map<string, number>();
  let size = 0;
  for (const [field, fieldSize, align] of declaration) {
    size = Math.ceil(size / align) * align;
    offsets.set(field, size);
    size += fieldSize;
  }
  size = Math.ceil(size / 8) * 8;
  const at = (field: string): number => offsets.get(field)!;

  test("the declaration gives sizeof 136, the buffer size darwin.ts passes to proc_pidinfo", () => {
    expect(size).toBe(136);
    expect(DARWIN_ABI.PROC_BSDINFO_SIZE).toBe(size);
    expect(at("pbi_pid")).toBe(12);
    expect(at("pbi_ppid")).toBe(16);
    expect(at("pbi_comm")).toBe(48);
    expect(at("pbi_start_tvsec")).toBe(120);
    expect(at("pbi_start_tvusec")).toBe(128);
  });

  function build(): Uint8Array {
    // Non-zero filler everywhere, so a field read at a wrong offset cannot pass by luck.
    const bytes = new Uint8Array(size).fill(0xa5);
    const view = new DataView(bytes.buffer);
    view.setUint32(at("pbi_flags"), 0x10, true);
    view.setUint32(at("pbi_status"), 2, true); // SRUN
    view.setUint32(at("pbi_pid"), 4242, true);
    view.setUint32(at("pbi_ppid"), 4100, true);
    view.setUint32(at("pbi_uid"), 501, true);
    view.setUint32(at("pbi_gid"), 20, true);
    bytes.fill(0, at("pbi_comm"), at("pbi_comm") + 16);
    bytes.set(new TextEncoder().encode("Google Chrome H"), at("pbi_comm"));
    view.setBigUint64(at("pbi_start_tvsec"), 1_795_000_000n, true);
    view.setBigUint64(at("pbi_start_tvusec"), 123_456n, true);
    return bytes;
  }

  test("reads every field icecore uses from a hand-built buffer", () => {
    expect(parseProcBsdInfo(build())).toEqual({
      status: 2,
      pid: 4242,
      ppid: 4100,
      uid: 501,
      gid: 20,
      comm: "Google Chrome H",
    });
  });

  test("a 16-character comm without NUL survives", () => {
    const bytes = build();
    bytes.set(new TextEncoder().encode("abcdefghijklmnop"), at("pbi_comm"));
    expect(parseProcBsdInfo(bytes).comm).toBe("abcdefghijklmnop");
  });

  test("honours the view's byteOffset", () => {
    const inner = build();
    const outer = new Uint8Array(inner.byteLength + 8);
    outer.set(inner, 8);
    expect(parseProcBsdInfo(outer.subarray(8)).pid).toBe(4242);
  });

  test("refuses a short buffer", () => {
    expect(() => parseProcBsdInfo(new Uint8Array(135))).toThrow(RangeError);
  });
});

/**
 * One line of Apple's sources as docs/macos.md cites it, whitespace runs collapsed to one space.
 * xnu at tag xnu-11417.121.6, Libc at tag Libc-1725.40.4 (commits below).
 */
interface CitedLine {
  repo: "xnu" | "Libc";
  file: string;
  line: number;
  text: string;
}
const XNU_COMMIT = "a1e26a70f38d1d7daa7b49b258e2f8538ad81650";
const LIBC_COMMIT = "1103367a8dc1949a6f77e8f2d1ba16b24e803c7a";
const xnu = (file: string, line: number, text: string): CitedLine => ({ repo: "xnu", file, line, text });
const libc = (file: string, line: number, text: string): CitedLine => ({ repo: "Libc", file, line, text });

/** `#define NAME value` lines whose value darwin.ts must carry under the same name. */
const DEFINES: ReadonlyArray<readonly [keyof typeof DARWIN_ABI, CitedLine]> = [
  ["SOL_LOCAL", xnu("bsd/sys/un.h", 85, "#define SOL_LOCAL 0")],
  ["LOCAL_PEERTOKEN", xnu("bsd/sys/un.h", 93, "#define LOCAL_PEERTOKEN 0x006 /* retrieve peer audit token */")],
  ["AF_UNIX", xnu("bsd/sys/socket.h", 387, "#define AF_UNIX 1 /* local to host (pipes) */")],
  ["SOCK_STREAM", xnu("bsd/sys/socket.h", 113, "#define SOCK_STREAM 1 /* stream socket */")],
  ["MSG_DONTWAIT", xnu("bsd/sys/socket.h", 621, "#define MSG_DONTWAIT 0x80 /* this message should be nonblocking */")],
  ["RLIMIT_CORE", xnu("bsd/sys/resource.h", 508, "#define RLIMIT_CORE 4 /* core file size */")],
  ["PT_DENY_ATTACH", xnu("bsd/sys/ptrace.h", 93, "#define PT_DENY_ATTACH 31")],
  ["ENOENT", xnu("bsd/sys/errno.h", 91, "#define ENOENT 2 /* No such file or directory */")],
  ["EINTR", xnu("bsd/sys/errno.h", 93, "#define EINTR 4 /* Interrupted system call */")],
  ["EAGAIN", xnu("bsd/sys/errno.h", 131, "#define EAGAIN 35 /* Resource temporarily unavailable */")],
  ["ECONNRESET", xnu("bsd/sys/errno.h", 171, "#define ECONNRESET 54 /* Connection reset by peer */")],
  ["ECONNREFUSED", xnu("bsd/sys/errno.h", 180, "#define ECONNREFUSED 61 /* Connection refused */")],
  ["PROC_PIDTBSDINFO", xnu("bsd/sys/proc_info.h", 724, "#define PROC_PIDTBSDINFO 3")],
  ["SZOMB", xnu("bsd/sys/proc.h", 163, "#define SZOMB 5 /* Awaiting collection by parent. */")],
];
const FIOCLEX_LINE = xnu("bsd/sys/filio.h", 75, "#define FIOCLEX _IO('f', 1) /* set close on exec on fd */");
const IOC_VOID_LINE = xnu("bsd/sys/ioccom.h", 81, "#define IOC_VOID (__uint32_t)0x20000000");
const IO_LINE = xnu("bsd/sys/ioccom.h", 93, "#define _IO(g, n) _IOC(IOC_VOID, (g), (n), 0)");
const PATHINFO_MAXSIZE_LINE = xnu("bsd/sys/proc_info.h", 750, "#define PROC_PIDPATHINFO_MAXSIZE (4*MAXPATHLEN)");
const MAXPATHLEN_LINE = xnu("bsd/sys/param.h", 206, "#define MAXPATHLEN PATH_MAX");
const PATH_MAX_LINE = xnu("bsd/sys/syslimits.h", 111, "#define PATH_MAX 1024 /* max bytes in pathname */");
const SUN_PATH_LINE = xnu("bsd/sys/un.h", 79, "char sun_path[104]; /* [XSI] path name (gag) */");
const AUDIT_TOKEN_LINE = xnu("osfmk/mach/message.h", 740, "unsigned int val[8];");
/** proc_calc_audit_token: the slots the kernel fills with what darwin.ts reads. */
const TOKEN_SLOT_LINES = {
  TOKEN_EUID: xnu("bsd/kern/kern_prot.c", 1657, "audit_token->val[1] = my_pcred->cr_uid;"),
  TOKEN_PID: xnu("bsd/kern/kern_prot.c", 1661, "audit_token->val[5] = proc_getpid(p);"),
  TOKEN_PIDVERSION: xnu("bsd/kern/kern_prot.c", 1663, "audit_token->val[7] = proc_pidversion(p);"),
} as const;
/** Lines docs/macos.md leans on for behaviour rather than a number; checked against a checkout when one is given. */
const BEHAVIOUR_LINES: readonly CitedLine[] = [
  xnu("bsd/sys/ucred.h", 160, "uid_t cr_uid; /* effective user id */"),
  xnu("bsd/kern/uipc_usrreq.c", 900, "case LOCAL_PEERTOKEN:"),
  xnu("bsd/kern/uipc_usrreq.c", 912, "peerpid = peerso->last_pid;"),
  xnu("bsd/kern/uipc_usrreq.c", 913, "p = proc_find(peerpid);"),
  xnu("bsd/kern/uipc_usrreq.c", 919, "if (task_info(t, TASK_AUDIT_TOKEN, (task_info_t)&peertoken, &count) == KERN_SUCCESS) {"),
  xnu("bsd/kern/uipc_usrreq.c", 1433, "cru2x(vfs_context_ucred(ctx), &unp3->unp_peercred);"),
  xnu("bsd/kern/uipc_usrreq.c", 1464, "memcpy(&unp->unp_peercred, &unp2->unp_peercred,"),
  xnu("bsd/kern/uipc_usrreq.c", 1540, "unp->unp_conn = unp2;"),
  xnu("bsd/kern/uipc_usrreq.c", 1573, "unp2->unp_conn = unp;"),
  xnu("bsd/kern/uipc_usrreq.c", 2771, "cru2x(safecred, &unp->unp_peercred);"),
  xnu("bsd/kern/uipc_socket2.c", 384, "so->last_pid = head->last_pid;"),
  xnu("bsd/kern/uipc_socket.c", 533, "so->last_pid = proc_pid(self);"),
  xnu("bsd/kern/uipc_socket.c", 720, "so->last_pid = proc_pid(p);"),
  xnu("bsd/kern/kern_fork.c", 986, "proc_ro_data.p_idversion = OSIncrementAtomic(&nextpidversion);"),
  xnu("bsd/kern/kern_exec.c", 6984, "new_pid_version = OSIncrementAtomic(&nextpidversion);"),
  xnu("bsd/kern/kern_exit.c", 2109, "/* will not be visible via proc_find */"),
  xnu("bsd/kern/proc_info.c", 2174, "if ((p = proc_find(pid)) == PROC_NULL) {"),
  xnu("bsd/kern/proc_info.c", 2187, "if ((flags & PIF_COMPARE_IDVERSION) && (ext_id != proc_pidversion(p))) {"),
  xnu("libsyscall/wrappers/libproc/libproc.h", 96, "int proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer, int buffersize) __OSX_AVAILABLE_STARTING(__MAC_10_5, __IPHONE_2_0);"),
  xnu("libsyscall/wrappers/libproc/libproc.h", 103, "int proc_pidpath_audittoken(audit_token_t *audittoken, void * buffer, uint32_t buffersize) API_AVAILABLE(macos(10.16), ios(14.0), watchos(7.0), tvos(14.0));"),
  xnu("libsyscall/wrappers/libproc/libproc.c", 299, "int pid = audittoken->val[5];"),
  xnu("libsyscall/wrappers/libproc/libproc.c", 300, "int idversion = audittoken->val[7];"),
  xnu("bsd/sys/socket.h", 793, "int getsockopt(int, int, int, void * __restrict, socklen_t * __restrict);"),
  libc("include/unistd.h", 830, "int getpeereid(int, uid_t *, gid_t *);"),
  libc("gen/FreeBSD/getpeereid.c", 46, "error = getsockopt(s, 0, LOCAL_PEERCRED, &xuc, &xuclen);"),
  libc("gen/FreeBSD/getpeereid.c", 53, "*euid = xuc.cr_uid;"),
];
const CITED: readonly CitedLine[] = [
  ...DEFINES.map(([, line]) => line),
  FIOCLEX_LINE,
  IOC_VOID_LINE,
  IO_LINE,
  PATHINFO_MAXSIZE_LINE,
  MAXPATHLEN_LINE,
  PATH_MAX_LINE,
  SUN_PATH_LINE,
  AUDIT_TOKEN_LINE,
  ...Object.values(TOKEN_SLOT_LINES),
  ...BEHAVIOUR_LINES,
];

/** The value of `#define <name> <value>` on a cited line. */
function definedValue(line: CitedLine, name: string): string {
  const match = /^#define (\w+) (\S+)/.exec(line.text);
  if (match === null || match[1] !== name) throw new Error(`${line.file}:${line.line} does not define ${name}`);
  return match[2]!;
}

describe("constants and offsets against the Apple source lines cited in docs/macos.md", () => {
  test.each(DEFINES.map(([name, line]) => [name, line] as const))("%s", (name, line) => {
    expect(DARWIN_ABI[name]).toBe(Number(definedValue(line, name)));
  });

  test("FIOCLEX is _IO('f', 1) by <sys/ioccom.h>'s formula, so ioctl gets no third argument", () => {
    expect(definedValue(FIOCLEX_LINE, "FIOCLEX")).toBe("_IO('f',");
    expect(IO_LINE.text).toContain("_IOC(IOC_VOID, (g), (n), 0)");
    const iocVoid = Number(/0x[0-9a-f]+/.exec(IOC_VOID_LINE.text)![0]);
    // _IOC(inout, group, num, len) = inout | ((len & IOCPARM_MASK) << 16) | (group << 8) | num, len 0.
    expect(DARWIN_ABI.FIOCLEX).toBe((iocVoid | ("f".charCodeAt(0) << 8) | 1) >>> 0);
  });

  test("PROC_PIDPATHINFO_MAXSIZE is 4 * MAXPATHLEN, MAXPATHLEN is PATH_MAX, PATH_MAX is 1024", () => {
    expect(definedValue(PATHINFO_MAXSIZE_LINE, "PROC_PIDPATHINFO_MAXSIZE")).toBe("(4*MAXPATHLEN)");
    expect(definedValue(MAXPATHLEN_LINE, "MAXPATHLEN")).toBe("PATH_MAX");
    expect(DARWIN_ABI.PROC_PIDPATHINFO_MAXSIZE).toBe(4 * Number(definedValue(PATH_MAX_LINE, "PATH_MAX")));
  });

  test("sun_path is char[104]", () => {
    expect(DARWIN_ABI.SUN_PATH_SIZE).toBe(Number(/sun_path\[(\d+)\]/.exec(SUN_PATH_LINE.text)![1]));
  });

  test("audit_token_t is unsigned int val[8]; darwin.ts reads the slots the kernel fills with euid, pid and pid version", () => {
    expect(DARWIN_ABI.AUDIT_TOKEN_SIZE).toBe(4 * Number(/val\[(\d+)\]/.exec(AUDIT_TOKEN_LINE.text)![1]));
    const slot = (line: CitedLine) => 4 * Number(/val\[(\d+)\]/.exec(line.text)![1]);
    expect(DARWIN_ABI.TOKEN_EUID).toBe(slot(TOKEN_SLOT_LINES.TOKEN_EUID));
    expect(TOKEN_SLOT_LINES.TOKEN_EUID.text).toContain("cr_uid"); // the effective uid (ucred.h)
    expect(DARWIN_ABI.TOKEN_PID).toBe(slot(TOKEN_SLOT_LINES.TOKEN_PID));
    expect(TOKEN_SLOT_LINES.TOKEN_PID.text).toContain("proc_getpid");
    expect(DARWIN_ABI.TOKEN_PIDVERSION).toBe(slot(TOKEN_SLOT_LINES.TOKEN_PIDVERSION));
    expect(TOKEN_SLOT_LINES.TOKEN_PIDVERSION.text).toContain("proc_pidversion");
  });

  // Re-checks the quotations themselves. Point the variables at checkouts of the tags above, e.g.
  // `git -C xnu checkout xnu-11417.121.6`; without them this is skipped (CI has no Apple sources).
  const checkouts = { xnu: process.env.ICECORE_XNU_SOURCE, Libc: process.env.ICECORE_LIBC_SOURCE };
  test.skipIf(!checkouts.xnu || !checkouts.Libc)(
    `every quoted line is where it is cited in $ICECORE_XNU_SOURCE (${XNU_COMMIT}) and $ICECORE_LIBC_SOURCE (${LIBC_COMMIT})`,
    async () => {
      const misquoted: string[] = [];
      for (const cited of CITED) {
        const text = await Bun.file(join(checkouts[cited.repo]!, cited.file)).text();
        const actual = (text.split("\n")[cited.line - 1] ?? "").replace(/\s+/g, " ").trim();
        if (actual !== cited.text) misquoted.push(`${cited.repo} ${cited.file}:${cited.line}: ${JSON.stringify(actual)}`);
      }
      expect(misquoted).toEqual([]);
    },
  );
});

describe("parseAuditToken", () => {
  // audit_token_t = unsigned int val[8] (message.h), little-endian on every Mac. Distinct values in
  // every slot, so a field read from a wrong slot cannot pass by luck.
  const AUID = 0x7fff_fff0;
  const slots = [AUID, 501, 20, 502, 21, 4242, 100_017, 7331];

  function token(values: readonly number[]): Uint8Array {
    const bytes = new Uint8Array(32);
    const view = new DataView(bytes.buffer);
    values.forEach((value, index) => view.setUint32(index * 4, value >>> 0, true));
    return bytes;
  }

  test("reads the effective uid from val[1], the pid from val[5], the pid version from val[7]", () => {
    expect(parseAuditToken(token(slots))).toEqual({ euid: 501, pid: 4242, pidversion: 7331 });
  });

  test("each field follows its own slot and no other", () => {
    for (const [index, field] of [[1, "euid"], [5, "pid"], [7, "pidversion"]] as const) {
      const changed = [...slots];
      changed[index] = 99;
      const parsed = parseAuditToken(token(changed));
      expect(parsed[field]).toBe(99);
      for (const other of ["euid", "pid", "pidversion"] as const) {
        if (other !== field) expect(parsed[other]).toBe(parseAuditToken(token(slots))[other]);
      }
    }
    const noise = slots.map((value, index) => ([1, 5, 7].includes(index) ? value : 0xdead_beef));
    expect(parseAuditToken(token(noise))).toEqual({ euid: 501, pid: 4242, pidversion: 7331 });
  });

  test("uid_t is unsigned (nobody is 4294967294); the pid version is an int and is read signed", () => {
    const parsed = parseAuditToken(token([0, 0xffff_fffe, 0, 0, 0, 1, 0, 0xffff_ffff]));
    expect(parsed.euid).toBe(4_294_967_294);
    expect(parsed.pidversion).toBe(-1);
  });

  test("honours the view's byteOffset", () => {
    const outer = new Uint8Array(40);
    outer.set(token(slots), 8);
    expect(parseAuditToken(outer.subarray(8)).pid).toBe(4242);
  });

  test("refuses a short buffer", () => {
    expect(() => parseAuditToken(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe("judgedPeerUid: the connect-time uid and the token's uid must both be this user's", () => {
  const me = 501;

  test("control: both kernel answers say this user", () => {
    expect(judgedPeerUid(me, me, me)).toBe(me);
  });

  test("another user connected and its pid now belongs to a process of this user: judged as the connecting user", () => {
    expect(judgedPeerUid(502, me, me)).toBe(502);
  });

  test("this user connected but the process now at the pid runs as another: judged as that uid", () => {
    expect(judgedPeerUid(me, 0, me)).toBe(0);
  });

  test("neither is this user", () => {
    expect(judgedPeerUid(502, 503, me)).not.toBe(me);
  });
});

describe("macOS kernel calls", () => {
  const encoder = new TextEncoder();
  const { endpoints } = darwinPlatform;
  const DARWIN_TS = join(import.meta.dir, "../../src/platform/darwin.ts");
  const PERL = "/usr/bin/perl";

  /** A listener whose connections are handed to `onConnection`; closed in `finally` by the caller. */
  function listen(onConnection: (connection: PendingConnection) => void) {
    return endpoints.listen({ onConnection });
  }

  /** Reads `stream` until `marker` has arrived; throws if the stream ends first (the child died). */
  async function readUntil(stream: ReadableStream<Uint8Array>, marker: string): Promise<string> {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let text = "";
    try {
      while (!text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${JSON.stringify(marker)}; got ${JSON.stringify(text)}`);
        text += decoder.decode(value, { stream: true });
      }
    } finally {
      reader.releaseLock();
    }
    return text;
  }

  test.skipIf(!isDarwin)("a connection names this process, pins it, and walks to it; receive() trusts its own ancestor", async () => {
    const seen: Array<{ pid: number; uid: number | string; exe: string | null; self: boolean; same: boolean; stranger: boolean }> = [];
    const listener = listen((connection) => {
      const peer = connection.pin();
      seen.push({
        pid: peer.creds.pid,
        uid: peer.creds.uid,
        exe: peer.exe,
        self: peer.isSelfOrDescendantOf(process.pid),
        same: peer.stillSame(),
        stranger: peer.isSelfOrDescendantOf(process.pid + 100_000),
      });
      peer.release();
      peer.release();
      void connection.deliver(encoder.encode("ok\n"));
    });
    try {
      const bytes = await endpoints.receive(listener.name, { maxBytes: 64 * 1024, deadline: Date.now() + 5000 });
      expect(new TextDecoder().decode(bytes)).toBe("ok\n");
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ pid: process.pid, uid: process.getuid!(), self: true, same: true, stranger: false });
      expect(realpathSync(seen[0]!.exe!)).toBe(realpathSync(process.execPath));
    } finally {
      listener.close();
    }
  });

  test.skipIf(!isDarwin)("a child process is a descendant; stillSame() turns false once it exits", async () => {
    let childPid = -1;
    const peers: Peer[] = [];
    const whileAlive: Array<{ ofChild: boolean; ofUs: boolean; ofStranger: boolean; same: boolean }> = [];
    const listener = listen((connection) => {
      // The child blocks in receive() until we close, so it is alive for these checks.
      const peer = connection.pin();
      peers.push(peer);
      whileAlive.push({
        ofChild: peer.isSelfOrDescendantOf(childPid),
        ofUs: peer.isSelfOrDescendantOf(process.pid),
        ofStranger: peer.isSelfOrDescendantOf(1_000_000),
        same: peer.stillSame(),
      });
      void connection.deliver(encoder.encode("hi"));
    });
    try {
      const script = `
        const { darwinPlatform } = await import(${JSON.stringify(DARWIN_TS)});
        const bytes = await darwinPlatform.endpoints.receive(process.argv.at(-1), { maxBytes: 100, deadline: Date.now() + 5000 });
        process.stdout.write(new TextDecoder().decode(bytes));`;
      const child = Bun.spawn([process.execPath, "-e", script, listener.name], { stdout: "pipe" });
      childPid = child.pid;
      expect(await new Response(child.stdout).text()).toBe("hi");
      expect(await child.exited).toBe(0);
      expect(peers).toHaveLength(1);
      expect(peers[0]!.creds.pid).toBe(child.pid);
      expect(whileAlive[0]).toEqual({ ofChild: true, ofUs: true, ofStranger: false, same: true });
      expect(peers[0]!.stillSame()).toBe(false);
    } finally {
      listener.close();
    }
  });

  test.skipIf(!isDarwin || !existsSync(PERL))(
    "a peer that execs after connecting is no longer the process that connected: same live pid, new pid version",
    async () => {
      const pinned = Promise.withResolvers<{ peer: Peer; connection: PendingConnection }>();
      const listener = listen((connection) => {
        try {
          pinned.resolve({ peer: connection.pin(), connection });
        } catch (error) {
          connection.refuse();
          pinned.reject(error);
        }
      });
      // Connects, waits for a line on stdin, then execs: the pid stays, the kernel gives the
      // process a new pid version (kern_exec.c). A start-time pin would not notice.
      const script = [
        "use Socket;",
        "$^F = 1023;", // descriptors above $^F are close-on-exec; keep the socket across the exec
        'socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!";',
        'connect($s, pack_sockaddr_un($ARGV[0])) or die "connect: $!";',
        "my $go = <STDIN>;",
        "exec('/bin/sh', '-c', 'echo execd; exec /bin/sleep 60') or die \"exec: $!\";",
      ].join("\n");
      const child = Bun.spawn([PERL, "-e", script, listener.name], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
      let held: PendingConnection | undefined;
      try {
        const exitedFirst = child.exited.then((code) => Promise.reject(new Error(`perl exited (${code}) before its connection was pinned`)));
        const { peer, connection } = await Promise.race([pinned.promise, exitedFirst]);
        held = connection;
        expect(peer.creds).toEqual({ pid: child.pid, uid: process.getuid!() });
        expect(peer.stillSame()).toBe(true);
        expect(peer.isSelfOrDescendantOf(process.pid)).toBe(true);

        child.stdin.write("go\n");
        await child.stdin.flush();
        await readUntil(child.stdout, "execd\n");

        expect(() => process.kill(child.pid, 0)).not.toThrow(); // alive, and still our child
        expect(peer.stillSame()).toBe(false);
        expect(peer.isSelfOrDescendantOf(process.pid)).toBe(false); // the first step checks the pin
      } finally {
        held?.refuse();
        child.kill("SIGKILL");
        await child.exited;
        listener.close();
      }
    },
  );

  test.skipIf(!isDarwin)("receive() refuses a server of this user that is not an ancestor (SPEC §4 mutual check)", async () => {
    // A sibling-like server: our child listens, we (its parent, not its descendant) connect.
    const script = `
      const { darwinPlatform } = await import(${JSON.stringify(DARWIN_TS)});
      const listener = darwinPlatform.endpoints.listen({ onConnection: (c) => void c.deliver(new TextEncoder().encode("not for you")) });
      process.on("SIGTERM", () => { listener.close(); process.exit(0); });
      process.stdout.write(listener.name + "\\n");`;
    const server = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    try {
      const name = (await readUntil(server.stdout, "\n")).trim();
      expect(endpoints.isEndpointName(name)).toBe(true);
      const error = await endpoints.receive(name, { maxBytes: 100, deadline: Date.now() + 5000 }).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ServerNotTrusted);
      expect((error as Error).message).toMatch(new RegExp(`\\(pid ${server.pid}\\) is not an ancestor`));
    } finally {
      server.kill("SIGTERM");
      await server.exited;
    }
  });

  test.skipIf(!isDarwin)("receive() gets everything from a server that writes and closes at once", async () => {
    const payload = encoder.encode(`${JSON.stringify({ v: 1, pad: "x".repeat(60_000) })}\n`);
    const expected = payload.slice();
    const listener = listen((connection) => void connection.deliver(payload));
    try {
      const bytes = await endpoints.receive(listener.name, { maxBytes: 64 * 1024, deadline: Date.now() + 5000 });
      expect(bytes).toEqual(expected);
    } finally {
      listener.close();
    }
  });

  test.skipIf(!isDarwin)("receive() refuses more than maxBytes", async () => {
    const listener = listen((connection) => void connection.deliver(new Uint8Array(2000)));
    try {
      await expect(endpoints.receive(listener.name, { maxBytes: 1000, deadline: Date.now() + 5000 })).rejects.toThrow(/exceeds 1000 bytes/);
    } finally {
      listener.close();
    }
  });

  test.skipIf(!isDarwin)("receive(): EndpointNotReady after the listener is gone", async () => {
    const listener = listen((connection) => connection.refuse());
    listener.close();
    await expect(endpoints.receive(listener.name, { maxBytes: 100, deadline: Date.now() + 1000 })).rejects.toBeInstanceOf(EndpointNotReady);
  });

  test.skipIf(!isDarwin)("receive() times out when the server never closes", async () => {
    const held: PendingConnection[] = [];
    const listener = listen((connection) => void held.push(connection));
    try {
      await expect(endpoints.receive(listener.name, { maxBytes: 100, deadline: Date.now() + 200 })).rejects.toThrow(/timed out/);
    } finally {
      for (const connection of held) connection.refuse();
      listener.close();
    }
  });

  test.skipIf(!isDarwin)("harden() sets RLIMIT_CORE to 0 and denies ptrace attach", async () => {
    // In a child, so the test runner itself stays debuggable.
    const script = `
      const { darwinPlatform } = await import(${JSON.stringify(DARWIN_TS)});
      darwinPlatform.hardening.harden();
      const limit = Bun.spawnSync(["/bin/sh", "-c", "ulimit -c"]).stdout.toString().trim();
      const lldb = Bun.spawnSync(["/usr/bin/lldb", "--batch", "-p", String(process.pid), "-o", "detach"], { timeout: 20000 });
      process.stdout.write(JSON.stringify({ limit, lldbExit: lldb.exitCode, lldbOut: lldb.stdout.toString() + lldb.stderr.toString() }));`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const report = JSON.parse(await new Response(child.stdout).text());
    expect(await child.exited).toBe(0);
    expect(report.limit).toBe("0");
    // lldb may be absent (no Xcode tools); when present it must fail to attach.
    if (existsSync("/usr/bin/lldb") && !/xcode-select|no developer tools/i.test(report.lldbOut)) {
      expect(report.lldbOut).toMatch(/attach failed|Not allowed to attach|error/i);
    }
  });
});
