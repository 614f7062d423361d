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
  allocateSocketEndpoint,
  bsdUnixAddress,
  darwinPlatform,
  parseProcBsdInfo,
  restrictSocketFile,
} from "../../src/platform/darwin.ts";
import { EndpointNotReady, type PendingConnection, type Peer } from "../../src/platform/platform.ts";
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

  test("the declaration gives sizeof 136 and the start time at 120/128", () => {
    expect(size).toBe(136);
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
      startSec: 1_795_000_000n,
      startUsec: 123_456n,
    });
  });

  test("a start time beyond 2^32 seconds and a 16-character comm without NUL survive", () => {
    const bytes = build();
    const view = new DataView(bytes.buffer);
    view.setBigUint64(at("pbi_start_tvsec"), 0x1_0000_0001n, true);
    bytes.set(new TextEncoder().encode("abcdefghijklmnop"), at("pbi_comm"));
    const info = parseProcBsdInfo(bytes);
    expect(info.startSec).toBe(0x1_0000_0001n);
    expect(info.comm).toBe("abcdefghijklmnop");
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

describe("macOS kernel calls", () => {
  const encoder = new TextEncoder();
  const { endpoints } = darwinPlatform;

  /** A listener whose connections are handed to `onConnection`; closed in `finally` by the caller. */
  function listen(onConnection: (connection: PendingConnection) => void) {
    return endpoints.listen({ onConnection });
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
        const { darwinPlatform } = await import(${JSON.stringify(join(import.meta.dir, "../../src/platform/darwin.ts"))});
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
      const { darwinPlatform } = await import(${JSON.stringify(join(import.meta.dir, "../../src/platform/darwin.ts"))});
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
