/**
 * SPEC §5/§8.4 through the compiled executable and its real TLS server: a child holding a real
 * bundle sends correct, unsigned, forged, tampered, stale and replayed requests to a command that
 * writes a marker file. Each refusal is 401 with its code AND its marker never appears.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { readAudit, startIcecore } from "../support/icecore-process.ts";
import { recordCommand, writePolicy } from "./test-commands.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

test("signed requests: the good one runs; unsigned, forged, tampered, stale and replayed ones get 401 and run nothing", async () => {
  const dir = scratchDir(owner, "signed");
  const markers = scratchDir(owner, "markers");
  const policy = writePolicy(dir, { "test.record": recordCommand(markers) });
  const run = startIcecore({ user: owner, dir, args: ["--policy", policy], child: [BUN, join(FIXTURES, "signature-attacker.ts"), markers] });
  const { code } = await run.exited;
  expect(code).toBe(0);
  const results = run.fixtureReports()[0] as Record<string, { status: number; code: string | null }>;
  expect(results.good).toEqual({ status: 200, code: null });
  expect(results.encrypted).toEqual({ status: 200, code: null });
  expect(results.replay_first).toEqual({ status: 200, code: null });
  expect(existsSync(join(markers, "good"))).toBe(true);
  expect(existsSync(join(markers, "encrypted"))).toBe(true);
  const refusals: Record<string, string> = {
    unsigned: "signature_missing",
    wrong_key: "signature_invalid",
    unknown_keyid: "unknown_client",
    tampered_method: "signature_invalid",
    tampered_uri: "signature_invalid",
    tampered_body: "signature_invalid",
    stale_past: "stale",
    stale_future: "stale",
    replayed: "replayed",
  };
  for (const [name, expected] of Object.entries(refusals)) {
    expect({ name, ...results[name] }).toEqual({ name, status: 401, code: expected });
    if (name !== "replayed") expect({ name, ran: existsSync(join(markers, name)) }).toEqual({ name, ran: false });
  }
  // Exactly one audit record per attempt: 3 accepted + 9 refused.
  const commands = readAudit(run.auditPath).filter((r) => r.event === "command");
  expect(commands).toHaveLength(12);
  expect(commands.filter((r) => r.outcome === "started")).toHaveLength(3);
  expect(commands.filter((r) => r.outcome === "refused")).toHaveLength(9);
});
