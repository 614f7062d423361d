/**
 * Which known program an executable IS, whatever it is called (docs/policy-trust-model.md). A name proves
 * little: `/opt/x/lister` may be a hard link to dash, a symlink to bash, or a byte-for-byte copy of
 * busybox. So an executable is identified, in order of cost, by:
 *   1. its names: the basename as configured and the basename of its real path;
 *   2. its file: device and inode compared with every known tool installed in FIXED_PATH and the
 *      loader directories of this machine (a hard link or a bind mount is the same file);
 *   3. its content: SHA-256 compared with the known tools of the same size (a copy). Only a size
 *      match is hashed, so a load costs a few stat calls unless something really looks like a copy.
 * The index of known tools is built once per process, the first time a policy is checked (the
 * built-in catalogue never needs it), by listing those directories and stat-ing only the names
 * dangerous-tools.ts knows.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, posix } from "node:path";
import { isKnownToolName } from "./dangerous-tools.ts";
import { FIXED_PATH } from "./executable.ts";

/** Where the dynamic loader lives on Linux distributions (multiarch, lib64, musl). */
const LOADER_DIRS = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/lib32", "/usr/lib32", "/libx32"];

/** Copies larger than this are not hashed (no known shell or interpreter comes near it). */
const MAX_HASHED_BYTES = 256 * 1024 * 1024;

interface KnownFile {
  /** Names this file is installed under, e.g. ["awk", "mawk", "nawk"]. */
  readonly names: Set<string>;
  /** One path to it, for the message. */
  readonly path: string;
  readonly size: number;
  sha256?: string;
}

interface ToolIndex {
  byFile: Map<string, KnownFile>;
  bySize: Map<number, KnownFile[]>;
}

let cached: ToolIndex | null = null;

function fileKey(dev: number | bigint, ino: number | bigint): string {
  return `${dev}:${ino}`;
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function multiarchDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && /-linux-gnu|-linux-musl/.test(e.name))
      .map((e) => posix.join(dir, e.name));
  } catch {
    return [];
  }
}

function buildIndex(searchPath: string): ToolIndex {
  const byFile = new Map<string, KnownFile>();
  const dirs = [...searchPath.split(":").filter((d) => d.startsWith("/")), ...LOADER_DIRS, ...LOADER_DIRS.flatMap(multiarchDirs)];
  // With merged /usr, /bin is /usr/bin: list each real directory once.
  const realDirs = new Set(dirs.map((d) => realpathOrNull(d)).filter((d): d is string => d !== null));
  for (const dir of realDirs) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of entries) {
      if (!isKnownToolName(name)) continue;
      const path = posix.join(dir, name);
      try {
        const st = statSync(path); // follows symlinks: `awk -> /etc/alternatives/awk -> mawk` is mawk's file
        if (!st.isFile()) continue;
        const key = fileKey(st.dev, st.ino);
        const known = byFile.get(key);
        if (known) known.names.add(name);
        else byFile.set(key, { names: new Set([name]), path, size: st.size });
      } catch {
        // dangling alternative, unreadable: not something a policy can run either
      }
    }
  }
  const bySize = new Map<number, KnownFile[]>();
  for (const known of byFile.values()) bySize.set(known.size, [...(bySize.get(known.size) ?? []), known]);
  return { byFile, bySize };
}

function index(): ToolIndex {
  return (cached ??= buildIndex(FIXED_PATH));
}

function sha256Of(path: string): string | null {
  try {
    return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return null;
  }
}

export interface ToolIdentity {
  /** Its own names: the configured basename and its real path's. */
  readonly own: readonly string[];
  /** Every name the executable is known by: its own, and those of the known file it is. */
  readonly names: readonly string[];
  /** How the known names beyond its own were found: the same file, or the same content. */
  readonly via: { readonly how: "file" | "content"; readonly path: string; readonly names: readonly string[] } | null;
}

/**
 * Identify `configured` (as written in the policy) whose real path is `realPath` (null when it is
 * missing: only its name can be judged then).
 */
export function identifyExecutable(configured: string, realPath: string | null): ToolIdentity {
  const own = [...new Set([basename(configured), ...(realPath ? [basename(realPath)] : [])])];
  if (realPath === null) return { own, names: own, via: null };
  let st;
  try {
    st = statSync(realPath);
  } catch {
    return { own, names: own, via: null };
  }
  if (!st.isFile()) return { own, names: own, via: null };
  const idx = index();
  const same = idx.byFile.get(fileKey(st.dev, st.ino));
  if (same) return { own, names: [...new Set([...own, ...same.names])], via: { how: "file", path: same.path, names: [...same.names] } };
  const candidates = idx.bySize.get(st.size);
  if (!candidates || st.size > MAX_HASHED_BYTES) return { own, names: own, via: null };
  const digest = sha256Of(realPath);
  if (digest === null) return { own, names: own, via: null };
  for (const known of candidates) {
    known.sha256 ??= sha256Of(known.path) ?? "";
    if (known.sha256 === digest) return { own, names: [...new Set([...own, ...known.names])], via: { how: "content", path: known.path, names: [...known.names] } };
  }
  return { own, names: own, via: null };
}
