/**
 * What the unprivileged test users run must be reachable by them. A clone under a 0700 directory
 * (root's home, say) is not: every e2e test would fail with "not found" (exit 78). So when a test
 * user cannot read the clone, the pieces children need — dist/, src/, test/fixtures/ (and the one support module a fixture imports),
 * node_modules/ (Bun itself included) and the package files — are staged once into a
 * world-readable directory under /tmp, hard-linked where the file system allows (fast, no copy),
 * copied otherwise. The stage is keyed by the clone's path and the executable's build time, and
 * made atomically (rename), so concurrent test workers share one.
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

export const REPO = join(import.meta.dir, "../..");
const STAGED = ["dist", "src", "test/fixtures", "test/support/x509.ts", "node_modules", "package.json", "tsconfig.json", "bunfig.toml"];

/** Can `uid` (as a plain process of that user) read the repository's executable and fixtures? */
function reachable(uid: number, gid: number): boolean {
  const probe = Bun.spawnSync(
    ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", "/usr/bin/test", "-x", join(REPO, "dist/icecore"), "-a", "-r", join(REPO, "test/fixtures/handoff-child.ts")],
    { stdout: "ignore", stderr: "ignore" },
  );
  return probe.exitCode === 0;
}

function copyTree(from: string, to: string): void {
  // Hard links first (same file system: instant); a copy otherwise.
  for (const flags of ["-al", "-a"]) {
    if (Bun.spawnSync(["cp", flags, from, to], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) return;
    rmSync(to, { recursive: true, force: true });
  }
  throw new Error(`test stage: cannot copy ${from}`);
}

const STAGE_PREFIX = "icecore-stage-";
/** In each stage: the clone it was made from. */
const SOURCE_FILE = ".source";

/**
 * Removes the stages of clones that are gone: once its clone is deleted, a stage's hard links are
 * its only copy of node_modules and dist/ (hundreds of MB). Stages of a clone that still exists
 * are kept, even of an older build: a run that rebuilds mid-way (the cross-target test does) has
 * workers on both, and while the clone exists they share its disk blocks.
 */
function sweepStages(current: string): void {
  // `current` is never swept: its clone is this one.
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(STAGE_PREFIX) || name.includes(".")) continue; // skip half-built ones
    const dir = join(tmpdir(), name);
    if (dir === current) continue;
    let source: string;
    try {
      source = readFileSync(join(dir, SOURCE_FILE), "utf8");
    } catch {
      continue; // made by an older version of this file, or not ours
    }
    if (!existsSync(join(source, "package.json"))) rmSync(dir, { recursive: true, force: true });
  }
}

function stage(): string {
  const built = existsSync(join(REPO, "dist/icecore")) ? statSync(join(REPO, "dist/icecore")).mtimeMs : 0;
  const key = createHash("sha256").update(`${REPO}\n${built}`).digest("hex").slice(0, 16);
  const final = join(tmpdir(), `${STAGE_PREFIX}${key}`);
  if (existsSync(join(final, ".complete"))) return final;
  sweepStages(final);
  const building = `${final}.${process.pid}`;
  mkdirSync(building, { recursive: true, mode: 0o755 });
  for (const item of STAGED) {
    const from = join(REPO, item);
    if (!existsSync(from)) continue;
    mkdirSync(join(building, item, ".."), { recursive: true, mode: 0o755 });
    copyTree(from, join(building, item));
  }
  Bun.spawnSync(["chmod", "-R", "a+rX", building]);
  writeFileSync(join(building, SOURCE_FILE), REPO);
  writeFileSync(join(building, ".complete"), "");
  try {
    renameSync(building, final);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another worker won the race
  }
  return final;
}

let root: string | null = null;

/**
 * The directory test users run things from: the repository itself when they can reach it, else
 * the stage. Only root can switch users, so only root ever stages.
 */
export function runRoot(probeUser: { uid: number; gid: number } | null): string {
  if (root !== null) return root;
  root = probeUser === null || reachable(probeUser.uid, probeUser.gid) ? REPO : stage();
  return root;
}

/** `path` (inside the repository) as seen from the run root. */
export function staged(path: string, probeUser: { uid: number; gid: number } | null): string {
  return join(runRoot(probeUser), relative(REPO, path));
}

/**
 * `path` (inside the repository, made after the stage, e.g. by a build the test runs) made
 * reachable for the test users: the path itself when they can reach the clone, else a copy in
 * the stage.
 */
export function stageFile(path: string, probeUser: { uid: number; gid: number } | null): string {
  const target = staged(path, probeUser);
  if (target === path) return path;
  mkdirSync(join(target, ".."), { recursive: true, mode: 0o755 });
  copyFileSync(path, target);
  chmodSync(target, 0o755);
  return target;
}
