/**
 * icecore is a per-user service and refuses root (SPEC §7), while CI runs as root. Tests of
 * user-level behaviour create unprivileged users and run processes as them with setpriv.
 */
import { mkdtempSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

const cache = new Map<string, TestUser | null>();

function lookup(name: string): TestUser | null {
  const id = Bun.spawnSync(["id", "-u", name]);
  if (id.exitCode !== 0) return null;
  const gid = Bun.spawnSync(["id", "-g", name]);
  return { name, uid: Number(id.stdout.toString().trim()), gid: Number(gid.stdout.toString().trim()) };
}

/** An unprivileged user, created with useradd when we are root; null (and the reason) otherwise. */
export function testUser(name: string): TestUser | null {
  if (cache.has(name)) return cache.get(name)!;
  let user = lookup(name);
  if (user === null && process.getuid?.() === 0) {
    Bun.spawnSync(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]);
    user = lookup(name);
  }
  cache.set(name, user);
  return user;
}

export const canSwitchUsers = process.getuid?.() === 0 && Bun.which("setpriv") !== null && Bun.which("useradd") !== null;
export const SWITCH_USERS_REASON = "needs root with setpriv and useradd to run processes as other users";

/** argv that runs `argv` as `user` (no supplementary groups, no new privileges). */
export function asUser(user: TestUser | null, argv: string[]): string[] {
  if (user === null) return argv;
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--no-new-privs", "--", ...argv];
}

const scratchDirs: string[] = [];

/** Scratch directories made during this test process, removed by the preload's afterAll. */
export function removeScratchDirs(): void {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A scratch directory the given user can write to (and nobody else). */
export function scratchDir(user: TestUser | null, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `icecore-${label}-`));
  scratchDirs.push(dir);
  if (user !== null) {
    Bun.spawnSync(["chown", `${user.uid}:${user.gid}`, dir]);
  }
  chmodSync(dir, 0o700);
  return dir;
}
