/**
 * SPEC §6: the load-time rules a policy command must pass. Each rule has a stable name (printed by
 * `icecore policy check`, asserted by tests, safe to grep for in CI logs) and EVERY violation of
 * every command is returned, so an author fixes a policy in one round instead of one per error.
 *
 * Why these rules: the argv-array execution and the param schemas stop injection THROUGH the
 * arguments; these rules stop a policy from allow-listing something that is arbitrary execution by
 * construction (a shell, `env`, `sudo`, `python -c`), that destroys data by design (`rm`, `dd`,
 * `mkfs`), or whose template defeats the one-placeholder-one-element rule (`--file={p}`).
 *
 * Tool names are checked on the basename of BOTH the configured path and its realpath, so a
 * symlink (`/usr/bin/sh -> dash`, `/opt/x/harmless -> /bin/bash`) cannot hide a shell.
 */
import { realpathSync } from "node:fs";
import { basename, isAbsolute } from "node:path";
import type { CommandDefinition } from "./policy-schema.ts";

export interface Violation {
  /** Stable rule name, e.g. `shell_or_runner`. */
  rule: string;
  /** The command the violation belongs to (`(policy)` for file-level problems). */
  command: string;
  /** What is wrong, for a human. */
  message: string;
  /** Where in the policy file, as a JSON Pointer, when known. */
  path?: string;
}

/** Names of every rule this module can report (the test table is checked against this list). */
export const DENY_RULES = [
  "relative_executable",
  "shell_or_runner",
  "privilege_tool",
  "destructive_tool",
  "interpreter_inline_code",
  "find_exec",
  "placeholder_in_larger_element",
  "unknown_placeholder",
  "unused_param",
  "enum_value_leading_dash",
  "env_allow_forbidden",
] as const;
export type DenyRule = (typeof DENY_RULES)[number];

type NameMatcher = (base: string) => boolean;

function names(...list: string[]): NameMatcher {
  const set = new Set(list);
  return (base) => set.has(base);
}

function anyOf(...matchers: (NameMatcher | RegExp)[]): NameMatcher {
  return (base) => matchers.some((m) => (m instanceof RegExp ? m.test(base) : m(base)));
}

/** Shells, and programs whose job is to run another program named in their arguments. */
const isShellOrRunner = anyOf(
  names(
    // shells
    "sh", "bash", "rbash", "zsh", "dash", "ash", "ksh", "ksh93", "mksh", "pdksh", "oksh", "yash", "fish",
    "csh", "tcsh", "elvish", "nu", "xonsh", "pwsh", "powershell", "cmd", "cmd.exe", "rc", "es", "busybox",
    "toybox",
    // command runners
    "env", "xargs", "nohup", "timeout", "nice", "ionice", "renice", "setsid", "script", "watch", "stdbuf",
    "unbuffer", "flock", "chrt", "taskset", "unshare", "nsenter", "firejail", "bwrap", "strace", "ltrace",
    "gdb", "lldb", "valgrind", "time", "parallel", "at", "batch", "systemd-run", "expect", "screen", "tmux",
    "start-stop-daemon", "run-parts", "cgexec", "caffeinate", "npx", "bunx", "pnpx", "uvx", "pipx",
  ),
);

const isPrivilegeTool = names(
  "sudo", "sudoedit", "su", "doas", "pkexec", "runuser", "setpriv", "chroot", "sg", "newgrp", "capsh",
  "setcap", "run0", "calife", "ksu",
);

const isDestructiveTool = anyOf(
  names(
    "rm", "dd", "shred", "wipefs", "fdisk", "sfdisk", "cfdisk", "gdisk", "sgdisk", "cgdisk", "parted",
    "blkdiscard", "mke2fs", "mkswap", "mkntfs", "mkdosfs", "newfs", "srm", "wipe",
  ),
  /^mkfs(\..+)?$/,
  /^newfs_.+$/,
);

/** Programs that execute code given inline on their command line. */
const isInterpreter = anyOf(
  /^(python|pypy)[0-9.]*$/,
  /^perl[0-9.]*$/,
  /^(ruby|jruby|irb)[0-9.]*$/,
  /^php[0-9.]*(-cli)?$/,
  /^lua(jit)?[0-9.]*$/,
  /^(tclsh|wish)[0-9.]*$/,
  /^guile[0-9.]*$/,
  names(
    "node", "nodejs", "bun", "bun.exe", "deno", "osascript", "Rscript", "R", "julia", "racket", "sbcl",
    "jshell", "groovy", "scala", "kotlin", "erl", "escript", "elixir", "iex", "clisp", "ecl",
  ),
);

/** Options that take inline code, in short clusters (`-c`, `-Ic`, `-ne`) or long form. */
function isInlineCodeOption(arg: string): boolean {
  if (/^-[A-Za-z0-9]*[ceE][A-Za-z0-9]*$/.test(arg)) return true; // -c, -e, -E and clusters like -Sc, -ne
  if (arg === "-r" || arg === "-p") return true; // php -r, node -p
  if (/^--(eval|print|command|exec|execute|code|expression|input)(=.*)?$/.test(arg)) return true;
  if (arg === "eval" || arg === "repl") return true; // deno eval, deno repl
  return false;
}

const FIND_EXEC = new Set(["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"]);

/**
 * Variables that change how a program loads code or parses its input; an allow-list naming one
 * would let icecore's own environment (or whoever set it) inject code into every run.
 */
const FORBIDDEN_ENV = anyOf(
  /^LD_/,
  /^DYLD_/,
  /^(PYTHON|PERL|RUBY|NODE_|BUN_|DENO_|LUA_|GCONV_|MALLOC_|GLIBC_)/,
  names("PATH", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS4", "CDPATH", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "RESOLV_HOST_CONF", "NLSPATH", "TMPDIR", "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "EDITOR", "VISUAL", "PAGER", "SUDO_ASKPASS", "SSH_ASKPASS"),
);

/** `{name}` as a whole argv element. The identifier class is wider than PARAM_NAME_RE on purpose: `{Device}` is a typo to report, not a literal to pass. */
const WHOLE_PLACEHOLDER = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const EMBEDDED_PLACEHOLDER = /\{[A-Za-z_][A-Za-z0-9_]*\}/;

/** The param a whole-element placeholder names, or null for a literal. */
export function placeholderName(element: string): string | null {
  const m = WHOLE_PLACEHOLDER.exec(element);
  return m ? m[1]! : null;
}

function safeRealpath(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null; // missing: the command is listed as unavailable; the configured name is still checked
  }
}

/** Check one command definition. `name` is the catalogue name; `base` is the JSON Pointer of the definition in its file. */
export function checkCommand(name: string, def: CommandDefinition, base = `/commands/${name}`): Violation[] {
  const out: Violation[] = [];
  const add = (rule: DenyRule, message: string, path?: string) => out.push({ rule, command: name, message, ...(path ? { path } : {}) });

  const exe = def.executable;
  if (!isAbsolute(exe)) {
    add("relative_executable", `executable "${exe}" is not an absolute path; icecore never searches PATH for a policy command`, `${base}/executable`);
  }
  const real = isAbsolute(exe) ? safeRealpath(exe) : null;
  const bases = [...new Set([basename(exe), ...(real ? [basename(real)] : [])])];
  const shown = real && real !== exe ? `"${exe}" (-> "${real}")` : `"${exe}"`;

  if (bases.some(isShellOrRunner)) {
    add("shell_or_runner", `executable ${shown} is a shell or command runner; list the program itself, with its argv`, `${base}/executable`);
  }
  if (bases.some(isPrivilegeTool)) {
    add("privilege_tool", `executable ${shown} is a privilege tool; mark the command "elevate": true and run icecore with --elevate-with`, `${base}/executable`);
  }
  if (bases.some(isDestructiveTool)) {
    add("destructive_tool", `executable ${shown} is a destructive tool and may not be allow-listed`, `${base}/executable`);
  }

  const interpreter = bases.some(isInterpreter);
  if (interpreter) {
    def.argv.forEach((arg, i) => {
      if (placeholderName(arg) === null && isInlineCodeOption(arg)) {
        add("interpreter_inline_code", `interpreter ${shown} is given inline code with "${arg}"`, `${base}/argv/${i}`);
      }
    });
    // A param that may begin with "-" placed BEFORE the script operand (the first literal that is
    // not an option) could be read by the interpreter as -c/-e. After the script it belongs to the script.
    const script = def.argv.findIndex((arg) => placeholderName(arg) === null && !arg.startsWith("-"));
    def.argv.forEach((arg, i) => {
      const p = placeholderName(arg);
      const param = p === null ? undefined : def.params[p];
      const dash = param && ((param.type === "string" && param.allowLeadingDash) || (param.type === "array" && param.items.allowLeadingDash));
      if (dash && (script === -1 || i < script)) {
        add("interpreter_inline_code", `param "${p}" may begin with "-" and comes before the script operand of interpreter ${shown}, so a caller could pass -c/-e`, `${base}/argv/${i}`);
      }
    });
  }

  if (bases.includes("find")) {
    def.argv.forEach((arg, i) => {
      if (FIND_EXEC.has(arg)) add("find_exec", `find is given "${arg}", which runs commands or writes/deletes files`, `${base}/argv/${i}`);
    });
  }

  const used = new Set<string>();
  def.argv.forEach((arg, i) => {
    const p = placeholderName(arg);
    if (p !== null) {
      used.add(p);
      if (!Object.hasOwn(def.params, p)) add("unknown_placeholder", `placeholder {${p}} names no param`, `${base}/argv/${i}`);
    } else if (EMBEDDED_PLACEHOLDER.test(arg)) {
      add("placeholder_in_larger_element", `argv element "${arg}" embeds a placeholder; a placeholder must be a whole element (write "--file", "{p}")`, `${base}/argv/${i}`);
    }
  });
  for (const [p, param] of Object.entries(def.params)) {
    if (!used.has(p)) add("unused_param", `param "${p}" is never used in argv`, `${base}/params/${p}`);
    const str = param.type === "string" ? param : param.type === "array" ? param.items : null;
    if (str && !str.allowLeadingDash && str.enum?.some((e) => e.startsWith("-"))) {
      add("enum_value_leading_dash", `param "${p}" lists an enum value beginning with "-" but does not set allowLeadingDash`, `${base}/params/${p}`);
    }
  }

  def.env_allow.forEach((name, i) => {
    if (FORBIDDEN_ENV(name)) add("env_allow_forbidden", `env_allow may not pass ${name}: it changes what code the program runs`, `${base}/env_allow/${i}`);
  });

  return out;
}
