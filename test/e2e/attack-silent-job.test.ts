/**
 * Issue 12 item 9, "long silent jobs" (SPEC §5: any SSE stream survives silence of any length):
 *  - through the compiled executable: a job prints a line, stays silent 20 s, prints another and
 *    exits 0; `icecore connect --exec` follows it over SSE and exits 0 with both lines;
 *  - the control (silent-stream-control.test.ts): without heartbeats the same job's stream is
 *    closed by the server's idle timeout.
 * Slow (20 s): a file of its own, so a parallel runner can run it beside the others.
 */
import { expect, test } from "bun:test";
import { BINARY } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { startIcecore } from "../support/icecore-process.ts";
import { SILENCE_S, silentCommand, writePolicy } from "./test-commands.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

test(`item 9: icecore connect follows a job silent for ${SILENCE_S} s to its end and exits 0 with both lines`, async () => {
  const dir = scratchDir(owner, "silent");
  const policy = writePolicy(dir, { "test.silent": silentCommand });
  const run = startIcecore({ user: owner, dir, args: ["--policy", policy], child: [BINARY, "connect", "--exec", "test.silent"] });
  const { code } = await run.exited;
  expect({ code, errors: run.errors }).toEqual({ code: 0, errors: [] });
  const out = run.stdout();
  expect(out).toMatch(/\| first line\n(.*\n)*?.*\| second line\n/);
  expect(out).toMatch(/job [0-9a-f]+ succeeded exit 0/);
  const finished = run.events.find((e) => e.event === "command" && e.name === "test.silent" && e.outcome === "succeeded");
  expect(finished).toBeDefined();
}, (SILENCE_S + 25) * 1000);
