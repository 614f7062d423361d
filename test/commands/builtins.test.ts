/**
 * SPEC §6 built-in catalogue against the real tools of this machine: `disk.list` runs lsblk,
 * `package.search` runs apt-cache, `system.info` runs in-process. Mutating commands
 * (`disk.mount`, `package.install`) are never run for real here; their argv is asserted, and
 * checked against the real tool's own syntax where the tool is present (apt-get in simulate mode,
 * udisksctl's help). Each skip prints its reason.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { loadPolicy } from "../../src/commands/policy-loader.ts";
import { buildArgv, validateArgs } from "../../src/commands/argv-builder.ts";
import { DEBIAN_PACKAGE_PATTERN, resolveExecutable, builtinCatalogue, deferredCatalogue } from "../../src/commands/catalogue.ts";
import { commandEnv, spawnArgv } from "../../src/commands/executor.ts";
import { testApp, removeScratch } from "./helpers.ts";

afterAll(removeScratch);

const catalogue = loadPolicy(undefined);
const t = await testApp({ catalogue });
const cmd = (name: string) => catalogue.get(name)!;

function skipUnless(name: string): boolean {
  const c = cmd(name);
  if (!c.available) console.log(`skip ${name}: ${c.unavailableReason}`);
  return c.available;
}

describe("system.info (in-process)", () => {
  test("hostname, os, kernel release, uptime, cpu count, memory", async () => {
    const res = await t.post("system.info", { args: {} });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { exit_code: number; stdout: string };
    expect(body.exit_code).toBe(0);
    const info = JSON.parse(body.stdout);
    expect(info).toMatchObject({ hostname: expect.any(String), kernel_release: expect.any(String), uptime_s: expect.any(Number), cpu_count: expect.any(Number) });
    expect(info.os.platform).toBe(process.platform);
    expect(info.memory.total_bytes).toBeGreaterThan(0);
    expect(cmd("system.info").executable).toBeNull();
  });
  test("takes no args", async () => {
    expect((await t.post("system.info", { args: { x: 1 } })).status).toBe(422);
  });
});

describe("disk.list (real lsblk)", () => {
  test("runs lsblk --json and answers its JSON", async () => {
    if (!skipUnless("disk.list")) return;
    expect(cmd("disk.list").executable).toStartWith("/");
    const res = await t.post("disk.list", { args: {} });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { exit_code: number; stdout: string; stderr: string };
    if (body.exit_code !== 0) {
      console.log(`skip disk.list output check: lsblk exited ${body.exit_code} here (${body.stderr.trim()})`);
      return;
    }
    const parsed = JSON.parse(body.stdout) as { blockdevices: Record<string, unknown>[] };
    expect(Array.isArray(parsed.blockdevices)).toBe(true);
    for (const dev of parsed.blockdevices) expect(Object.keys(dev).sort()).toEqual(["fstype", "label", "model", "mountpoints", "name", "size", "type"]);
  });
});

describe("package.search (real apt-cache)", () => {
  test("searches by name, with -- before the term", async () => {
    if (!skipUnless("package.search")) return;
    expect(buildArgv(cmd("package.search"), validateArgs(cmd("package.search"), { query: "bash" }))).toEqual(["search", "--names-only", "--", "bash"]);
    const res = await t.post("package.search", { args: { query: "coreutils" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { exit_code: number; stdout: string };
    expect(body.exit_code).toBe(0);
    if (body.stdout === "") console.log("note: apt lists are empty on this machine (no apt-get update); only the exit status is checked");
    else expect(body.stdout).toContain("coreutils");
  });
  test.each(["-o", "--config-file=/etc/shadow", "a b", "a;b", "x".repeat(65), "", "(.*)"])("refuses %j", async (query) => {
    expect((await t.post("package.search", { args: { query } })).status).toBe(422);
  });
  // Issue 12 item 6: apt-cache compiles the term as a POSIX ERE, so `.`, `+` and friends are operators.
  test.each(["g++", "lib.+", "python3.11", "a.b", "^curl", "curl$", "a|b", "a*", "a?", "[a]", "a{2}", "a\\b", "?name(x)", "~nx"])("refuses the regex-bearing term %j", (query) => {
    expect(() => validateArgs(cmd("package.search"), { query })).toThrow();
  });
  test.each(["coreutils", "python3", "libstdc", "G-C_C", "0ad"])("accepts the literal term %j", (query) => {
    expect(buildArgv(cmd("package.search"), validateArgs(cmd("package.search"), { query })).at(-1)).toBe(query);
  });
});

describe("disk.mount / disk.unmount (argv only: never mounted in tests)", () => {
  test.each(["/dev/sdb1", "/dev/nvme0n1p2", "/dev/vda", "/dev/mmcblk0p1", "/dev/loop7", "/dev/loop0", "/dev/sdaa10", "/dev/nvme10n1"])("builds udisksctl's syntax for %s", (device) => {
    for (const verb of ["mount", "unmount"]) {
      const c = cmd(`disk.${verb}`);
      // udisksctl(1): udisksctl mount|unmount {--object-path OBJECT | --block-device DEVICE} [--no-user-interaction]
      expect(buildArgv(c, validateArgs(c, { device }))).toEqual([verb, "--no-user-interaction", "-b", device]);
    }
  });
  // Issue 12 item 6: udisksctl matches -b by exact string against device nodes and their symlinks,
  // so a device has one spelling: the kernel's, without leading zeros.
  test.each(["/dev/sda; rm -rf /", "/dev/../etc/passwd", "sdb1", "/dev/sdb1 ", "-b", "/dev/sda\n/dev/sdb", "/dev/mapper/root", "/dev/sd", "/dev/disk/by-id/x", "/dev/sda01", "/dev/sda0", "/dev/nvme01n1", "/dev/nvme0n0", "/dev/nvme0n1p01", "/dev/loop007", "/dev/mmcblk00"])("refuses %j", (device) => {
    expect(() => validateArgs(cmd("disk.mount"), { device })).toThrow();
  });
  test("the real udisksctl accepts these options (when installed)", async () => {
    const udisks = resolveExecutable("udisksctl");
    if (!udisks.path) {
      console.log(`skip udisksctl syntax check: ${udisks.reason}`);
      return;
    }
    const help = Bun.spawnSync([udisks.path, "help"], { env: commandEnv([]), stdin: "ignore" });
    const text = help.stdout.toString() + help.stderr.toString();
    expect(text).toContain("mount");
    expect(text).toContain("--no-user-interaction");
    expect(text).toMatch(/-b|--block-device/);
  });
});

describe("package.install (argv only: never installed in tests)", () => {
  const c = cmd("package.install");
  test("elevated, long, and one argv element per validated name after --", () => {
    expect(c.elevate).toBe(true);
    expect(c.long).toBe(true);
    const values = validateArgs(c, { names: ["curl", "libc6-dev", "g++", "python3.11"] });
    expect(spawnArgv(c, values, "sudo")).toEqual([
      "/usr/bin/sudo", "-n", "--",
      c.executable!, "-o", "APT::Cmd::Pattern-Only=true", "install", "-y", "--no-install-recommends", "--", "curl", "libc6-dev", "g++", "python3.11",
    ]);
  });
  test.each([
    ["empty", []],
    ["21 names", Array.from({ length: 21 }, (_, i) => `pkg${i}`)],
    ["an option", ["-o", "APT::Get::Assume-Yes=1"]],
    ["uppercase", ["Curl"]],
    ["single character", ["a"]],
    ["a path", ["../x.deb"]],
    ["a version pin", ["curl=7.0"]],
    ["spaces", ["curl jq"]],
  ])("refuses %s", (_label, names) => {
    expect(() => validateArgs(c, { names })).toThrow();
  });
  // Issue 12 item 6: each name must mean exactly one package to apt-get (catalogue.ts DEBIAN_PACKAGE_PATTERN).
  test.each([
    ["curl-", "a trailing - is apt's remove modifier"],
    ["libc6-", "a trailing - is apt's remove modifier"],
    ["curl:amd64", "an architecture qualifier"],
    ["curl/bookworm", "a release selector"],
    ["?name(curl)", "an apt pattern"],
    ["~ncurl", "an apt pattern"],
    ["gnome^", "a task"],
    ["cur*", "a glob"],
    ["cur?", "a glob"],
    ["curl[4]", "a glob"],
    ["^curl", "an anchored regex"],
    ["lib|x", "a regex"],
    ["./x.deb", "a .deb file"],
    ["/tmp/x.deb", "a .deb file"],
    [".hidden", "a leading dot"],
  ])("refuses %j (%s)", (name) => {
    expect(() => validateArgs(c, { names: [name] })).toThrow();
  });
  test.each(["g++", "memtest86+", "ncbi-blast+", "libstdc++6", "python3.11", "libdb5.3++", "0ad", "coreutils", "lib.+"])("accepts the Debian name %j as one literal element", (name) => {
    expect(buildArgv(c, validateArgs(c, { names: [name] })).at(-1)).toBe(name);
  });
  test("every package name in this machine's APT index is accepted", () => {
    const apt = resolveExecutable("apt-cache");
    const listed = apt.realPath ? Bun.spawnSync([apt.realPath, "pkgnames"], { env: commandEnv([]), stdin: "ignore" }).stdout.toString().split("\n").filter(Boolean) : [];
    if (listed.length === 0) return void console.log("skip index-wide name check: no apt-cache or an empty APT index here");
    const re = new RegExp(`^(?:${DEBIAN_PACKAGE_PATTERN})$`);
    expect(listed.filter((n) => !re.test(n))).toEqual([]);
  });
  test("the real apt-get takes `lib.+` literally with the template's Pattern-Only, and as a regex without it (simulate mode)", () => {
    if (!skipUnless("package.install")) return;
    const argv = buildArgv(c, validateArgs(c, { names: ["lib.+"] }));
    expect(argv.slice(0, 2)).toEqual(["-o", "APT::Cmd::Pattern-Only=true"]);
    const simulate = (args: string[]) => {
      const r = Bun.spawnSync([c.executable!, "-s", ...args], { env: commandEnv([]), stdin: "ignore" });
      const out = r.stdout.toString() + r.stderr.toString();
      return { out, selected: out.split("\n").filter((l) => /^Inst |^Remv | is already the newest version/.test(l)).length };
    };
    const withoutPatternOnly = simulate(argv.slice(2));
    if (withoutPatternOnly.selected === 0) return void console.log("skip regex check: the APT index is empty here (no apt-get update)");
    // The attack as it was: an elevated "install" of one name selects many packages.
    expect(withoutPatternOnly.selected).toBeGreaterThan(10);
    // The template: one literal name, which no package has.
    const templated = simulate(argv);
    expect(templated.selected).toBe(0);
    expect(templated.out).toContain("Unable to locate package");
  });
  test("the real apt-get reads `<installed package>-` as removing it: that is why a trailing - is refused (simulate mode)", () => {
    if (!skipUnless("package.install")) return;
    const tail = (name: string) => ["-o", "APT::Cmd::Pattern-Only=true", "install", "-y", "--no-install-recommends", "--", `${name}-`];
    // A leaf package whose removal the resolver can plan on this machine (a system with held packages cannot plan every one).
    const installed = ["curl", "wget", "less", "openssl", "procps"].filter((p) => Bun.spawnSync(["dpkg-query", "-W", p], { stdin: "ignore" }).exitCode === 0);
    const removed = installed.find((p) => new RegExp(`^Remv ${p.replace("+", "\\+")} `, "m").test(Bun.spawnSync([c.executable!, "-s", ...tail(p)], { env: commandEnv([]), stdin: "ignore" }).stdout.toString()));
    if (removed === undefined) return void console.log(`skip remove-modifier check: apt could not plan removing any of ${installed.join(", ") || "(none installed)"}`);
    expect(() => validateArgs(c, { names: [`${removed}-`] })).toThrow();
  });
  test("--elevate-with none: 403 through the route, nothing started", async () => {
    const res = await t.post("package.install", { args: { names: ["curl"] } });
    expect(res.status).toBe(403);
    expect(t.jobs.running()).toEqual([]);
  });
  test("the real apt-get parses the built argv (simulate mode, when installed)", async () => {
    if (!skipUnless("package.install")) return;
    // Same argv, with apt-get's -s (simulate: no lock, no change) in front of the template.
    const argv = buildArgv(c, validateArgs(c, { names: ["coreutils"] }));
    const r = Bun.spawnSync([c.executable!, "-s", ...argv], { env: commandEnv([]), stdin: "ignore" });
    const out = r.stdout.toString() + r.stderr.toString();
    expect(out).not.toContain("Command line option");
    expect(out).not.toMatch(/E: Invalid operation/);
    expect([0, 100]).toContain(r.exitCode); // 100: package unknown in an empty index; the syntax was accepted
    // And a name after -- is taken as a package, never as an option.
    const dash = Bun.spawnSync([c.executable!, "-s", "install", "-y", "--no-install-recommends", "--", "-q"], { env: commandEnv([]), stdin: "ignore" });
    expect(dash.stdout.toString() + dash.stderr.toString()).toContain("Unable to locate package -q");
  });
});

describe("the deferred built-in catalogue (built when first read, off the start-up path)", () => {
  test("is not built until something reads it, then once, and reads as the catalogue itself", () => {
    let builds = 0;
    const catalogue = deferredCatalogue(() => (builds++, builtinCatalogue()));
    expect(builds).toBe(0);
    const direct = builtinCatalogue();
    expect(catalogue.size).toBe(direct.size);
    expect([...catalogue.keys()]).toEqual([...direct.keys()]);
    expect(catalogue.has("system.info")).toBe(true);
    expect(catalogue.get("system.info")?.name).toBe("system.info");
    expect([...catalogue].map(([name]) => name)).toEqual([...direct.keys()]);
    expect(builds).toBe(1);
  });
});
