/**
 * SPEC §6: the load-time rules a policy command must pass. Each rule has a stable name (printed by
 * `icecore policy check`, asserted by tests, safe to grep for in CI logs) and EVERY violation of
 * every command is returned, so an author fixes a policy in one round instead of one per error.
 *
 * Why these rules: the argv-array execution and the param schemas stop injection THROUGH the
 * arguments; these rules stop a policy from allow-listing something that is arbitrary execution by
 * construction (a shell, `env`, `sudo`, `python -c`, `tar --to-command {p}`, an editor), that
 * destroys data by design (`rm`, `dd`, `mkfs`), or whose template defeats the
 * one-placeholder-one-element rule (`--file={p}`). They catch an author's mistakes; they are not a
 * sandbox, and the author is trusted (docs/policy-trust-model.md).
 *
 * A program is judged by what it IS, not by what it is called (docs/policy-trust-model.md): tool-identity.ts
 * names it by its configured and real basenames, by device and inode against the known tools of
 * this machine (a hard link), and by content (a copy of dash in /tmp). The identification uses the
 * same real path the catalogue then spawns (executable.ts), so what was checked is what runs.
 */
import { isAbsolute } from "node:path";
import { classesOfName, SAFE_INTERPRETER_FLAGS, type ToolClass, type ToolKind } from "./dangerous-tools.ts";
import { resolveExecutable, type ResolvedExecutable } from "./executable.ts";
import type { CommandDefinition, ParamDefinition } from "./policy-schema.ts";
import { identifyExecutable, type ToolIdentity } from "./tool-identity.ts";

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
  "shell_copy",
  "privilege_tool",
  "destructive_tool",
  "dynamic_loader",
  "command_executing_tool",
  "interpreter_inline_code",
  "interpreter_script_required",
  "param_is_code",
  "code_option_injection",
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
  /^(PYTHON|PERL|RUBY|NODE_|BUN_|DENO_|LUA_|GCONV_|MALLOC_|GLIBC_|GIT_|OPENSSL_)/,
  // variables that tools read as extra options or commands (tar --to-command via TAR_OPTIONS, apt hooks via APT_CONFIG, ...)
  names("TAR_OPTIONS", "APT_CONFIG", "LESSOPEN", "LESSCLOSE", "MANPAGER", "MANOPT", "RSYNC_RSH", "RSYNC_CONNECT_PROG", "SHELL", "BROWSER", "AWKPATH", "AWKLIBPATH", "WGETRC", "XDG_CONFIG_HOME"),
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


/** A param the caller can make begin with "-": allowLeadingDash without an enum (an enum is the author's own list of values). */
function dashCapable(param: ParamDefinition | undefined): boolean {
  if (!param) return false;
  const str = param.type === "string" ? param : param.type === "array" ? param.items : null;
  return str !== null && str.allowLeadingDash && str.enum === undefined;
}

/**
 * The option whose value the NEXT argv element is, if `el` ends with one of `options`: `-o` itself,
 * or a getopt short-option cluster ending in that letter (`-vo` is `-v -o`).
 */
function optionTakingNext(el: string, options: readonly string[]): string | null {
  if (options.includes(el)) return el;
  if (/^-[A-Za-z0-9]{2,}$/.test(el)) {
    const last = `-${el.at(-1)}`;
    if (options.includes(last)) return last;
  }
  return null;
}

/** True when `el` is one of `options`, with its value attached (`--file=x`, `-fx`) or next. */
function isOption(el: string, options: readonly string[]): boolean {
  if (optionTakingNext(el, options) !== null) return true;
  return options.some((o) => (o.startsWith("--") ? el.startsWith(`${o}=`) : o.length === 2 && el.startsWith(o) && el.length > 2 && !el.startsWith("--")));
}

const KIND_RULE: Record<Exclude<ToolKind, "interpreter" | "program_text" | "code_options">, DenyRule> = {
  shell: "shell_or_runner",
  runner: "shell_or_runner",
  privilege: "privilege_tool",
  destructive: "destructive_tool",
  loader: "dynamic_loader",
  code_runner: "command_executing_tool",
};

const KIND_ADVICE: Partial<Record<ToolKind, string>> = {
  shell: "; list the program itself, with its argv",
  runner: "; list the program itself, with its argv",
};

/** Check one command definition. `name` is the catalogue name; `base` is the JSON Pointer of the definition in its file. */
export function checkCommand(name: string, def: CommandDefinition, base = `/commands/${name}`, resolved?: ResolvedExecutable): Violation[] {
  const out: Violation[] = [];
  const add = (rule: DenyRule, message: string, path?: string) => {
    if (!out.some((v) => v.rule === rule && v.message === message && v.path === path)) out.push({ rule, command: name, message, ...(path ? { path } : {}) });
  };

  const exe = def.executable;
  if (!isAbsolute(exe)) {
    add("relative_executable", `executable "${exe}" is not an absolute path; icecore never searches PATH for a policy command`, `${base}/executable`);
  }
  const real = isAbsolute(exe) ? (resolved ?? resolveExecutable(exe)).realPath : null;
  const identity = identifyExecutable(exe, real);
  const shown = real && real !== exe ? `"${exe}" (-> "${real}")` : `"${exe}"`;
  const exePath = `${base}/executable`;

  for (const tool of toolClasses(identity)) {
    const how = provenance(tool, identity);
    switch (tool.kind) {
      case "interpreter":
        checkInterpreter(def, base, tool, identity, shown + how, add);
        break;
      case "program_text":
        checkProgramText(def, base, tool, shown + how, add);
        checkCodeOptions(def, base, tool, shown + how, add);
        break;
      case "code_options":
        checkCodeOptions(def, base, tool, shown + how, add);
        break;
      default: {
        const copied = how.startsWith(", a copy of") && (tool.kind === "shell" || tool.kind === "runner");
        add(copied ? "shell_copy" : KIND_RULE[tool.kind], `executable ${shown}${how} is ${tool.what}${KIND_ADVICE[tool.kind] ?? ""}`, exePath);
      }
    }
  }

  if (identity.names.includes("find")) {
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

/** The classes of every name the executable is known by, each once. */
function toolClasses(identity: ToolIdentity): ToolClass[] {
  return [...new Set(identity.names.flatMap(classesOfName))];
}

/** ", the same file as /usr/bin/dash" when the class was found through the file or its content, not a name. */
function provenance(tool: ToolClass, identity: ToolIdentity): string {
  if (identity.via === null) return "";
  if (identity.own.some((n) => classesOfName(n).includes(tool))) return "";
  const label = identity.via.names.join("/");
  return identity.via.how === "file" ? `, the same file as ${identity.via.path} (${label}),` : `, a copy of ${identity.via.path} (${label}, same size and SHA-256),`;
}

type Add = (rule: DenyRule, message: string, path?: string) => void;

function checkInterpreter(def: CommandDefinition, base: string, _tool: ToolClass, identity: ToolIdentity, shown: string, add: Add): void {
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
  // Issue 12 item 8: not only -c. What an interpreter runs must be fixed by the policy: its first
  // argument is a script FILE, named by an absolute literal path, after at most a few flags that
  // run nothing (python -I, perl -T). A param there, a module (-m), a require (-r), `bun x`,
  // `node inspect`, or no script at all (code from stdin) is refused.
  const safe = SAFE_INTERPRETER_FLAGS.find(([re]) => identity.names.some((n) => re.test(n)))?.[1] ?? [];
  let at = 0;
  while (at < def.argv.length && safe.includes(def.argv[at]!)) at++;
  const first = def.argv[at];
  const p = first === undefined ? null : placeholderName(first);
  if (first === undefined || p !== null || !first.startsWith("/")) {
    const got = first === undefined ? "no script (it would read code from its input)" : p !== null ? `param {${p}}` : `"${first}"`;
    add("interpreter_script_required", `interpreter ${shown} must be given a script file (an absolute path) as its first argument; it gets ${got}, so what it runs is not fixed by the policy`, `${base}/argv${first === undefined ? "" : `/${at}`}`);
  }
}

/** awk, sed: the first operand is the program. It must be a literal, unless the program comes from -e/-f. */
function checkProgramText(def: CommandDefinition, base: string, tool: ToolClass, shown: string, add: Add): void {
  const codeOptions = tool.codeOptions ?? [];
  const valueOptions = tool.valueOptions ?? [];
  if (def.argv.some((el) => placeholderName(el) === null && isOption(el, codeOptions))) return; // program given by -e/-f: operands are files
  for (let i = 0; i < def.argv.length; i++) {
    const el = def.argv[i]!;
    const p = placeholderName(el);
    if (p === null && el === "--") {
      i++;
    } else if (p === null && el.startsWith("-") && el.length > 1) {
      if (optionTakingNext(el, valueOptions) !== null) i++;
      continue;
    }
    const operand = def.argv[i];
    if (operand === undefined) return;
    const param = placeholderName(operand);
    if (param !== null) {
      add("command_executing_tool", `param "${param}" is the program of ${shown}, which is ${tool.what}; the program must be a literal argv element`, `${base}/argv/${i}`);
    }
    return;
  }
}

/** Tools whose options execute code: no caller-chosen options, no param as the value of such an option. */
function checkCodeOptions(def: CommandDefinition, base: string, tool: ToolClass, shown: string, add: Add): void {
  const codeOptions = tool.codeOptions ?? [];
  def.argv.forEach((el, i) => {
    const p = placeholderName(el);
    if (p === null) return;
    const param = def.params[p];
    if (dashCapable(param)) {
      add("code_option_injection", `param "${p}" may begin with "-" (allowLeadingDash), and options of ${shown} execute code: it is ${tool.what}; use an enum of the options you mean`, `${base}/argv/${i}`);
    }
    const prev = i > 0 ? def.argv[i - 1]! : null;
    const option = prev !== null && placeholderName(prev) === null ? optionTakingNext(prev, codeOptions) : null;
    if (option !== null) {
      add("param_is_code", `param "${p}" is the value of "${option}" for ${shown}, which is ${tool.what}`, `${base}/argv/${i}`);
    }
    if (tool.pathOperandIsCode && param?.type === "path") {
      add("param_is_code", `param "${p}" is a path given to ${shown}: ${tool.pathOperandIsCode}`, `${base}/argv/${i}`);
    }
    const remote = tool.remoteArchive;
    if (remote && prev !== null && param?.type !== "path" && optionTakingNext(prev, remote.options) !== null && !def.argv.includes(remote.unless)) {
      add("param_is_code", `param "${p}" names the archive of ${shown}: a value like host:file makes it run a remote shell; use a path param or add ${remote.unless}`, `${base}/argv/${i}`);
    }
  });
}
