/**
 * Issue 12 item 8: a program is judged by what it IS. Real files of this machine, copied, hard
 * linked and symlinked under harmless names into a scratch directory, must be recognised as the
 * shell, runner or loader they are; files that only look alike (same size, other bytes) and the
 * ordinary tools an author lists (ls, du, df, cat, a fixed tar/git/awk/sed/python argv) must pass.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, linkSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import * as v from "valibot";
import { checkCommand } from "../../src/commands/deny-rules.ts";
import { compilePolicy, PolicyError } from "../../src/commands/policy-loader.ts";
import { CommandDefinitionSchema } from "../../src/commands/policy-schema.ts";
import { identifyExecutable } from "../../src/commands/tool-identity.ts";
import { BUN, RECORDER, removeScratch, tempDir } from "./helpers.ts";

afterAll(removeScratch);

const dir = tempDir("icecore-identity-");
const DASH = realpathSync("/bin/sh");
const ENV = realpathSync("/usr/bin/env");

function rulesOf(executable: string, argv: string[] = [], params: Record<string, unknown> = {}): string[] {
  const def = v.parse(CommandDefinitionSchema, { description: "d", executable, argv, params });
  return checkCommand("t.cmd", def).map((x) => x.rule);
}

function messagesOf(executable: string, argv: string[] = []): string[] {
  const def = v.parse(CommandDefinitionSchema, { description: "d", executable, argv });
  return checkCommand("t.cmd", def).map((x) => x.message);
}

function copyAs(source: string, name: string): string {
  const p = join(dir, name);
  copyFileSync(source, p);
  chmodSync(p, 0o755);
  return p;
}

describe("a shell under another name", () => {
  test("a copy of the system shell in a temp dir is shell_copy, and the line says what it is a copy of", () => {
    const copy = copyAs(DASH, "report-tool");
    expect(rulesOf(copy, ["-c", "id"])).toContain("shell_copy");
    expect(messagesOf(copy).join("\n")).toContain(`a copy of `);
    expect(identifyExecutable(copy, copy).via?.how).toBe("content");
  });

  test("a copy of env (a runner) is shell_copy too", () => {
    expect(rulesOf(copyAs(ENV, "launcher"), ["id"])).toContain("shell_copy");
  });

  test("a copy of bash, when installed", () => {
    if (!existsSync("/usr/bin/bash")) return void console.log("skip bash copy: /usr/bin/bash is not installed");
    expect(rulesOf(copyAs(realpathSync("/usr/bin/bash"), "pretty-printer"))).toContain("shell_copy");
  });

  test("a hard link to the shell is the same file: shell_or_runner", () => {
    const link = join(dir, "hard-lister");
    if (statSync(dir).dev !== statSync(DASH).dev) return void console.log("skip hard link: the scratch directory is on another file system than the shell");
    linkSync(DASH, link);
    expect(rulesOf(link)).toContain("shell_or_runner");
    expect(messagesOf(link).join("\n")).toContain("the same file as");
  });

  test("a symlink to the shell is judged by its real path", () => {
    const link = join(dir, "soft-lister");
    symlinkSync(DASH, link);
    expect(rulesOf(link)).toContain("shell_or_runner");
  });

  test("control: a file of the shell's size with other bytes is not a shell (only a hash match counts)", () => {
    const lookalike = join(dir, "lookalike");
    writeFileSync(lookalike, Buffer.alloc(statSync(DASH).size, 0x90));
    chmodSync(lookalike, 0o755);
    expect(identifyExecutable(lookalike, lookalike).via).toBeNull();
    expect(rulesOf(lookalike)).toEqual([]);
  });

  test("control: a copy of a harmless tool is harmless", () => {
    expect(rulesOf(copyAs(realpathSync("/usr/bin/true"), "my-true"))).toEqual([]);
  });
});

describe("the dynamic loader", () => {
  const loader = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-armhf.so.3"].find((p) => existsSync(p));
  test("the system's loader, and a link to it named otherwise, are dynamic_loader", () => {
    if (!loader) return void console.log("skip loader: no glibc loader at the usual paths");
    expect(rulesOf(loader, ["/usr/bin/id"])).toContain("dynamic_loader");
    const alias = join(dir, "runner-helper");
    symlinkSync(loader, alias);
    expect(rulesOf(alias, ["/usr/bin/id"])).toContain("dynamic_loader");
    const copy = copyAs(realpathSync(loader), "helper.bin");
    expect(rulesOf(copy, ["/usr/bin/id"])).toContain("dynamic_loader");
    // Found in the loader directories themselves, not only through a /usr/bin/ld.so some systems have.
    expect(identifyExecutable(copy, copy).via?.names).toContain(basename(realpathSync(loader)));
  });
});

describe("tools that execute code through options or program text", () => {
  test("awk through /usr/bin/awk (an alternatives symlink) is recognised whatever it resolves to", () => {
    expect(rulesOf("/usr/bin/awk", ["{p}", "/etc/hostname"], { p: { type: "string" } })).toContain("command_executing_tool");
  });
  test("a copy of awk under another name is still awk", () => {
    expect(rulesOf(copyAs(realpathSync("/usr/bin/awk"), "columns"), ["{p}"], { p: { type: "string" } })).toContain("command_executing_tool");
  });
  test("sed with a caller's script or with a leading-dash param", () => {
    expect(rulesOf("/usr/bin/sed", ["{s}", "/etc/hostname"], { s: { type: "string" } })).toContain("command_executing_tool");
    expect(rulesOf("/usr/bin/sed", ["-n", "1p", "{f}"], { f: { type: "string", allowLeadingDash: true } })).toContain("code_option_injection");
  });
});

describe("no false positives on what an author reasonably lists", () => {
  const path = (roots: string[]) => ({ type: "path", roots });
  test.each([
    ["ls", "/usr/bin/ls", ["-la", "--", "{d}"], { d: path(["/srv"]) }],
    ["du", "/usr/bin/du", ["-sh", "--", "{d}"], { d: path(["/srv"]) }],
    ["df", "/usr/bin/df", ["-h"], {}],
    ["cat", "/usr/bin/cat", ["--", "{f}"], { f: path(["/srv"]) }],
    ["head", "/usr/bin/head", ["-n", "{n}", "--", "{f}"], { n: { type: "integer", min: 1, max: 100 }, f: path(["/srv"]) }],
    ["tar to a path archive", "/usr/bin/tar", ["-czf", "{out}", "-C", "/srv", "data"], { out: path(["/srv/backups"]) }],
    ["tar with an enum of flags", "/usr/bin/tar", ["{z}", "-cf", "/srv/b.tar", "/srv/data"], { z: { type: "string", enum: ["-z", "-j"], allowLeadingDash: true } }],
    ["git on a fixed repository", "/usr/bin/git", ["-C", "/srv/repo", "log", "--oneline", "-n", "{n}"], { n: { type: "integer", min: 1, max: 100 } }],
    ["awk with a fixed program", "/usr/bin/awk", ["-F", ":", "{print $1}", "--", "{f}"], { f: path(["/srv"]) }],
    ["sed with a fixed script", "/usr/bin/sed", ["-n", "1,5p", "--", "{f}"], { f: path(["/srv"]) }],
    ["sort", "/usr/bin/sort", ["--", "{f}"], { f: path(["/srv"]) }],
    ["python running a fixed script", "/usr/bin/python3", ["-I", "/opt/report.py", "{a}"], { a: { type: "string" } }],
    ["bun running a fixed script, a dash param after it", BUN, [RECORDER, "/tmp/out", "{a}"], { a: { type: "string", allowLeadingDash: true } }],
  ])("%s passes", (_label, executable, argv, params) => {
    if (!existsSync(executable as string)) return void console.log(`skip ${executable}: not installed`);
    expect(rulesOf(executable as string, argv as string[], params as Record<string, unknown>)).toEqual([]);
  });

  test("the built-in catalogue in extend mode, and a policy re-declaring apt-get the built-in's way, load", () => {
    const cat = compilePolicy({
      mode: "extend",
      commands: {
        "my.install": {
          description: "d",
          executable: "/usr/bin/apt-get",
          argv: ["-o", "APT::Cmd::Pattern-Only=true", "install", "-y", "--", "{names}"],
          params: { names: { type: "array", items: { type: "string", pattern: "[a-z0-9][a-z0-9+.-]*[a-z0-9+.]" }, maxItems: 5 } },
          elevate: true,
        },
      },
    });
    expect(cat.has("package.install")).toBe(true);
    expect(cat.has("my.install")).toBe(true);
  });

  test("one policy with many violations reports each, one line per violation", () => {
    try {
      compilePolicy({
        mode: "replace",
        commands: {
          "a.copy": { description: "d", executable: copyAs(DASH, "x-copy"), argv: [] },
          "a.tar": { description: "d", executable: "/usr/bin/tar", argv: ["-xf", "/a.tar", "--to-command", "{c}"], params: { c: { type: "string" } } },
        },
      });
      throw new Error("should have been refused");
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      const lines = (err as PolicyError).lines();
      expect(lines.some((l) => l.startsWith("shell_copy: a.copy (/commands/a.copy/executable): "))).toBe(true);
      expect(lines.some((l) => l.startsWith("param_is_code: a.tar (/commands/a.tar/argv/3): "))).toBe(true);
    }
  });
});
