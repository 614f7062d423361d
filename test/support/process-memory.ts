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

/** Search every readable private or file mapping of `pid` for each needle (overlaps across chunks handled). */
export function scanProcessMemory(pid: number, needles: Record<string, Uint8Array>): MemoryScan {
  const hits: Record<string, number> = Object.fromEntries(Object.keys(needles).map((k) => [k, 0]));
  const longest = Math.max(...Object.values(needles).map((n) => n.length));
  let maps: string;
  let fd: number;
  try {
    maps = readFileSync(`/proc/${pid}/maps`, "latin1");
    fd = openSync(`/proc/${pid}/mem`, "r");
  } catch (error) {
    return { pid, bytesRead: 0, hits, error: (error as Error).message };
  }
  let bytesRead = 0;
  const buffer = Buffer.allocUnsafe(CHUNK + longest);
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
        carry = Math.min(longest - 1, view.length);
        view.copy(buffer, 0, view.length - carry, view.length);
        at += got;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { pid, bytesRead, hits };
}
