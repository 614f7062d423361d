/**
 * Issue 12 ("hardening from adversarial testing"), items 6-8, attacked through the compiled
 * executable running as an unprivileged user: signed requests from a real child over the real TLS
 * API, and `policy check` / `run --policy` on policies that hand a caller arbitrary code. Each
 * attack is paired with a control showing the legitimate use still works.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, BUN, FIXTURES } from "../support/paths.ts";
import { asUser, canSwitchUsers, scratchDir, testUser, type TestUser } from "../support/users.ts";
import { readAudit, startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const CALLER = join(FIXTURES, "command-caller.ts");

interface CallResult {
  name: string;
  status: number;
  code: string | null;
  exit_code: number | null;
}

function chown(user: TestUser | null, path: string): void {
  if (user !== null) Bun.spawnSync(["chown", "-h", `${user.uid}:${user.gid}`, path]);
}

function writePolicy(dir: string, file: string, commands: Record<string, unknown>, mode = "replace"): string {
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify({ mode, commands }));
  chmodSync(path, 0o644);
  return path;
}

/** `dist/icecore <args>` as the unprivileged owner. */
function icecore(...args: string[]) {
  const r = Bun.spawnSync(asUser(owner, [BINARY, ...args]), { stdout: "pipe", stderr: "pipe", stdin: "ignore", timeout: 20_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Run icecore with a policy (or the built-ins) and a child that sends `calls`; the child's answers. */
async function callThroughApi(dir: string, policy: string | null, spec: Record<string, unknown>): Promise<CallResult[]> {
  const run = startIcecore({ user: owner, dir, args: policy ? ["--policy", policy] : [], child: [BUN, CALLER, JSON.stringify(spec)] });
  const { code } = await run.exited;
  expect({ code, stderr: code === 0 ? "" : run.stderr() }).toEqual({ code: 0, stderr: "" });
  return (run.fixtureReports()[0] as { results: CallResult[] }).results;
}

describe("item 6: built-in args mean exactly one thing to their tool", () => {
  test("package.install refuses `curl-` (apt: remove curl) with 422; package.search refuses regex terms; controls pass validation", async () => {
    const dir = scratchDir(owner, "attack-apt");
    const results = await callThroughApi(dir, null, {
      calls: [
        { name: "package.install", args: { names: ["curl-"] } },
        { name: "package.install", args: { names: ["coreutils", "libc6-"] } },
        { name: "package.search", args: { query: "lib.+" } },
        { name: "package.search", args: { query: "g++" } },
        // Controls: a real name with + passes validation and is stopped only by the missing elevation; a literal search runs.
        { name: "package.install", args: { names: ["g++", "memtest86+", "python3.11"] } },
        { name: "package.search", args: { query: "coreutils" } },
      ],
    });
    expect(results.map((r) => [r.name, r.status, r.code])).toEqual([
      ["package.install", 422, "validation_failed"],
      ["package.install", 422, "validation_failed"],
      ["package.search", 422, "validation_failed"],
      ["package.search", 422, "validation_failed"],
      ["package.install", 403, "elevation_unavailable"],
      ["package.search", 200, null],
    ]);
    expect(results[5]!.exit_code).toBe(0);
  }, 30_000);
});

describe("item 7: path roots and executables by real path", () => {
  test("a dangling symlink inside the root that points outside is refused; touch creates nothing outside; a swapped executable symlink changes nothing", async () => {
    const dir = scratchDir(owner, "attack-paths");
    const root = join(dir, "root");
    const outside = join(dir, "outside");
    const markers = join(dir, "markers");
    for (const d of [root, join(root, "sub"), outside, markers]) {
      mkdirSync(d);
      chown(owner, d);
    }
    const link = (target: string, path: string) => {
      symlinkSync(target, path);
      chown(owner, path);
    };
    link(join(outside, "created-by-touch"), join(root, "dangling-out"));
    link(join(root, "sub", "missing"), join(root, "dangling-in"));
    link(join(root, "sub"), join(root, "inside"));
    const tool = join(dir, "tool");
    link("/usr/bin/true", tool);
    const policy = writePolicy(dir, "policy.json", {
      "t.touch": { description: "touch a file under the root", executable: "/usr/bin/touch", argv: ["--", "{file}"], params: { file: { type: "path", roots: [root] } } },
      "t.tool": { description: "runs whatever tool pointed to at load", executable: tool, argv: [join(markers, "swapped")] },
    });

    const results = await callThroughApi(dir, policy, {
      repoint: { link: tool, target: "/usr/bin/touch" },
      calls: [
        { name: "t.touch", args: { file: join(root, "dangling-out") } },
        { name: "t.touch", args: { file: join(root, "dangling-in") } },
        { name: "t.touch", args: { file: join(root, "sub", "new") } },
        { name: "t.touch", args: { file: join(root, "inside", "via-link") } },
        { name: "t.tool", args: {} },
      ],
    });
    expect(results.map((r) => [r.name, r.status, r.exit_code])).toEqual([
      ["t.touch", 422, null],
      ["t.touch", 422, null],
      ["t.touch", 200, 0],
      ["t.touch", 200, 0],
      ["t.tool", 200, 0],
    ]);
    expect(existsSync(join(outside, "created-by-touch"))).toBe(false);
    expect(existsSync(join(root, "sub", "missing"))).toBe(false);
    expect(existsSync(join(root, "sub", "new"))).toBe(true);
    expect(existsSync(join(root, "sub", "via-link"))).toBe(true);
    // /usr/bin/true ran, as loaded: the child's swap to touch did not take effect.
    expect(existsSync(join(markers, "swapped"))).toBe(false);

    // Control: loaded after the swap, the same policy runs touch, so the marker can tell a swap.
    const again = await callThroughApi(dir, policy, { calls: [{ name: "t.tool", args: {} }] });
    expect(again.map((r) => [r.status, r.exit_code])).toEqual([[200, 0]]);
    expect(existsSync(join(markers, "swapped"))).toBe(true);
  }, 60_000);
});

describe("item 8: policies that hand the caller arbitrary code are refused", () => {
  const dir = scratchDir(owner, "attack-policies");
  const shellCopy = join(dir, "lister");
  copyFileSync(realpathSync("/bin/sh"), shellCopy);
  chmodSync(shellCopy, 0o755);
  const loader = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"].find((p) => existsSync(p)) ?? "/lib64/ld-linux-x86-64.so.2";
  const str = { type: "string", maxLength: 256 };
  const dash = { type: "string", maxLength: 256, allowLeadingDash: true };
  const anyPath = { type: "path", roots: ["/tmp"] };

  /** [command, rule, definition]: each one let a caller run code and passed `policy check` before. */
  const EVIL: [string, string, Record<string, unknown>][] = [
    ["x.shellcopy", "shell_copy", { executable: shellCopy, argv: ["-c", "{cmd}"], params: { cmd: str } }],
    ["x.awk", "command_executing_tool", { executable: "/usr/bin/awk", argv: ["{prog}"], params: { prog: str } }],
    ["x.sed", "command_executing_tool", { executable: "/usr/bin/sed", argv: ["-n", "{script}", "/etc/hostname"], params: { script: str } }],
    ["x.perl", "interpreter_script_required", { executable: "/usr/bin/perl", argv: ["{script}"], params: { script: anyPath } }],
    ["x.python", "interpreter_script_required", { executable: "/usr/bin/python3", argv: ["-m", "{module}"], params: { module: str } }],
    ["x.git", "param_is_code", { executable: "/usr/bin/git", argv: ["-c", "{config}", "status"], params: { config: str } }],
    ["x.tar", "param_is_code", { executable: "/usr/bin/tar", argv: ["-xf", "/tmp/a.tar", "--to-command", "{cmd}"], params: { cmd: str } }],
    ["x.tarcheckpoint", "param_is_code", { executable: "/usr/bin/tar", argv: ["-cf", "/tmp/b.tar", "--checkpoint=1", "--checkpoint-action", "{action}", "/etc/hostname"], params: { action: str } }],
    ["x.zip", "param_is_code", { executable: "/usr/bin/zip", argv: ["-T", "-TT", "{cmd}", "/tmp/a.zip", "/etc/hostname"], params: { cmd: str } }],
    ["x.rsync", "param_is_code", { executable: "/usr/bin/rsync", argv: ["-a", "-e", "{rsh}", "h:/x", "/tmp/y"], params: { rsh: str } }],
    ["x.ssh", "param_is_code", { executable: "/usr/bin/ssh", argv: ["-o", "{option}", "localhost", "true"], params: { option: str } }],
    ["x.vim", "command_executing_tool", { executable: "/usr/bin/vim", argv: ["-es", "--", "{file}"], params: { file: anyPath } }],
    ["x.less", "command_executing_tool", { executable: "/usr/bin/less", argv: ["--", "{file}"], params: { file: anyPath } }],
    ["x.make", "command_executing_tool", { executable: "/usr/bin/make", argv: ["-f", "{makefile}"], params: { makefile: anyPath } }],
    ["x.loader", "dynamic_loader", { executable: loader, argv: ["{program}"], params: { program: anyPath } }],
    ["x.setarch", "shell_or_runner", { executable: "/usr/bin/setarch", argv: ["x86_64", "{program}"], params: { program: anyPath } }],
    ["x.prlimit", "shell_or_runner", { executable: "/usr/bin/prlimit", argv: ["--", "{program}"], params: { program: anyPath } }],
    ["x.aptopt", "code_option_injection", { executable: "/usr/bin/apt-get", argv: ["{option}", "update"], params: { option: dash } }],
    ["x.find", "code_option_injection", { executable: "/usr/bin/find", argv: ["/tmp", "{expr}"], params: { expr: { type: "array", items: dash, maxItems: 8 } } }],
  ];

  test.each(EVIL)("policy check refuses %s with %s (exit 78, one line naming command, rule and why)", (name, rule, def) => {
    const file = writePolicy(dir, `${name}.json`, { [name]: { description: "attack", ...def } });
    const r = icecore("policy", "check", file);
    expect(r.code).toBe(78);
    const line = r.stderr.split("\n").find((l) => l.includes(`: ${rule}: ${name} (`));
    expect(line).toBeDefined();
    expect(line!).toMatch(new RegExp(`^icecore: policy ${file.replaceAll(".", "\\.")}: ${rule}: ${name} \\(/commands/${name.replace(".", "\\.")}/[a-z0-9/]+\\): .{40,}$`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test("a hard link to the shell under another name is refused too", () => {
    const hard = join(dir, "hard-lister");
    if (statSync(dir).dev !== statSync(realpathSync("/bin/sh")).dev) return void console.log("skip hard link: scratch and /bin/sh are on different file systems");
    linkSync(realpathSync("/bin/sh"), hard);
    const r = icecore("policy", "check", writePolicy(dir, "hard.json", { "x.hard": { description: "attack", executable: hard, argv: [] } }));
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("shell_or_runner: x.hard");
  });

  test("control: reasonable tools with fixed or bounded argv pass (ls, du, df, cat, tar to a path, awk/sed with fixed programs, python with a fixed script)", () => {
    const path = { type: "path", roots: ["/srv"] };
    const file = writePolicy(dir, "good.json", {
      "g.ls": { description: "d", executable: "/usr/bin/ls", argv: ["-la", "--", "{d}"], params: { d: path } },
      "g.du": { description: "d", executable: "/usr/bin/du", argv: ["-sh", "--", "{d}"], params: { d: path } },
      "g.df": { description: "d", executable: "/usr/bin/df", argv: ["-h"] },
      "g.cat": { description: "d", executable: "/usr/bin/cat", argv: ["--", "{f}"], params: { f: path } },
      "g.tar": { description: "d", executable: "/usr/bin/tar", argv: ["-czf", "{out}", "-C", "/srv", "data"], params: { out: path } },
      "g.awk": { description: "d", executable: "/usr/bin/awk", argv: ["-F", ":", "{print $1}", "--", "{f}"], params: { f: path } },
      "g.sed": { description: "d", executable: "/usr/bin/sed", argv: ["-n", "1,5p", "--", "{f}"], params: { f: path } },
      "g.python": { description: "d", executable: "/usr/bin/python3", argv: ["-I", "/opt/report.py", "{a}"], params: { a: { type: "string", pattern: "[a-z]+" } } },
    }, "extend");
    const r = icecore("policy", "check", file);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/: ok \(\d+ commands\)\n$/);
  });

  test("run --policy with a real payload: refused at start (78), the payload never runs", async () => {
    const markers = scratchDir(owner, "attack-markers");
    const archive = join(dir, "a.tar");
    Bun.spawnSync(["tar", "-cf", archive, "-C", "/etc", "hostname"]);
    chmodSync(archive, 0o644);
    const attacks: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ["x.shellcopy", { executable: shellCopy, argv: ["-c", "{cmd}"], params: { cmd: str } }, { cmd: `touch ${markers}/shellcopy` }],
      ["x.tar", { executable: "/usr/bin/tar", argv: ["-xf", archive, "--to-command", "{cmd}"], params: { cmd: str } }, { cmd: `touch ${markers}/tar` }],
      ["x.awk", { executable: "/usr/bin/awk", argv: ["{prog}"], params: { prog: str } }, { prog: `BEGIN { system("touch ${markers}/awk") }` }],
    ];
    for (const [name, def, args] of attacks) {
      const policy = writePolicy(dir, `run-${name}.json`, { [name]: { description: "attack", ...def } }, "extend");
      const run = startIcecore({ user: owner, dir: scratchDir(owner, "attack-run"), args: ["--policy", policy], child: [BUN, CALLER, JSON.stringify({ calls: [{ name, args }] })] });
      const { code } = await run.exited;
      expect({ name, code }).toEqual({ name, code: 78 });
      expect(run.errors.join("\n")).toContain(`: ${name} (`);
      expect(run.fixtureReports()).toEqual([]);
      expect(existsSync(join(markers, name.slice(2)))).toBe(false);
      expect(existsSync(run.auditPath) ? readAudit(run.auditPath).filter((r) => r.event === "command") : []).toEqual([]);
    }
  }, 60_000);
});
