/**
 * SPEC §10: `npm run build -- --all` and every executable this machine can run. Slow (five
 * targets, about 540 MB in dist/, first builds fetch the target runtimes from the npm registry),
 * so it runs only with ICECORE_CROSS=1, which .ci/run sets. linux-x64 runs natively, linux-arm64
 * under qemu-user; darwin and windows are checked by format (Mach-O and PE headers), since
 * nothing here runs them (windows-x64 under Wine is tested by the Windows work).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, ROOT } from "../support/paths.ts";
import { stageFile } from "../support/stage.ts";
import { canSwitchUsers, testUser } from "../support/users.ts";
import { prefixLauncher, startIcecore } from "../support/icecore-process.ts";

const enabled = process.env.ICECORE_CROSS === "1";
if (!enabled) console.info("targets.test.ts: skipping the cross-target build and runs (slow; set ICECORE_CROSS=1, as .ci/run does)");

const DIST = join(ROOT, "dist");
const FILES = ["icecore-darwin-arm64", "icecore-darwin-x64", "icecore-linux-arm64", "icecore-linux-x64", "icecore-windows-x64.exe"];
const ARM64 = join(DIST, "icecore-linux-arm64");
const QEMU = "/usr/bin/qemu-aarch64";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const hasQemu = existsSync(QEMU) && existsSync(join(ARM64_SYSROOT, "lib/ld-linux-aarch64.so.1"));
if (enabled && !hasQemu) console.info("targets.test.ts: skipping the linux-arm64 runs (apt-get install qemu-user libc6-arm64-cross)");
const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

/** A user namespace may mount its own binfmt_misc since Linux 6.7; older kernels refuse. */
const namespacedBinfmt =
  enabled && hasQemu && Bun.spawnSync(["unshare", "--map-root-user", "--mount", "mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], { stderr: "ignore" }).exitCode === 0;
if (enabled && hasQemu && !namespacedBinfmt) console.info("targets.test.ts: skipping the arm64 run with its own connect child (this kernel cannot mount binfmt_misc in a user namespace)");

function head(path: string, bytes: number, offset = 0): Buffer {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    readSync(fd, buffer, 0, bytes, offset);
    return buffer;
  } finally {
    closeSync(fd);
  }
}

function expectedCommit(): string {
  const git = (...args: string[]) => Bun.spawnSync(["git", ...args], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  const headCommit = git("rev-parse", "HEAD");
  if (headCommit.exitCode !== 0) return "unknown";
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.toString().trim() !== "";
  return headCommit.stdout.toString().trim() + (dirty ? "-dirty" : "");
}

let buildOutput = "";

describe.skipIf(!enabled)("npm run build -- --all", () => {
  beforeAll(() => {
    const started = performance.now();
    const build = Bun.spawnSync([process.execPath, join(ROOT, "build/compile.ts"), "--all"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 900_000 });
    buildOutput = build.stdout.toString();
    console.info(`${buildOutput}build --all: ${((performance.now() - started) / 1000).toFixed(1)} s wall time`);
    if (build.exitCode !== 0) throw new Error(`build --all failed: ${build.stderr.toString()}`);
  }, 900_000);

  test("a progress line per target and a summary table with size and seconds", () => {
    for (const target of ["linux-x64", "linux-arm64", "darwin-arm64", "darwin-x64", "windows-x64"]) {
      expect(buildOutput).toMatch(new RegExp(`^build: \\[\\d/5\\] ${target} -> dist/icecore-${target}(\\.exe)? \\d+\\.\\d MB in \\d+\\.\\d s`, "m"));
      expect(buildOutput).toMatch(new RegExp(`^${target} +icecore-${target}(\\.exe)? +\\d+\\.\\d MB +\\d+\\.\\d`, "m"));
    }
    expect(buildOutput).toMatch(/^target +file +size +seconds +bytecode$/m);
    expect(buildOutput).toMatch(/^total +\d+\.\d MB +\d+\.\d$/m);
  });

  test("dist/SHA256SUMS lists the five executables and sha256sum -c verifies every one", () => {
    const sums = readFileSync(join(DIST, "SHA256SUMS"), "utf8");
    const lines = sums.trimEnd().split("\n");
    expect(lines.map((line) => line.split("  ")[1])).toEqual(FILES);
    for (const line of lines) expect(line).toMatch(/^[0-9a-f]{64} {2}icecore-[a-z0-9.-]+$/);
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: DIST, stdout: "pipe", stderr: "pipe" });
    expect(check.stdout.toString().trimEnd().split("\n")).toEqual(FILES.map((f) => `${f}: OK`));
    expect(check.exitCode).toBe(0);
  });

  test("control: sha256sum -c fails when an executable is not the one listed", () => {
    const dir = mkdtempSync(join(tmpdir(), "icecore-sums-"));
    try {
      writeFileSync(join(dir, "SHA256SUMS"), readFileSync(join(DIST, "SHA256SUMS")));
      for (const file of FILES) symlinkSync(join(DIST, file === "icecore-linux-x64" ? "icecore-linux-arm64" : file), join(dir, file));
      const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      expect(check.exitCode).not.toBe(0);
      expect(check.stdout.toString()).toContain("icecore-linux-x64: FAILED");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("linux-x64 runs here: version --json names the version, commit, target and Bun", () => {
    const result = Bun.spawnSync([join(DIST, "icecore-linux-x64"), "version", "--json"], { stdout: "pipe" });
    expect(JSON.parse(result.stdout.toString())).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), commit: expectedCommit(), target: "linux-x64", bun: Bun.version });
  });

  test("darwin-arm64 and darwin-x64 are Mach-O 64-bit executables for their CPU (nothing here runs them)", () => {
    // mach-o/loader.h: MH_MAGIC_64 0xfeedfacf; CPU_TYPE_ARM64 0x0100000c, CPU_TYPE_X86_64 0x01000007; MH_EXECUTE 2.
    for (const [file, cpu] of [["icecore-darwin-arm64", 0x0100000c], ["icecore-darwin-x64", 0x01000007]] as const) {
      const header = head(join(DIST, file), 16);
      expect(header.readUInt32LE(0)).toBe(0xfeedfacf);
      expect(header.readUInt32LE(4)).toBe(cpu);
      expect(header.readUInt32LE(12)).toBe(2);
    }
  });

  test("windows-x64.exe is a PE32+ executable for AMD64 (Wine runs it in the Windows tests)", () => {
    const file = join(DIST, "icecore-windows-x64.exe");
    const dos = head(file, 64);
    expect(dos.subarray(0, 2).toString("latin1")).toBe("MZ");
    const pe = head(file, 26, dos.readUInt32LE(0x3c)); // e_lfanew
    expect(pe.subarray(0, 4)).toEqual(Buffer.from("PE\0\0", "latin1"));
    expect(pe.readUInt16LE(4)).toBe(0x8664); // IMAGE_FILE_MACHINE_AMD64
    expect(pe.readUInt16LE(24)).toBe(0x20b); // optional header magic: PE32+
  });

  describe.skipIf(!hasQemu)("linux-arm64 under qemu-user", () => {
    test("version --json (qemu-aarch64 -L /usr/aarch64-linux-gnu)", () => {
      const started = performance.now();
      const result = Bun.spawnSync([QEMU, "-L", ARM64_SYSROOT, ARM64, "version", "--json"], { stdout: "pipe", stderr: "pipe" });
      console.info(`linux-arm64 under qemu: version --json in ${(performance.now() - started).toFixed(0)} ms`);
      expect(result.stderr.toString()).toBe("");
      expect(JSON.parse(result.stdout.toString())).toMatchObject({ commit: expectedCommit(), target: "linux-arm64", bun: Bun.version });
    });

    test.skipIf(!namespacedBinfmt)("a whole run with its own connect child, as an unprivileged user (binfmt_misc in a user namespace)", async () => {
      // Without binfmt_misc the kernel cannot exec the arm64 child that `run` starts from its own
      // executable; this registers qemu for aarch64 in a user namespace of the test only.
      const launcher = ["env", `QEMU_LD_PREFIX=${ARM64_SYSROOT}`, "unshare", "--map-root-user", "--mount", "bash", join(FIXTURES, "qemu-binfmt.sh"), String(owner?.uid ?? process.getuid!()), String(owner?.gid ?? process.getgid!())];
      // Built by this file, after the stage was made: the test user runs a copy it can reach.
      const run = startIcecore({ user: owner, launcher: prefixLauncher(launcher, stageFile(ARM64, owner)), args: ["--handoff-timeout", "60s"] });
      const { code, ms } = await run.exited;
      const ready = run.events.find((e) => e.event === "api_ready");
      const closed = run.events.find((e) => e.event === "handoff_closed");
      console.info(`linux-arm64 under qemu (binfmt), own connect child: api_ready at ${String(ready?.uptime_ms)} ms of uptime, handoff endpoint open ${String(closed?.lifetime_ms)} ms, whole run ${ms.toFixed(0)} ms`);
      expect(run.errors).toEqual([]);
      expect(code).toBe(0);
      expect(run.stdout()).toContain("icecore connect: bundle received");
      expect(run.stdout()).toMatch(/GET \/v1\/info -> 200 \{"name":"icecore".*"platform":"linux-arm64"/);
      // connect renews its certificate at once (SPEC §3) while it checks health and info.
      expect(run.events.filter((e) => e.event === "request").map((e) => [e.path, e.status])).toEqual(
        expect.arrayContaining([
          ["/v1/health", 200],
          ["/v1/info", 200],
          ["/v1/identity/renew", 200],
        ]),
      );
    }, 180_000);

    test("a whole run whose connect child is started through qemu-aarch64 (no binfmt_misc needed)", async () => {
      const arm64 = stageFile(ARM64, owner);
      const child = [QEMU, "-L", ARM64_SYSROOT, arm64, "connect"];
      const run = startIcecore({ user: owner, launcher: prefixLauncher([QEMU, "-L", ARM64_SYSROOT], arm64), child, args: ["--handoff-timeout", "60s"] });
      const { code, ms } = await run.exited;
      const ready = run.events.find((e) => e.event === "api_ready");
      console.info(`linux-arm64 under qemu, connect child through qemu: api_ready at ${String(ready?.uptime_ms)} ms of uptime, whole run ${ms.toFixed(0)} ms`);
      expect(run.errors).toEqual([]);
      expect(code).toBe(0);
      const delivered = run.events.find((e) => e.event === "handoff_delivered")!;
      // The peer the kernel named is the child icecore spawned: qemu-user runs it in that process.
      expect(delivered.pid).toBe(run.events.find((e) => e.event === "child_spawned")!.pid);
      expect(run.stdout()).toMatch(/GET \/v1\/health -> 200 \{"status":"ok"\}/);
    }, 180_000);
  });
});
