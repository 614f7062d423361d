/**
 * SPEC §6 policy loading: schema (strict objects), every deny rule tripped by a real policy
 * (table test), all violations reported at once, extend/replace, symlinked shells, exit 78, and
 * the published JSON Schema coming from the validating schema.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { builtinCatalogue, builtinDefinitions, resolveExecutable } from "../../src/commands/catalogue.ts";
import { checkCommand, DENY_RULES } from "../../src/commands/deny-rules.ts";
import { compilePolicy, describeCommands, loadPolicy, PolicyError } from "../../src/commands/policy-loader.ts";
import { CommandDefinitionSchema } from "../../src/commands/policy-schema.ts";
import { BUN, RECORDER, tempDir, removeScratch } from "./helpers.ts";

afterAll(removeScratch);

const dir = tempDir();
// A harmless-looking name that is really a shell: the rule must see through the symlink.
const disguisedShell = join(dir, "harmless-tool");
symlinkSync("/bin/sh", disguisedShell);
const fakeBin = join(dir, "bin");
mkdirSync(fakeBin);
function fakeTool(name: string): string {
  const p = join(fakeBin, name);
  writeFileSync(p, "#!/nonexistent\n");
  chmodSync(p, 0o755);
  return p;
}

// A byte-for-byte copy of the system's shell under a harmless name (docs/policy-trust-model.md).
const shellCopy = join(dir, "lister");
copyFileSync(realpathSync("/bin/sh"), shellCopy);
chmodSync(shellCopy, 0o755);

const ok = { description: "d", executable: "/usr/bin/true", argv: [] as string[] };

/** Every rule, a command that trips it, and nothing else. */
const RULE_TABLE: [rule: string, def: Record<string, unknown>][] = [
  ["relative_executable", { ...ok, executable: "bin/tool" }],
  ["relative_executable", { ...ok, executable: "true" }],
  ["shell_or_runner", { ...ok, executable: "/bin/sh" }],
  ["shell_or_runner", { ...ok, executable: "/usr/bin/bash" }],
  ["shell_or_runner", { ...ok, executable: disguisedShell }],
  ["shell_or_runner", { ...ok, executable: "/usr/bin/env", argv: ["true"] }],
  ["shell_or_runner", { ...ok, executable: "/usr/bin/xargs" }],
  ["shell_or_runner", { ...ok, executable: fakeTool("busybox") }],
  ["shell_or_runner", { ...ok, executable: "/usr/bin/timeout", argv: ["5", "true"] }],
  ["privilege_tool", { ...ok, executable: "/usr/bin/sudo" }],
  ["privilege_tool", { ...ok, executable: fakeTool("pkexec") }],
  ["privilege_tool", { ...ok, executable: "/usr/sbin/chroot" }],
  ["destructive_tool", { ...ok, executable: "/bin/rm" }],
  ["destructive_tool", { ...ok, executable: "/bin/dd" }],
  ["destructive_tool", { ...ok, executable: fakeTool("mkfs.ext4") }],
  ["destructive_tool", { ...ok, executable: fakeTool("wipefs") }],
  ["destructive_tool", { ...ok, executable: fakeTool("shred") }],
  ["interpreter_inline_code", { ...ok, executable: fakeTool("python3.11"), argv: ["-c", "print(1)"] }],
  ["interpreter_inline_code", { ...ok, executable: fakeTool("perl"), argv: ["-ne", "print"] }],
  ["interpreter_inline_code", { ...ok, executable: BUN, argv: ["--eval", "1"] }],
  ["interpreter_inline_code", { ...ok, executable: fakeTool("osascript"), argv: ["-e", "beep"] }],
  [
    "interpreter_inline_code",
    { ...ok, executable: BUN, argv: ["{x}", RECORDER], params: { x: { type: "string", allowLeadingDash: true } } },
  ],
  ["find_exec", { ...ok, executable: "/usr/bin/find", argv: ["/tmp", "-exec", "true", ";"] }],
  // Issue 12 item 8: programs that run code through their own options, scripts or nature.
  ["shell_copy", { ...ok, executable: shellCopy }],
  ["shell_or_runner", { ...ok, executable: fakeTool("setarch"), argv: ["x86_64", "/usr/bin/id"] }],
  ["shell_or_runner", { ...ok, executable: fakeTool("linux64"), argv: ["/usr/bin/id"] }],
  ["shell_or_runner", { ...ok, executable: fakeTool("prlimit"), argv: ["/usr/bin/id"] }],
  ["dynamic_loader", { ...ok, executable: fakeTool("ld-linux-x86-64.so.2"), argv: ["/usr/bin/id"] }],
  ["dynamic_loader", { ...ok, executable: fakeTool("ld-linux-aarch64.so.1"), argv: ["/usr/bin/id"] }],
  ["command_executing_tool", { ...ok, executable: fakeTool("vim"), argv: ["-es"] }],
  ["command_executing_tool", { ...ok, executable: fakeTool("less"), argv: ["/etc/hostname"] }],
  ["command_executing_tool", { ...ok, executable: fakeTool("make"), argv: ["-C", "/srv"] }],
  ["command_executing_tool", { ...ok, executable: fakeTool("sqlite3"), argv: ["/srv/db", "{sql}"], params: { sql: { type: "string" } } }],
  ["command_executing_tool", { ...ok, executable: fakeTool("gawk"), argv: ["{prog}", "/etc/hostname"], params: { prog: { type: "string" } } }],
  ["command_executing_tool", { ...ok, executable: fakeTool("sed"), argv: ["-n", "{script}", "/etc/hostname"], params: { script: { type: "string" } } }],
  ["interpreter_script_required", { ...ok, executable: fakeTool("perl"), argv: ["{script}"], params: { script: { type: "path", roots: ["/tmp"] } } }],
  ["interpreter_script_required", { ...ok, executable: fakeTool("python3"), argv: ["-m", "http.server"] }],
  ["interpreter_script_required", { ...ok, executable: BUN, argv: ["x", "cowsay"] }],
  ["interpreter_script_required", { ...ok, executable: fakeTool("ruby"), argv: [] }],
  ["param_is_code", { ...ok, executable: fakeTool("tar"), argv: ["-xf", "/srv/a.tar", "--to-command", "{cmd}"], params: { cmd: { type: "string" } } }],
  ["param_is_code", { ...ok, executable: fakeTool("tar"), argv: ["-czf", "{out}", "/srv/data"], params: { out: { type: "string" } } }],
  ["param_is_code", { ...ok, executable: fakeTool("git"), argv: ["-c", "{cfg}", "status"], params: { cfg: { type: "string" } } }],
  ["param_is_code", { ...ok, executable: fakeTool("rsync"), argv: ["-a", "-e", "{rsh}", "/srv/a", "/srv/b"], params: { rsh: { type: "string" } } }],
  ["param_is_code", { ...ok, executable: fakeTool("ssh"), argv: ["-o", "{opt}", "host"], params: { opt: { type: "string" } } }],
  ["param_is_code", { ...ok, executable: fakeTool("zip"), argv: ["-T", "-TT", "{cmd}", "/srv/a.zip", "/srv/f"], params: { cmd: { type: "string" } } }],
  ["param_is_code", { ...ok, executable: fakeTool("apt-get"), argv: ["install", "-y", "--", "{deb}"], params: { deb: { type: "path", roots: ["/tmp"] } } }],
  ["param_is_code", { ...ok, executable: fakeTool("awk"), argv: ["-f", "{prog}", "/etc/hostname"], params: { prog: { type: "path", roots: ["/tmp"] } } }],
  ["code_option_injection", { ...ok, executable: fakeTool("git"), argv: ["log", "{rev}"], params: { rev: { type: "string", allowLeadingDash: true } } }],
  ["code_option_injection", { ...ok, executable: fakeTool("apt-get"), argv: ["{opt}", "update"], params: { opt: { type: "string", allowLeadingDash: true } } }],
  ["code_option_injection", { ...ok, executable: fakeTool("find"), argv: ["/srv", "{expr}"], params: { expr: { type: "array", items: { type: "string", allowLeadingDash: true }, maxItems: 4 } } }],
  ["code_option_injection", { ...ok, executable: fakeTool("sort"), argv: ["{opt}", "/etc/hostname"], params: { opt: { type: "string", allowLeadingDash: true } } }],
  ["placeholder_in_larger_element", { ...ok, argv: ["--file={p}"], params: { p: { type: "string" } } }],
  ["unknown_placeholder", { ...ok, argv: ["{nope}"] }],
  ["unknown_placeholder", { ...ok, argv: ["{Device}"], params: {} }],
  ["unused_param", { ...ok, argv: [], params: { p: { type: "boolean" } } }],
  ["enum_value_leading_dash", { ...ok, argv: ["{mode}"], params: { mode: { type: "string", enum: ["-l", "all"] } } }],
  ["env_allow_forbidden", { ...ok, env_allow: ["LD_PRELOAD"] }],
  ["env_allow_forbidden", { ...ok, env_allow: ["PATH"] }],
  ["env_allow_forbidden", { ...ok, env_allow: ["TAR_OPTIONS"] }],
  ["env_allow_forbidden", { ...ok, env_allow: ["APT_CONFIG"] }],
];

function violationsOf(policy: unknown): { rule: string; command: string }[] {
  try {
    compilePolicy(policy);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as PolicyError).violations;
  }
  return [];
}

describe("deny rules", () => {
  test.each(RULE_TABLE)("%s trips on %j", (rule, def) => {
    const violations = violationsOf({ mode: "replace", commands: { "t.cmd": def } });
    expect(violations.length).toBeGreaterThan(0);
    expect(violations).toContainEqual(expect.objectContaining({ rule, command: "t.cmd" }));
  });

  test("the table covers every rule", () => {
    expect(new Set(RULE_TABLE.map(([r]) => r))).toEqual(new Set(DENY_RULES));
  });

  test("the system's own /bin/sh (a symlink to dash on Debian) is caught by its realpath too", () => {
    const violations = violationsOf({ mode: "replace", commands: { "t.sh": { ...ok, executable: "/bin/sh" } } });
    expect(violations.map((x) => x.rule)).toContain("shell_or_runner");
  });

  test("a leading-dash param AFTER an interpreter's script operand belongs to the script and is allowed", () => {
    const cat = compilePolicy({ mode: "replace", commands: { "t.rec": { ...ok, executable: BUN, argv: [RECORDER, "{x}"], params: { x: { type: "string", allowLeadingDash: true } } } } });
    expect(cat.get("t.rec")?.available).toBe(true);
  });

  test("an interpreter running a script file (no -c/-e) is allowed", () => {
    const cat = compilePolicy({ mode: "replace", commands: { "t.rec": { ...ok, executable: BUN, argv: [RECORDER, "/tmp/x", "--", "{x}"], params: { x: { type: "string" } } } } });
    expect(cat.get("t.rec")?.available).toBe(true);
  });

  test("every violation of every command is returned, each with its rule and command", () => {
    const violations = violationsOf({
      mode: "replace",
      commands: {
        "a.one": { ...ok, executable: "/bin/bash", argv: ["-c", "{cmd}"] },
        "a.two": { ...ok, executable: "rm", argv: ["--x={p}"], params: { p: { type: "string" }, q: { type: "integer" } } },
      },
    });
    const got = violations.map((x) => `${x.command}:${x.rule}`).sort();
    expect(got).toEqual(
      [
        "a.one:shell_or_runner",
        "a.one:unknown_placeholder",
        "a.two:destructive_tool",
        "a.two:placeholder_in_larger_element",
        "a.two:relative_executable",
        "a.two:unused_param",
        "a.two:unused_param",
      ].sort(),
    );
  });

  test("built-in definitions pass every rule once resolved", () => {
    for (const platform of ["linux", "darwin"] as const) {
      for (const [name, input] of Object.entries(builtinDefinitions(platform))) {
        const def = v.parse(CommandDefinitionSchema, input);
        const abs = { ...def, executable: resolveExecutable(def.executable).path ?? `/usr/bin/${def.executable}` };
        expect(checkCommand(name, abs)).toEqual([]);
      }
    }
  });
});

describe("policy schema", () => {
  const schemaCases: [string, unknown][] = [
    ["unknown top-level field", { mode: "replace", commands: {}, extra: 1 }],
    ["missing mode", { commands: {} }],
    ["bad mode", { mode: "merge", commands: {} }],
    ["unknown command field", { mode: "replace", commands: { "t.x": { ...ok, timeout: 5 } } }],
    ["unknown param field", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "string", allowLeadingDashes: true } } } } }],
    ["bad command name", { mode: "replace", commands: { "Disk.Mount": ok } }],
    ["command name with slash", { mode: "replace", commands: { "disk/mount": ok } }],
    ["invalid regex", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "string", pattern: "([a-z" } } } } }],
    ["unknown param type", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "float" } } } } }],
    ["relative path root", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "path", roots: ["tmp"] } } } } }],
    ["array without maxItems", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "array", items: { type: "string" } } } } } }],
    ["array of integers", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "array", items: { type: "integer" }, maxItems: 3 } } } } }],
    ["min > max", { mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "integer", min: 5, max: 1 } } } } }],
    ["NUL in argv", { mode: "replace", commands: { "t.x": { ...ok, argv: ["a\u0000b"] } } }],
    ["huge max_output_bytes", { mode: "replace", commands: { "t.x": { ...ok, max_output_bytes: 1e12 } } }],
    ["not an object", []],
  ];
  test.each(schemaCases)("refuses %s with policy_schema", (_name, policy) => {
    const violations = violationsOf(policy);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations.every((x) => x.rule === "policy_schema")).toBe(true);
  });

  test("defaults: max_output_bytes 1 MiB, long/elevate false, env_allow empty", () => {
    const cat = compilePolicy({ mode: "replace", commands: { "t.x": ok } });
    const c = cat.get("t.x")!;
    expect(c.maxOutputBytes).toBe(1024 * 1024);
    expect(c.long).toBe(false);
    expect(c.elevate).toBe(false);
    expect(c.envAllow).toEqual([]);
    expect(c.timeoutMs).toBe(30_000);
  });
});

describe("loadPolicy", () => {
  test("no file: the built-in catalogue", () => {
    const cat = loadPolicy(undefined);
    expect([...cat.keys()].sort()).toEqual(["disk.list", "disk.mount", "disk.unmount", "package.install", "package.search", "system.info"]);
    expect(cat.get("system.info")!.available).toBe(true);
    expect(cat.get("package.install")!.elevate).toBe(true);
    expect(cat.get("package.install")!.long).toBe(true);
  });

  test("extend keeps the built-ins and adds; replace keeps only the policy", () => {
    const file = join(dir, "extend.json");
    writeFileSync(file, JSON.stringify({ mode: "extend", commands: { "t.true": ok } }));
    expect([...loadPolicy(file).keys()]).toEqual(expect.arrayContaining(["system.info", "disk.list", "t.true"]));
    writeFileSync(file, JSON.stringify({ mode: "replace", commands: { "t.true": ok } }));
    expect([...loadPolicy(file).keys()]).toEqual(["t.true"]);
  });

  test("a missing tool makes the command unavailable, not a load error", () => {
    const cat = compilePolicy({ mode: "replace", commands: { "t.gone": { ...ok, executable: "/nonexistent/tool" } } });
    expect(cat.get("t.gone")!.available).toBe(false);
    expect(builtinCatalogue({ searchPath: "/nonexistent" }).get("disk.list")!.available).toBe(false);
  });

  test("unreadable and malformed files are PolicyErrors with exit code 78", () => {
    for (const [content, rule] of [
      [null, "policy_unreadable"],
      ["{not json", "policy_json"],
    ] as const) {
      const file = join(dir, `bad-${rule}.json`);
      if (content !== null) writeFileSync(file, content);
      try {
        loadPolicy(file);
        throw new Error("should have thrown");
      } catch (err) {
        expect(err).toBeInstanceOf(PolicyError);
        expect((err as PolicyError).exitCode).toBe(78);
        expect((err as PolicyError).violations[0]!.rule).toBe(rule);
        expect((err as PolicyError).lines()[0]).toStartWith(rule + ":");
      }
    }
  });
});

describe("describeCommands", () => {
  test("lists name, description, elevated, long, available and the args JSON Schema", () => {
    const { commands } = describeCommands(loadPolicy(undefined));
    const install = commands.find((c) => c.name === "package.install")!;
    expect(install).toMatchObject({ elevated: true, long: true });
    expect(install.args).toMatchObject({
      type: "object",
      additionalProperties: false,
      required: ["names"],
      properties: { names: { type: "array", minItems: 1, maxItems: 20, items: { type: "string", maxLength: 128, not: { pattern: "^-" } } } },
    });
    const search = commands.find((c) => c.name === "package.search")!;
    expect((search.args as { properties: { query: { maxLength: number } } }).properties.query.maxLength).toBe(64);
    expect(commands.find((c) => c.name === "system.info")!.args).toMatchObject({ type: "object", additionalProperties: false });
    expect(JSON.parse(JSON.stringify(commands))).toEqual(commands);
  });

  test("the published pattern is the one enforced", () => {
    const cat = compilePolicy({ mode: "replace", commands: { "t.x": { ...ok, argv: ["{p}"], params: { p: { type: "string", pattern: "[a-z]+|[0-9]+" } } } } });
    const schema = describeCommands(cat).commands[0]!.args as { properties: { p: { pattern: string } } };
    const re = new RegExp(schema.properties.p.pattern);
    // Alternation anchored as a whole: "abc1" is neither all letters nor all digits.
    expect(re.test("abc")).toBe(true);
    expect(re.test("abc1")).toBe(false);
  });
});
