import { closeSync, fchmodSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * SPEC §6: one JSON line per record, file mode 0600, written synchronously before the caller
 * answers, so a crash right after a response cannot lose its record.
 *
 * SPEC §5 "Audit is fail-closed": `record()` throws AuditUnavailable when the line cannot be
 * written (disk full, I/O error); the caller must then NOT do what it was about to record (a
 * command does not start: 503 `audit_unavailable`). `note()` is for records of things that have
 * already happened (a job's end, a shutdown): a failure there is reported to `onFailure` and never
 * thrown, so an audit error can never crash icecore or leave a child running.
 */
export interface AuditRecord {
  event: string;
  [field: string]: string | number | boolean | null | undefined;
}

export type WrittenRecord = AuditRecord & { time: string };

export interface AuditLog {
  /** Write now or throw AuditUnavailable (fail-closed). */
  record(entry: AuditRecord): void;
  /** Write now; a failure is reported, never thrown. Returns whether it was written. */
  note(entry: AuditRecord): boolean;
  /** The most recent records written by this process, newest first (GET /v1/audit). */
  recent(limit: number, filter?: (record: WrittenRecord) => boolean): WrittenRecord[];
  close(): void;
  readonly path: string | null;
}

export class AuditUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`the audit trail cannot be written (${reason})`);
    this.name = "AuditUnavailable";
  }
}

/** How many records GET /v1/audit can look back over: this process's, kept in memory. */
export const RECENT_RECORDS = 1000;

export interface AuditLogOptions {
  /** Told about every record that could not be written (log it; never throw from here). */
  onFailure?: (event: string, cause: string) => void;
  recentCapacity?: number;
}

export function openAuditLog(path: string, options: AuditLogOptions = {}): AuditLog {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, "a", 0o600);
  // A pre-existing file keeps its mode on open; tighten it so older logs are not left readable.
  if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  return createAuditLog(path, (line) => appendWhole(fd, line), () => {
    fsyncSync(fd);
    closeSync(fd);
  }, options);
}

/**
 * Appends the whole line or nothing. write(2) on a nearly full file system writes what fits and
 * returns a short count (tmpfs fills the file's last page, then ENOSPC): taken for success, a
 * command would start with half a record, and the next line would be glued to the fragment. So
 * the rest is written until done, and on an error the fragment is cut off again, leaving every
 * line in the file whole JSON.
 */
function appendWhole(fd: number, line: string): void {
  const bytes = Buffer.from(line, "utf8");
  // O_APPEND: the line lands at the current end, whatever our last write left.
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(fd, bytes, written);
  } catch (error) {
    if (written > 0) {
      try {
        // Where the line began: the file's end now, less the fragment. Asked only on this rare
        // path, not before every record (an fstat per record, on the signed-request path).
        ftruncateSync(fd, fstatSync(fd).size - written);
      } catch {
        // Nothing more can be done; the caller is told the record was not written.
      }
    }
    throw error;
  }
}

/** The trail over any line sink: a file above, a failing or collecting sink in tests. */
export function createAuditLog(path: string | null, write: (line: string) => void, finish: () => void, options: AuditLogOptions = {}): AuditLog {
  const capacity = options.recentCapacity ?? RECENT_RECORDS;
  const ring: WrittenRecord[] = [];
  let open = true;

  const write1 = (entry: AuditRecord): void => {
    if (!open) throw new AuditUnavailable("the audit log is closed");
    const record = { time: new Date().toISOString(), ...entry } as WrittenRecord;
    try {
      write(JSON.stringify(record) + "\n");
    } catch (error) {
      throw new AuditUnavailable((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    }
    ring.push(record);
    if (ring.length > capacity) ring.shift();
  };

  return {
    path,
    record: write1,
    note(entry) {
      try {
        write1(entry);
        return true;
      } catch (error) {
        try {
          options.onFailure?.(entry.event, error instanceof AuditUnavailable ? error.reason : (error as Error).message);
        } catch {
          // A failing reporter must not turn a best-effort write into a crash either.
        }
        return false;
      }
    },
    recent(limit, filter) {
      const out: WrittenRecord[] = [];
      for (let i = ring.length - 1; i >= 0 && out.length < limit; i--) {
        if (!filter || filter(ring[i]!)) out.push(ring[i]!);
      }
      return out;
    },
    close() {
      if (!open) return;
      open = false;
      try {
        finish();
      } catch (error) {
        options.onFailure?.("close", (error as NodeJS.ErrnoException).code ?? (error as Error).message);
      }
    },
  };
}

/**
 * The default location: $XDG_STATE_HOME/icecore/audit.jsonl (a per-user service keeps per-user
 * state); on Windows %LOCALAPPDATA%\icecore\audit.jsonl (per user, per machine, not roamed).
 */
export function defaultAuditPath(env: NodeJS.ProcessEnv = process.env, os: NodeJS.Platform = process.platform): string {
  if (os === "win32") {
    const local = env.LOCALAPPDATA ?? (env.USERPROFILE ? `${env.USERPROFILE}\\AppData\\Local` : undefined);
    if (local) return `${local}\\icecore\\audit.jsonl`;
  }
  const home = env.HOME ?? "/";
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith("/") ? env.XDG_STATE_HOME : `${home}/.local/state`;
  return `${state}/icecore/audit.jsonl`;
}
