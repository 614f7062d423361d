/**
 * Tests exercise the compiled executable, not only the sources. `npm test` builds first; a bare
 * `bun test` rebuilds here when dist/ is missing or older than any source file.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach } from "bun:test";
import { removeScratchDirs } from "./users.ts";
import { reap } from "./reaper.ts";

const ROOT = join(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/icecore");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

if (!existsSync(BINARY) || statSync(BINARY).mtimeMs < Math.max(newestSource(join(ROOT, "src")), statSync(join(ROOT, "package.json")).mtimeMs)) {
  const build = Bun.spawnSync([process.execPath, join(ROOT, "build/compile.ts")], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("test preload: building dist/icecore failed");
}

afterEach(async () => {
  const ended = await reap("test");
  if (ended > 0) console.warn(`test cleanup: ended ${ended} process(es) the test left running`);
});
afterAll(async () => {
  await reap("run");
  removeScratchDirs();
});
