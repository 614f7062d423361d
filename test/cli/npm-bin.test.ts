/**
 * `npm install -g .` from a clone puts `icecore` on PATH through src/cli/npm-bin.mjs, which
 * needs only Node: before, the link pointed at main.ts (`#!/usr/bin/env bun`) and failed with
 * 127 wherever bun was not on PATH. Installed from the run root (the clone, or its stage when the
 * test user cannot reach the clone), since npm links the folder and the test user runs the link.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RUN_ROOT } from "../support/paths.ts";
import { asUser, canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { isAlive } from "../support/icecore-process.ts";
import { track } from "../support/reaper.ts";

const npm = Bun.which("npm");
const node = Bun.which("node");
if (npm === null || node === null) console.info("npm-bin.test.ts: skipping (needs npm and node on PATH)");
const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
// PATH without Bun: what a user who only has Node and npm has.
const PATH = `${join(node ?? "/usr/bin/node", "..")}:/usr/bin:/bin`;

describe.skipIf(npm === null || node === null)("npm install -g . from the clone", () => {
  let icecore = "";
  let installStatus: number | null = null;
  const running: number[] = [];
  beforeAll(() => {
    const prefix = scratchDir(owner, "npm-prefix");
    installStatus = Bun.spawnSync([npm!, "install", "-g", RUN_ROOT, "--prefix", prefix, "--offline", "--no-audit", "--no-fund"], { stdout: "ignore", stderr: "inherit" }).exitCode;
    icecore = join(prefix, "bin", "icecore");
  });
  afterAll(() => {
    for (const pid of running) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  });

  test("links an icecore that runs without bun on PATH", () => {
    expect(installStatus).toBe(0);
    const result = Bun.spawnSync(asUser(owner, ["env", "-i", `PATH=${PATH}`, icecore, "version", "--json"]), { stdout: "pipe", stderr: "pipe" });
    expect(result.stderr.toString()).toBe("");
    expect(JSON.parse(result.stdout.toString())).toMatchObject({ target: `${process.platform}-${process.arch}` });
  });

  test("passes the exit status through", () => {
    const result = Bun.spawnSync(asUser(owner, ["env", "-i", `PATH=${PATH}`, icecore, "run", "--port", "abc"]), { stdout: "pipe", stderr: "pipe" });
    expect(result.exitCode).toBe(64);
    expect(result.stderr.toString()).toBe("icecore: run: --port: must be a port number\n");
  });

  test("passes SIGTERM on: icecore shuts down cleanly and the status is 0", async () => {
    const dir = scratchDir(owner, "npm-run");
    // A child that ignores the --pipe-name it is given (sh takes it as $1 $2) and never connects.
    const argv = [icecore, "run", "--log-format", "json", "--audit-log", join(dir, "audit.jsonl"), "--handoff-timeout", "10m", "--", "/bin/sh", "-c", "exec sleep 600", "sh"];
    if (owner === null && process.getuid?.() === 0) argv.push("--allow-root");
    const proc = track(Bun.spawn(asUser(owner, ["env", "-i", `PATH=${PATH}`, `HOME=${dir}`, ...argv]), { cwd: dir, stdout: "ignore", stderr: "pipe" }));
    running.push(proc.pid);
    let stderr = "";
    const reader = proc.stderr.getReader();
    // The child never takes its bundle, so the run is up, waiting, once the child is spawned.
    while (!stderr.includes('"event":"child_spawned"')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`icecore exited early: ${stderr}`);
      stderr += new TextDecoder().decode(value);
    }
    proc.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr += new TextDecoder().decode(value);
    }
    expect(await proc.exited).toBe(0);
    expect(stderr).toContain('"event":"shutdown","reason":"SIGTERM"');
  });
});
