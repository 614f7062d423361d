/**
 * Reads another process's memory (/proc/<pid>/maps + /proc/<pid>/mem) and searches it for byte
 * strings: the proof that a secret is, or is not, in a process. Needs root (or ptrace rights over
 * the target); tests skip with a reason otherwise.
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";

export interface MemoryScan {
  pid: number;
  /** Bytes actually read. */
  bytesRead: number;
  /** Needle label → number of hits. */
  hits: Record<string, number>;
  /** Set when the process could not be read at all. */
  error?: string;
}

const CHUNK = 8 * 1024 * 1024;

/**
 * Calls `visit` with every readable mapping of `pid`, chunk by chunk; each view starts with the
 * last `overlap` bytes of the previous chunk of the same mapping (`carry` says how many), so a
 * match across a chunk boundary is seen once. Returns the bytes read, or an error when the
 * process cannot be read at all.
 */
function forEachChunk(pid: number, overlap: number, visit: (view: Buffer, carry: number) => void): { bytesRead: number; error?: string } {
  let maps: string;
  let fd: number;
  try {
    maps = readFileSync(`/proc/${pid}/maps`, "latin1");
    fd = openSync(`/proc/${pid}/mem`, "r");
  } catch (error) {
    return { bytesRead: 0, error: (error as Error).message };
  }
  let bytesRead = 0;
  const buffer = Buffer.allocUnsafe(CHUNK + overlap);
  try {
    for (const line of maps.split("\n")) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
      if (!m || m[3]![0] !== "r") continue;
      if (line.endsWith("[vvar]") || line.endsWith("[vsyscall]")) continue;
      // User-space addresses fit in 47 bits: exact as JS numbers.
      const start = Number.parseInt(m[1]!, 16);
      const end = Number.parseInt(m[2]!, 16);
      let carry = 0;
      for (let at = start; at < end; ) {
        const want = Math.min(end - at, CHUNK);
        let got: number;
        try {
          got = readSync(fd, buffer, carry, want, at);
        } catch {
          break; // unreadable region (guard pages, device mappings)
        }
        if (got <= 0) break;
        bytesRead += got;
        const view = buffer.subarray(0, carry + got);
        visit(view, carry);
        carry = Math.min(overlap, view.length);
        view.copy(buffer, 0, view.length - carry, view.length);
        at += got;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { bytesRead };
}

/** Search every readable private or file mapping of `pid` for each needle (overlaps across chunks handled). */
export function scanProcessMemory(pid: number, needles: Record<string, Uint8Array>): MemoryScan {
  const hits: Record<string, number> = Object.fromEntries(Object.keys(needles).map((k) => [k, 0]));
  const longest = Math.max(...Object.values(needles).map((n) => n.length));
  const read = forEachChunk(pid, longest - 1, (view, carry) => {
    for (const [label, needle] of Object.entries(needles)) {
      let from = 0;
      for (;;) {
        const i = view.indexOf(needle, from);
        if (i < 0) break;
        // A hit entirely inside the carried-over prefix was already counted.
        if (i + needle.length > carry) hits[label]!++;
        from = i + 1;
      }
    }
  });
  return { pid, bytesRead: read.bytesRead, hits, ...(read.error ? { error: read.error } : {}) };
}

/**
 * Every complete PEM block with this label in `pid`'s memory (e.g. "PRIVATE KEY"), distinct: how
 * a test, as root, learns the key a child generated and never showed anyone.
 */
export function pemBlocksInMemory(pid: number, label: string, maxBlock = 4096): string[] {
  const begin = Buffer.from(`-----BEGIN ${label}-----`);
  const end = Buffer.from(`-----END ${label}-----`);
  const found = new Set<string>();
  forEachChunk(pid, maxBlock, (view, carry) => {
    for (let i = view.indexOf(begin); i >= 0; i = view.indexOf(begin, i + 1)) {
      const j = view.indexOf(end, i);
      if (j < 0 || j - i > maxBlock) continue;
      if (j + end.length <= carry) continue; // seen whole in the previous chunk
      found.add(view.subarray(i, j + end.length).toString("latin1"));
    }
  });
  return [...found];
}
