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
/** Linux block devices icecore will hand to udisksctl: whole disks and partitions, nothing else. */
export const LINUX_DEVICE_PATTERN = "/dev/(sd[a-z]+[0-9]*|nvme[0-9]+n[0-9]+(p[0-9]+)?|vd[a-z]+[0-9]*|mmcblk[0-9]+(p[0-9]+)?|loop[0-9]+)";
export const DARWIN_DEVICE_PATTERN = "/dev/disk[0-9]+(s[0-9]+)?";
/** Debian policy §5.6.1: lowercase letters, digits, + - . ; at least two characters; starts alphanumeric. */
export const DEBIAN_PACKAGE_PATTERN = "[a-z0-9][a-z0-9+.-]+";
/** A search term: a package-name-like word. apt-cache treats it as a regex, so keep it plain. */
export const PACKAGE_QUERY_PATTERN = "[A-Za-z0-9][A-Za-z0-9+._-]*";

/** Built-in definitions for a platform, written in the policy file's own format. */
export function builtinDefinitions(platform: NodeJS.Platform = process.platform): Record<string, CommandDefinitionInput> {
  const packages: Record<string, CommandDefinitionInput> = {
    "package.search": {
      description: "Search the APT package index by package name",
      executable: "apt-cache",
      // `--` ends options before the user's term (SPEC §6), on top of the no-leading-dash rule.
      argv: ["search", "--names-only", "--", "{query}"],
      params: { query: { type: "string", pattern: PACKAGE_QUERY_PATTERN, maxLength: 64, description: "a package-name-like search term" } },
      timeout_ms: 30_000,
    },
    "package.install": {
      description: "Install Debian packages (without recommended packages)",
      executable: "apt-get",
      argv: ["install", "-y", "--no-install-recommends", "--", "{names}"],
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

export function sortedCommands(catalogue: Catalogue): CommandSpec[] {
  return [...catalogue.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
