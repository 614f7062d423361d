/**
 * SPEC §6: the built-in catalogue, and how any command definition (built-in or from a policy)
 * becomes an immutable `CommandSpec`.
 *
 * Executables are resolved ONCE, at load, to real absolute paths, searching only a fixed PATH: what
 * a command runs can never depend on the PATH icecore was started with, nor on a symlink changed
 * after load (executable.ts). A built-in whose tool is
 * missing here (no udisksctl in a container, no apt on Fedora) is not a load error: it is listed
 * with `available: false` and a call answers 503 `command_unavailable`.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import * as v from "valibot";
import { buildArgsSchema, compileArgv } from "./argv-builder.ts";
import { placeholderName } from "./deny-rules.ts";
import { FIXED_PATH, resolveExecutable, type ResolvedExecutable } from "./executable.ts";
import { CommandDefinitionSchema, LIMITS, type CommandDefinition, type CommandDefinitionInput } from "./policy-schema.ts";
import type { Catalogue, CommandSpec } from "./types.ts";

export { FIXED_PATH, resolveExecutable, type ResolvedExecutable } from "./executable.ts";

// Patterns are written without ^…$ because icecore anchors every pattern itself (argv-builder).
//
// Issue 12 item 6: every caller-controlled element of a built-in must mean exactly one thing to its
// tool, read with that tool's own syntax, not with a regex author's eye. Numbers carry no leading
// zeros, so a device has exactly one spelling (the kernel's).
const N = "(0|[1-9][0-9]*)";
const N1 = "[1-9][0-9]*";
/**
 * Linux block devices icecore hands to udisksctl: whole disks and partitions, nothing else.
 * udisksctl `-b` looks the value up by exact string comparison with each block device's node and
 * its /dev/disk/by-* symlinks (udisks tools/udisksctl.c lookup_object_by_device): no pattern,
 * no relative name, so a kernel name matches one device or none.
 */
export const LINUX_DEVICE_PATTERN = `/dev/(sd[a-z]+(${N1})?|nvme${N}n${N1}(p${N1})?|vd[a-z]+(${N1})?|mmcblk${N}(p${N1})?|loop${N})`;
export const DARWIN_DEVICE_PATTERN = `/dev/disk${N}(s${N1})?`;
/**
 * A package name that apt-get reads as exactly that package.
 *
 * Debian policy §5.6.1: lowercase letters, digits, `+ - .`; at least two characters; starts
 * alphanumeric. That alone is not enough, because apt-get does not read its operands as names
 * (apt-pkg/cacheset.cc, apt 2.6, and apt-private/private-install.cc):
 *   - a trailing `-` is a modifier: `curl-` means "remove curl" when no package is named `curl-`
 *     (VersionContainerInterface::FromModifierCommandLine). No package in the archive ends in
 *     `-`, so such a name is refused here.
 *   - a trailing `+` is the "install" modifier. Real packages end in `+` (`g++`, `memtest86+`,
 *     `ncbi-blast+`), and apt tries the whole string as a literal package first, so those are
 *     installed as named; only when no such package is known does `foo+` fall back to installing
 *     the literal `foo` (apt strips one modifier, then looks the rest up without modifiers). The
 *     operation stays "install one literally named package" either way.
 *   - a name no package matches literally is tried as a glob when it holds one of `.?*[]!`, then
 *     as an unanchored regex when it holds one of `.?+*|[^$`: `lib.+` installs every package whose
 *     name matches. The template therefore sets `APT::Cmd::Pattern-Only` (what apt(8) itself
 *     sets; apt >= 1.9.6): a regex is then only tried for a term that starts with `^` or ends
 *     with `$`, and a glob without `*`, `?` or `[` matches only its own literal name. This pattern
 *     admits none of those, so the `.` and `+` in `python3.11` or `libstdc++6` stay literal.
 *   - `?…`/`~…` are apt patterns, `…^` a task, `:arch`, `=version` and `/release` select
 *     architecture and version, and a leading `/` or `.` names a .deb file: the character class
 *     and the alphanumeric start exclude them all.
 * Every one of the ~64,000 names in Debian 12's index matches this pattern.
 */
export const DEBIAN_PACKAGE_PATTERN = "[a-z0-9][a-z0-9+.-]*[a-z0-9+.]";
/**
 * A search term for `apt-cache search`, which compiles each term as a POSIX extended regex
 * (regcomp REG_EXTENDED|REG_ICASE, apt-private/private-search.cc): `.` and `+` are operators there
 * (`g++` matches every name with a "g"). Only characters without regex meaning are admitted, so
 * the term is a literal, case-insensitive substring of the package name.
 */
export const PACKAGE_QUERY_PATTERN = "[A-Za-z0-9][A-Za-z0-9_-]*";

/** Built-in definitions for a platform, written in the policy file's own format. */
export function builtinDefinitions(platform: NodeJS.Platform = process.platform): Record<string, CommandDefinitionInput> {
  const packages: Record<string, CommandDefinitionInput> = {
    "package.search": {
      description: "Search the APT package index by package name (a literal part of the name)",
      executable: "apt-cache",
      // `--` ends options before the user's term (SPEC §6), on top of the no-leading-dash rule.
      argv: ["search", "--names-only", "--", "{query}"],
      params: { query: { type: "string", pattern: PACKAGE_QUERY_PATTERN, maxLength: 64, description: "part of a package name: letters, digits, - and _" } },
      timeout_ms: 30_000,
    },
    "package.install": {
      description: "Install Debian packages (without recommended packages)",
      executable: "apt-get",
      // Pattern-Only: names are never globs or regexes (see DEBIAN_PACKAGE_PATTERN).
      argv: ["-o", "APT::Cmd::Pattern-Only=true", "install", "-y", "--no-install-recommends", "--", "{names}"],
      params: {
        names: {
          type: "array",
          items: { type: "string", pattern: DEBIAN_PACKAGE_PATTERN, maxLength: 128 },
          minItems: 1,
          maxItems: 20,
          description: "Debian package names",
        },
      },
      long: true,
      elevate: true,
      timeout_ms: 30 * 60 * 1000,
    },
  };
  if (platform === "darwin") {
    // macOS equivalents (SPEC §6 "where they exist"): diskutil has no `--`, the pattern stands in.
    const device = { type: "string", pattern: DARWIN_DEVICE_PATTERN, maxLength: 32, description: "a disk or partition, e.g. /dev/disk4s1" } as const;
    return {
      "disk.list": { description: "List disks and partitions (property list)", executable: "diskutil", argv: ["list", "-plist"], timeout_ms: 15_000 },
      "disk.mount": { description: "Mount a disk or partition", executable: "diskutil", argv: ["mount", "{device}"], params: { device }, timeout_ms: 60_000 },
      "disk.unmount": { description: "Unmount a disk or partition", executable: "diskutil", argv: ["unmount", "{device}"], params: { device }, timeout_ms: 60_000 },
      ...packages,
    };
  }
  const device = { type: "string", pattern: LINUX_DEVICE_PATTERN, maxLength: 32, description: "a block device, e.g. /dev/sdb1" } as const;
  return {
    "disk.list": {
      description: "List block devices (lsblk JSON)",
      executable: "lsblk",
      argv: ["--json", "-o", "NAME,SIZE,TYPE,MOUNTPOINTS,FSTYPE,LABEL,MODEL"],
      timeout_ms: 15_000,
    },
    "disk.mount": {
      description: "Mount a block device through udisks (as the calling user, no prompt)",
      executable: "udisksctl",
      argv: ["mount", "--no-user-interaction", "-b", "{device}"],
      params: { device },
      timeout_ms: 60_000,
    },
    "disk.unmount": {
      description: "Unmount a block device through udisks (no prompt)",
      executable: "udisksctl",
      argv: ["unmount", "--no-user-interaction", "-b", "{device}"],
      params: { device },
      timeout_ms: 60_000,
    },
    ...packages,
  };
}

function osName(): string | null {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const m = /^PRETTY_NAME=(?:"([^"\n]*)"|(.*))$/m.exec(text);
    return m ? (m[1] ?? m[2] ?? null) : null;
  } catch {
    return null;
  }
}

/** `system.info`: read in-process from the OS (SPEC §6: no subprocess). */
export function systemInfo(): Record<string, unknown> {
  return {
    hostname: os.hostname(),
    os: { platform: process.platform, arch: process.arch, name: osName() },
    kernel_release: os.release(),
    uptime_s: Math.round(os.uptime()),
    cpu_count: typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length,
    memory: { total_bytes: os.totalmem(), free_bytes: os.freemem() },
  };
}

function systemInfoSpec(): CommandSpec {
  return {
    name: "system.info",
    description: "Host name, OS, kernel release, uptime, CPU count and memory (read in-process)",
    source: "builtin",
    executable: null,
    argv0: null,
    argv: [],
    params: {},
    argsSchema: buildArgsSchema({}),
    timeoutMs: LIMITS.defaultTimeoutMs,
    maxOutputBytes: LIMITS.defaultMaxOutputBytes,
    long: false,
    elevate: false,
    envAllow: [],
    available: true,
    unavailableReason: null,
    inProcess: systemInfo,
  };
}

/**
 * Turn a parsed definition into a CommandSpec. The caller has already run the deny rules, on the
 * SAME resolution when it passes `resolved` (so what was checked is what runs).
 */
export function compileCommand(
  name: string,
  def: CommandDefinition,
  source: CommandSpec["source"],
  searchPath: string = FIXED_PATH,
  resolved: ResolvedExecutable = resolveExecutable(def.executable, searchPath),
): CommandSpec {
  return {
    name,
    description: def.description,
    source,
    executable: resolved.realPath ?? (def.executable.startsWith("/") ? def.executable : null),
    argv0: resolved.path ?? (def.executable.startsWith("/") ? def.executable : null),
    argv: compileArgv(def.argv, placeholderName),
    params: def.params,
    argsSchema: buildArgsSchema(def.params),
    timeoutMs: def.timeout_ms ?? (def.long ? LIMITS.defaultLongTimeoutMs : LIMITS.defaultTimeoutMs),
    maxOutputBytes: def.max_output_bytes,
    long: def.long,
    elevate: def.elevate,
    envAllow: def.env_allow,
    available: resolved.realPath !== null,
    unavailableReason: resolved.reason,
  };
}

/** The built-in catalogue for this machine (tools resolved now; missing ones unavailable). */
export function builtinCatalogue(opts: { platform?: NodeJS.Platform; searchPath?: string } = {}): Map<string, CommandSpec> {
  const out = new Map<string, CommandSpec>();
  out.set("system.info", systemInfoSpec());
  for (const [name, input] of Object.entries(builtinDefinitions(opts.platform))) {
    // Built-ins go through the same schema as a policy file, so they get the same defaults.
    const def = v.parse(CommandDefinitionSchema, input);
    out.set(name, compileCommand(name, def, "builtin", opts.searchPath));
  }
  return out;
}

/**
 * The built-in catalogue, built when something first reads it (the first command request, the
 * listing, the OpenAPI document) rather than before the API is ready: building it resolves each
 * tool on PATH and compiles its schema, ≈ 0.6 ms of start-up (docs/performance.md). It cannot be
 * wrong (test/commands), so nothing is lost by not building it earlier; a `--policy` file, which
 * can be, is still compiled and checked before any key exists.
 */
export function deferredCatalogue(build: () => Catalogue): Catalogue {
  let built: Catalogue | null = null;
  const catalogue = () => (built ??= build());
  return {
    get size() {
      return catalogue().size;
    },
    get: (name) => catalogue().get(name),
    has: (name) => catalogue().has(name),
    forEach: (callback, thisArg?) => catalogue().forEach(callback, thisArg),
    keys: () => catalogue().keys(),
    values: () => catalogue().values(),
    entries: () => catalogue().entries(),
    [Symbol.iterator]: () => catalogue()[Symbol.iterator](),
  };
}

export function sortedCommands(catalogue: Catalogue): CommandSpec[] {
  return [...catalogue.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
