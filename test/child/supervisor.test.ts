/** The child supervisor (src/child/supervisor.ts): argv, exit status, termination. */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childArgv, ChildSpawnFailed, spawnChild } from "../../src/child/supervisor.ts";
import { scratchDir } from "../support/users.ts";

test("the child's argv gets exactly --pipe-name <name> appended", () => {
  expect(childArgv(["/usr/bin/ui", "--flag", "a b"], "@icecore-x")).toEqual(["/usr/bin/ui", "--flag", "a b", "--pipe-name", "@icecore-x"]);
});

test("its exit code is its status; a signal is 128 + the signal's number", async () => {
  expect((await spawnChild(["/bin/sh", "-c", "exit 7", "sh"], "@x").exited).status).toBe(7);
  const killed = spawnChild(["/bin/sh", "-c", 'kill -9 "$$"', "sh"], "@x");
  expect(await killed.exited).toEqual({ status: 137, code: null, signal: "SIGKILL" });
});

test("terminate(): SIGTERM, then SIGKILL after the grace for a child that ignores it", async () => {
  const polite = spawnChild(["/bin/sh", "-c", "exec sleep 30", "sh"], "@x");
  expect((await polite.terminate(5000)).signal).toBe("SIGTERM");
  const ready = join(scratchDir(null, "supervisor"), "trapped");
  const stubborn = spawnChild(["/bin/sh", "-c", `trap '' TERM; : > ${ready}; while :; do sleep 0.05; done`, "sh"], "@x");
  // Signal it only once the shell has installed its trap (it says so with a file).
  while (!existsSync(ready)) await Bun.sleep(5);
  const exit = await stubborn.terminate(300);
  expect(exit.signal).toBe("SIGKILL");
  expect(stubborn.hasExited).toBe(true);
});

test("the orphan guard runs in front of the command, in the same process", async () => {
  const child = spawnChild(["/bin/sh", "-c", "exit 3", "sh"], "@x", ["/usr/bin/env"]);
  expect((await child.exited).status).toBe(3);
});

test("a command that cannot be started is ChildSpawnFailed, not a crash", () => {
  expect(() => spawnChild(["/nonexistent/ui"], "@x")).toThrow(ChildSpawnFailed);
});

