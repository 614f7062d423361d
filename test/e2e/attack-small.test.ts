/**
 * Issue 12 item 11, the small ones, through the compiled executable running as an unprivileged user:
 *  - `POST /v1/commands/%ZZ` (not valid percent-encoding), unsigned or signed, and `DELETE
 *    /v1/jobs/%ZZ`: a 4xx problem and an audit record each, never a 500;
 *  - a peer whose executable path holds terminal escapes (ESC, a C1 CSI, RLO) and a request path
 *    holding them (and NUL): in the text log and in the JSON log every such character is escaped,
 *    and the JSON log still carries the exact value;
 *  - the replay cache gives each client its own share: one client filling its share (429
 *    `replay_cache_full`) leaves another client's signed requests working;
 *  - after `--on-child-exit restart`, the dead child's key, kept alive by a grandchild, is
 *    refused at once: 401 `revoked_client` (while the restarted child works).
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { asUser, canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { readAudit, startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
type Answer = { status: number; code: string | null };

/** Characters the logger must never write raw (src/log/logger.ts UNSAFE). */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const EVIL_NAME = "evil\u001b[31mRED\u009b2J\u202etxt.exe";

describe("item 11: undecodable names and control characters", () => {
  for (const format of ["text", "json"] as const) {
    test(`%ZZ gets a 4xx with an audit record; escapes from a peer's exe path and a request path are escaped in the ${format} log`, async () => {
      const dir = scratchDir(owner, `small-${format}`);
      // A squatter whose executable path is hostile: a copy of Python under an evil name.
      const evil = join(dir, EVIL_NAME);
      copyFileSync(realpathSync(SYSTEM_PYTHON), evil);
      chmodSync(evil, 0o755);
      if (owner) Bun.spawnSync(["chown", `${owner.uid}:${owner.gid}`, evil]);
      const run = startIcecore({ user: owner, dir, args: ["--log-format", format], child: [BUN, join(FIXTURES, "small-attacks.ts"), dir] });
      // Both formats name the endpoint on their handoff_listening line.
      const deadline = Date.now() + 10_000;
      let name: string | undefined;
      while (!(name = /@icecore-[0-9a-f]{32}/.exec(run.stderr())?.[0]) && Date.now() < deadline) await Bun.sleep(10);
      expect(name).toBeDefined();
      const squat = Bun.spawnSync(asUser(owner, [evil, join(FIXTURES, "squatter.py"), name!]), { stdout: "pipe", stderr: "pipe" });
      expect(JSON.parse(squat.stdout.toString())).toMatchObject({ bytes: 0 });
      writeFileSync(join(dir, "go"), "");
      const { code } = await run.exited;
      expect(code).toBe(0);

      const results = run.fixtureReports()[0] as unknown as Record<string, Answer>;
      expect(results).toEqual({
        bad_escape_unsigned: { status: 401, code: "signature_missing" },
        bad_escape_signed: { status: 404, code: "unknown_command" },
        bad_escape_job: { status: 401, code: "signature_missing" },
        control_chars: { status: 401, code: "signature_missing" },
      });
      const refused = readAudit(run.auditPath).filter((r) => r.outcome === "refused");
      expect(refused.map((r) => [r.event, r.status, r.code])).toEqual([
        ["command", 401, "signature_missing"],
        ["command", 404, "unknown_command"],
        ["job_cancel", 401, "signature_missing"],
        ["command", 401, "signature_missing"],
      ]);
      expect(refused[0]).toMatchObject({ command: "%ZZ" });

      // Not one log line holds a raw control or bidi character.
      const lines = run.stderr().split("\n");
      for (const line of lines) expect({ line, unsafe: UNSAFE.test(line) }).toEqual({ line, unsafe: false });
      if (format === "text") {
        const rejected = lines.find((l) => l.startsWith("icecore: handoff_peer_rejected"))!;
        expect(rejected).toContain('exe="' + join(dir, "evil\\u001b[31mRED\\u009b2J\\u202etxt.exe") + '"');
        expect(lines.some((l) => l.startsWith("icecore: request method=POST path=") && l.includes("\\u001b[31mRED\\u009b2J\\u202etxt\\u0000"))).toBe(true);
      } else {
        // Escaped on the wire, exact once parsed.
        expect(run.events.find((e) => e.event === "handoff_peer_rejected")!.exe).toBe(join(dir, EVIL_NAME));
        expect(run.events.some((e) => e.event === "request" && String(e.path).endsWith("x\u001b[31mRED\u009b2J\u202etxt\u0000"))).toBe(true);
      }
    }, 30_000);
  }
});

test("item 11: one client filling its replay-cache share leaves another client's signed requests working", async () => {
  const dir = scratchDir(owner, "replay-share");
  const run = startIcecore({ user: owner, dir, args: ["--instances", "2"], child: [BUN, join(FIXTURES, "replay-filler.ts"), dir] });
  const { code } = await run.exited;
  expect({ code, errors: run.errors }).toEqual({ code: 0, errors: [] });
  const reports = run.fixtureReports();
  const filler = reports.find((r) => r.role === "filler") as { accepted: number; refusal: Answer & { retryAfter: string }; seconds: number; client_id: string };
  const other = reports.find((r) => r.role === "other") as { answers: (Answer & { known: boolean })[]; client_id: string };
  console.log(`replay share: the filler had ${filler.accepted} signed requests accepted in ${filler.seconds} s, then ${filler.refusal.status} ${filler.refusal.code}`);
  expect(filler.client_id).not.toBe(other.client_id);
  // The filler hit ITS share (20,000 by default), far below the whole cache (100,000).
  expect(filler.refusal).toMatchObject({ status: 429, code: "replay_cache_full" });
  expect(Number(filler.refusal.retryAfter)).toBeGreaterThan(0);
  expect(filler.accepted).toBeLessThan(100_000);
  for (const answer of other.answers) expect(answer).toMatchObject({ status: 200, code: null, known: true });
}, 90_000);

test("item 11: after a restart the dead child's key, kept by a grandchild, gets 401 revoked_client at once", async () => {
  const dir = scratchDir(owner, "restart-revoke");
  const run = startIcecore({ user: owner, dir, args: ["--on-child-exit", "restart"], child: [BUN, join(FIXTURES, "restart-child.ts"), dir] });
  const report = async (name: string) => {
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(dir, name))) {
      if (Date.now() > deadline || run.proc.exitCode !== null) throw new Error(`no ${name}; stderr:\n${run.stderr()}`);
      await Bun.sleep(20);
    }
    return JSON.parse(readFileSync(join(dir, name), "utf8")) as Answer & { client_id: string; pid: number };
  };
  const before = await report("grandchild-before.json");
  const second = await report("second.json");
  const after = await report("grandchild-after.json");
  // Control: the key worked while its child lived; the restarted child's own key works.
  expect(before).toMatchObject({ status: 200, code: null });
  expect(second).toMatchObject({ status: 200, code: null });
  expect(second.client_id).not.toBe(before.client_id);
  // The attack: the same key, after its child exited and was replaced.
  expect(after).toMatchObject({ status: 401, code: "revoked_client", client_id: before.client_id });
  expect(run.events.filter((e) => e.event === "child_spawned")).toHaveLength(2);
  run.proc.kill("SIGTERM");
  expect((await run.exited).code).toBe(0);
}, 40_000);
