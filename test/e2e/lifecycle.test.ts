/**
 * SPEC §3 identity lifecycle through the compiled executable, run as an unprivileged user, with
 * children built on the reference SDK (test/fixtures/lifecycle-child.ts): renewal with a key born
 * in the child, `rotate` on schedule, revocation of a restarted child's keys, streams and jobs,
 * job ownership between children, and several instances. The long scenarios (60 s of load, the
 * 60 s grace, 1,000 cycles) are in their own lifecycle-*.test.ts files so they run concurrently.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readAudit } from "../support/icecore-process.ts";
import { BINARY } from "../support/paths.ts";
import { endPid, eventsNamed, isAlive, lifecycleRun } from "./lifecycle-support.ts";

const REVOKED = { status: 401, code: "revoked_client" };
const OK = { status: 200, code: null };

describe("renewal", () => {
  test("the SDK renews at once with a key it generated, and on `rotate`; each retired key is refused; /v1/info shows the real schedule", async () => {
    const run = lifecycleRun("first-renewal", { args: ["--cert-ttl", "10s"] });
    const r = (await run.waitForReport(() => true)) as Record<string, any>;
    expect(r.error).toBeUndefined();
    expect((await run.exited).code).toBe(0);

    // The handoff key works until the new key's first request, and is refused right after.
    expect(r.handoff_before).toEqual(OK);
    expect(r.after_first).toEqual(OK);
    expect(r.handoff_after).toEqual(REVOKED);
    // So is the first renewal's key once the second one signed.
    expect(r.after_second).toEqual(OK);
    expect(r.first_after).toEqual(REVOKED);
    expect(new Set([r.handoff_id, r.first_id, r.second_id]).size).toBe(3);

    // What crossed the API: a public key and nothing else, as the SDK sent it; signed by the
    // certificate being renewed; answered with a certificate for exactly that key.
    expect(r.renewal_bodies).toHaveLength(2);
    for (const body of r.renewal_bodies as string[]) {
      const parsed = JSON.parse(body);
      expect(Object.keys(parsed)).toEqual(["public_key"]);
      expect(Object.keys(parsed.public_key).sort()).toEqual(["crv", "kty", "x", "y"]);
      expect(parsed.public_key).toMatchObject({ kty: "EC", crv: "P-256" });
      expect(body).not.toContain('"d"');
      expect(body).not.toContain("PRIVATE");
    }
    expect(r.renewal_signers).toEqual([r.handoff_id, r.first_id]);
    expect(r.renewal_response_keys).toEqual(["ca_cert", "child_id", "client_cert", "client_id", "not_after", "renew_at"]);
    expect(r.renewal_response_has_private_key).toBe(false);
    expect(r.certifies_sent_key).toBe(true);

    // /v1/info (signed) gives the caller's own schedule: rotate at 2/3 of a 10 s life.
    expect(r.info_rotation).toEqual({ cert_ttl_ms: 10_000, rotate_at_fraction: 2 / 3, grace_ms: 60_000 });
    expect(r.info_client).toMatchObject({ client_id: r.first_id, child_id: r.child_id });
    const renewAt = Date.parse(r.info_client.renew_at);
    const notAfter = Date.parse(r.info_client.not_after);
    expect(Math.abs(notAfter - renewAt - 10_000 / 3)).toBeLessThan(100);
    // …and `rotate` comes then: not before renew_at, well before expiry.
    expect(r.rotate).toMatchObject({ client_id: r.first_id, not_after: r.info_client.not_after });
    const arrived = Date.parse(r.rotate_arrived);
    expect(arrived).toBeGreaterThanOrEqual(renewAt - 50);
    expect(arrived).toBeLessThan(notAfter);
    expect(r.revoked_events).toContainEqual({ client_id: r.first_id, reason: "superseded" });

    // icecore's side: two `cert_rotated` in a chain, each old client_id revoked as superseded,
    // and the only refused requests are the two probes.
    const rotated = eventsNamed(run, "cert_rotated");
    expect(rotated.map((e) => [e.previous_client_id, e.client_id, e.child_id])).toEqual([
      [r.handoff_id, r.first_id, r.child_id],
      [r.first_id, r.second_id, r.child_id],
    ]);
    const revoked = eventsNamed(run, "client_revoked").map((e) => [e.client_id, e.reason]);
    expect(revoked).toContainEqual([r.handoff_id, "superseded"]);
    expect(revoked).toContainEqual([r.first_id, "superseded"]);
    expect(eventsNamed(run, "request").filter((e) => e.status !== 200).map((e) => e.status)).toEqual([401, 401]);
  }, 40_000);
});

describe("revocation", () => {
  test("a restarted child's key is refused (401 revoked_client), its streams end and its job is cancelled; the new child works", async () => {
    const run = lifecycleRun("restart", { args: ["--on-child-exit", "restart"] });
    let keeperPid: unknown;
    try {
      const first = (await run.waitForReport((r) => r.generation === 1)) as Record<string, any>;
      keeperPid = first.keeper_pid;
      const second = (await run.waitForReport((r) => r.generation === 2)) as Record<string, any>;
      const keeper = (await run.waitForReport((r) => r.keeper === true)) as Record<string, any>;
      expect(keeper.error).toBeUndefined();

      expect(second.child_id).not.toBe(first.child_id);
      expect(second.own).toEqual(OK);
      // The restarted child is another child: its predecessor's job is not its own.
      expect(second.predecessors_job).toEqual({ status: 404, code: "job_not_found" });

      // What the old key's holder saw: both streams opened, then ended on their own when the child
      // went; the job was cancelled; the key is now refused everywhere.
      expect(keeper.client_id).toBe(first.client_id);
      expect(keeper.opened).toEqual([200, 200]);
      expect(keeper.ended).toEqual([true, true]);
      expect(keeper.events).toContainEqual({ event: "revoked", client_id: first.client_id, reason: "child_exited" });
      expect(keeper.job_events).toEqual([expect.objectContaining({ state: "cancelled" })]);
      expect(keeper.after_command).toEqual(REVOKED);
      expect(keeper.after_job).toEqual(REVOKED);

      const exited = eventsNamed(run, "child_exited").find((e) => e.child_id === first.child_id);
      expect(exited).toMatchObject({ status: 0 });
      expect(eventsNamed(run, "client_revoked").filter((e) => e.child_id === first.child_id).map((e) => [e.client_id, e.reason])).toEqual([
        [first.handoff_id, "superseded"],
        [first.client_id, "child_exited"],
      ]);
      expect(readAudit(run.auditPath).find((a) => a.event === "child_revoked" && a.child_id === first.child_id)).toMatchObject({
        reason: "child_exited",
        jobs_cancelled: 1,
      });
      run.proc.kill("SIGTERM");
      expect((await run.exited).code).toBe(0);
    } finally {
      endPid(keeperPid);
    }
  }, 60_000);
});

describe("ownership", () => {
  test("a child cannot GET, follow or DELETE another child's job (404, as for no job at all) while its owner can", async () => {
    const run = lifecycleRun("jobs", { args: ["--instances", "2"] });
    const other = (await run.waitForReport((r) => r.role === "other")) as Record<string, any>;
    const owner = (await run.waitForReport((r) => r.role === "owner")) as Record<string, any>;
    expect((await run.exited).code).toBe(0);
    expect(other.child_id).not.toBe(owner.child_id);
    expect(other.job_id).toBe(owner.job_id);
    const notFound = { status: 404, code: "job_not_found", detail: other.unknown.detail };
    expect(other.unknown).toMatchObject({ status: 404, code: "job_not_found" });
    expect(other.get).toEqual(notFound);
    expect(other.follow).toEqual(notFound);
    expect(other.cancel).toEqual(notFound);
    // The other child's DELETE did nothing: the owner finds its job running, follows and cancels it.
    expect(owner).toMatchObject({ start: 202, get: { status: 200, state: "running" }, follow: 200, cancel: 202 });
    expect(owner.exit).toMatchObject({ state: "cancelled" });
  }, 40_000);
});

describe("--instances", () => {
  for (const [firstStatus, secondStatus, expected] of [
    [3, 0, 3],
    [3, 5, 5],
  ] as const) {
    test(`two instances, each with its own endpoint and identity; one's exit (${firstStatus}) does not end the other (${secondStatus}); run exits ${expected}`, async () => {
      const run = lifecycleRun("instances", { args: ["--instances", "2"], fixture: ["--status", String(firstStatus), "--second-status", String(secondStatus)] });
      const first = (await run.waitForReport((r) => r.role === "first")) as Record<string, any>;
      const exited = await run.waitFor("child_exited");
      expect(exited).toMatchObject({ child_id: first.child_id, status: firstStatus });
      // The first child is gone; icecore and the second child are not.
      expect(isAlive(run.proc.pid)).toBe(true);
      writeFileSync(join(run.shared, "release"), "");
      const { code } = await run.exited;
      const second = (await run.waitForReport((r) => r.role === "second")) as Record<string, any>;
      expect(second.before).toEqual(OK);
      expect(second.after).toEqual(OK);
      expect(code).toBe(expected);

      const delivered = eventsNamed(run, "handoff_delivered");
      expect(delivered.map((e) => e.instance).sort()).toEqual([1, 2]);
      expect(new Set(delivered.map((e) => e.child_id))).toEqual(new Set([first.child_id, second.child_id]));
      expect(new Set(delivered.map((e) => e.client_id)).size).toBe(2);
      expect(new Set(eventsNamed(run, "handoff_listening").map((e) => e.name)).size).toBe(2);
      // Each child's signed /v1/info names its own child_id.
      expect([first.instance_child, second.instance_child]).toEqual([first.child_id, second.child_id]);
      expect(eventsNamed(run, "child_exited").map((e) => e.status)).toEqual([firstStatus, secondStatus]);
    }, 40_000);
  }
});

describe("flags", () => {
  test.each([
    [["--cert-ttl", "9s"], "--cert-ttl: the certificate lifetime must be at least 10 seconds"],
    [["--cert-ttl", "9999ms"], "--cert-ttl: the certificate lifetime must be at least 10 seconds"],
    [["--instances", "0"], "--instances: must be at least 1"],
    [["--instances", "17"], "--instances: must be at most 16"],
  ])("run %j is refused with one line, exit 64 (10 s is the shortest lifetime; the renewal test runs with it)", (args, message) => {
    const r = Bun.spawnSync([BINARY, "run", ...(args as string[])], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(64);
    expect(r.stderr.toString()).toBe(`icecore: run: ${message}\n`);
  });
});
