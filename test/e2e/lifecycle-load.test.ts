/**
 * SPEC §3 "its requests never fail across a renewal", through the compiled executable: with
 * `--cert-ttl 15s`, a child on the reference SDK keeps four workers running commands for 60 s
 * (one of them a 1 s command, so requests are in flight when renewals land) while the SDK renews
 * at once and on every `rotate`. Zero requests may fail; after each renewal the previous key is
 * presented again and must be refused (401 revoked_client); icecore's own log must agree.
 * Its own file so it runs alongside the other long lifecycle tests.
 */
import { expect, test } from "bun:test";
import { eventsNamed, lifecycleRun } from "./lifecycle-support.ts";

const DURATION_MS = 60_000;

test("60 s of commands across renewals (cert-ttl 15 s): no failed request, every old client_id refused", async () => {
  const run = lifecycleRun("load", { args: ["--cert-ttl", "15s"], fixture: ["--for", String(DURATION_MS)] });
  const r = (await run.waitForReport((report) => "requests" in report || "error" in report, DURATION_MS + 40_000)) as Record<string, any>;
  expect(r.error).toBeUndefined();
  expect((await run.exited).code).toBe(0);
  // The SDK's renewal loop reports any error it meets.
  expect(run.fixtureReports().filter((report) => "renewal_error" in report)).toEqual([]);
  console.log(
    `lifecycle load: ${r.requests} requests in ${DURATION_MS / 1000} s, ${r.failed} failed, ${r.renewals} renewals, ` +
      `${r.client_ids.length} client_ids, ${r.slow_commands} slow commands (${r.slow_across_renewal} in flight across a renewal), outcomes ${JSON.stringify(r.outcomes)}`,
  );
  expect(r.failures).toEqual([]);
  expect(r.failed).toBe(0);
  // One renewal right after the handoff, then one per `rotate` (every 10 s): at least three more.
  expect(r.renewals).toBeGreaterThanOrEqual(4);
  expect(new Set(r.client_ids).size).toBe(r.renewals + 1);
  expect(r.requests).toBeGreaterThan(100);
  // A 1 s command signed with the key being renewed was sent before and answered after a renewal.
  expect(r.slow_across_renewal).toBeGreaterThanOrEqual(1);
  // Every retired client_id, presented again once its successor had signed: refused.
  expect(r.probes).toEqual(r.client_ids.slice(0, -1).map((id: string) => ({ client_id: id, status: 401, code: "revoked_client" })));

  // icecore's side. Every request succeeded but the probes; rotations chain within one child.
  const requests = eventsNamed(run, "request");
  expect(requests.filter((e) => e.status !== 200).map((e) => e.status)).toEqual(r.probes.map(() => 401));
  const rotated = eventsNamed(run, "cert_rotated");
  expect(rotated.map((e) => e.client_id)).toEqual(r.client_ids.slice(1));
  expect(rotated.map((e) => e.previous_client_id)).toEqual(r.client_ids.slice(0, -1));
  expect(new Set(rotated.map((e) => e.child_id))).toEqual(new Set([r.child_id]));
  // On schedule: after the first, each renewal follows its leaf's `rotate` at 2/3 of 15 s, and
  // comes before that leaf expires.
  const gaps = rotated.slice(1).map((e, i) => Number(e.uptime_ms) - Number(rotated[i]!.uptime_ms));
  for (const gap of gaps) {
    expect(gap).toBeGreaterThanOrEqual(10_000 - 50);
    expect(gap).toBeLessThan(15_000);
  }
  // Each old client_id was revoked as superseded, and no request of it succeeded afterwards.
  const logged = run.events;
  for (const id of r.client_ids.slice(0, -1) as string[]) {
    const at = logged.findIndex((e) => e.event === "client_revoked" && e.client_id === id);
    expect(logged[at]).toMatchObject({ reason: "superseded" });
    expect(logged.slice(at).some((e) => e.event === "request" && e.client_id === id)).toBe(false);
  }
}, DURATION_MS + 60_000);
