import { closeSync, fsyncSync, mkdirSync, openSync, writeSync, fstatSync, fchmodSync } from "node:fs";
import { dirname } from "node:path";

/**
 * SPEC §6: one JSON line per attempt, file mode 0600. The write is synchronous and completes
 * before the caller answers, so a crash right after a response cannot lose its record.
 */
export interface AuditRecord {
  event: string;
  [field: string]: string | number | boolean | null | undefined;
}

export interface AuditLog {
  record(entry: AuditRecord): void;
  close(): void;
  readonly path: string | null;
}

export function openAuditLog(path: string): AuditLog {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, "a", 0o600);
  // A pre-existing file keeps its mode on open; tighten it so older logs are not left readable.
  if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  let open = true;
  return {
    path,
    record(entry) {
      if (!open) throw new Error("audit log is closed");
      const line = JSON.stringify({ time: new Date().toISOString(), ...entry }) + "\n";
      writeSync(fd, line);
    },
    close() {
      if (!open) return;
      open = false;
      fsyncSync(fd);
      closeSync(fd);
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
