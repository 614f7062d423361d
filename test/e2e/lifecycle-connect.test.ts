/**
 * The reference child itself, compiled: `icecore run --cert-ttl 15s -- icecore connect --for 60s
 * --exec system.info --exec test.pause --json` keeps running commands for 60 s across renewals
 * (at once, then on every `rotate`) with zero failed requests. connect never presents a retired
 * key again, so here the refusal of each old client_id is read from icecore's log: revoked as
 * superseded, and never accepted afterwards (lifecycle-load.test.ts presents them and sees 401).
 * Its own file so it runs alongside the other long lifecycle tests.
 */
import { expect, test } from "bun:test";
import { BINARY } from "../support/paths.ts";
import { scratchDir } from "../support/users.ts";
import { startIcecore } from "../support/icecore-process.ts";
import { POLICY, eventsNamed, owner } from "./lifecycle-support.ts";

test("icecore connect --for 60s with cert-ttl 15s: zero failed requests across at least three renewals", async () => {
  const run = startIcecore({
    user: owner,
    dir: scratchDir(owner, "lifecycle-connect"),
    args: ["--policy", POLICY, "--cert-ttl", "15s"],
    child: [BINARY, "connect", "--for", "60s", "--exec", "system.info", "--exec", "test.pause", "--json"],
  });
  const { code } = await run.exited;
  const summaryLine = run
    .stdout()
    .split("\n")
    .find((line) => line.startsWith('{"summary"'));
  expect(summaryLine).toBeDefined();
  const { summary } = JSON.parse(summaryLine!) as { summary: { requests: number; failed: number; renewals: number; clientIds: string[]; status: number } };
  console.log(`icecore connect: ${summary.requests} requests in 60 s, ${summary.failed} failed, ${summary.renewals} renewals, ${summary.clientIds.length} client_ids`);
  expect(code).toBe(0);
  expect(summary.failed).toBe(0);
  expect(summary.status).toBe(0);
  expect(summary.renewals).toBeGreaterThanOrEqual(4);
  expect(new Set(summary.clientIds).size).toBe(summary.renewals + 1);

  const requests = eventsNamed(run, "request");
  expect(requests.length).toBeGreaterThanOrEqual(summary.requests);
  expect(requests.filter((e) => e.status !== 200)).toEqual([]);
  expect(eventsNamed(run, "cert_rotated").map((e) => [e.previous_client_id, e.client_id])).toEqual(
    summary.clientIds.slice(1).map((id, i) => [summary.clientIds[i], id]),
  );
  // Each old client_id was revoked as superseded by its successor's first request, and no request
  // of it was accepted afterwards. (A renewal in the run's last moments may have a successor that
  // never signed: that key goes with the child, as the newest one does.)
  const logged = run.events;
  const ids = summary.clientIds;
  let superseded = 0;
  for (const [i, id] of ids.entries()) {
    const revokedAt = logged.findIndex((e) => e.event === "client_revoked" && e.client_id === id);
    expect(revokedAt).toBeGreaterThanOrEqual(0);
    expect(logged.slice(revokedAt).some((e) => e.event === "request" && e.client_id === id)).toBe(false);
    const successorSigned = logged.findIndex((e) => e.event === "request" && e.client_id === ids[i + 1]);
    if (successorSigned === -1) {
      expect(logged[revokedAt]).toMatchObject({ reason: "child_exited" });
    } else {
      expect(logged[revokedAt]).toMatchObject({ reason: "superseded" });
      expect(revokedAt).toBeLessThan(successorSigned);
      superseded++;
    }
  }
  expect(superseded).toBeGreaterThanOrEqual(4);
}, 120_000);
