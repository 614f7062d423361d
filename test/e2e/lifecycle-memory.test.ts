/**
 * SPEC §3 "the registry forgets revoked and expired identities": 1,000 restart/renewal cycles
 * through the compiled executable leave icecore's registry at its bound and its RSS flat.
 *
 * The design, and why: icecore restarts a child at most 5 times a minute per instance (a
 * crash-looping child must not spin), so 1,000 restarts would take over three hours. A cycle is
 * therefore either
 *   - a renewal: the child generates a key, POST /v1/identity/renew, and signs a command with the
 *     new key, which revokes the old one (a new leaf, a tombstone, a rotation timer, replay keys), or
 *   - a restart: a child exits and icecore starts another (a new child_id, a handoff, an event
 *     stream, and the revocation of everything the old child held),
 * counted from icecore's own log (`cert_rotated`, and `handoff_delivered` beyond the first four).
 * 4 instances; each child renews 51 times (once at start, as the SDK does, then 50 in a loop) and
 * exits; each instance restarts its child as often as the limit allows (5 times), and its 6th
 * exit within the minute ends it (`restart_limit`), which ends the run: 24 children, 20 restarts,
 * 1,224 renewals. At cycles 0, 250, 500, 750 and 1,000 the test reads icecore's VmRSS from /proc
 * and the registry's size from the latest `cert_rotated` (which carries it). Its own file so it
 * runs alongside the other long tests.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { LogEvent } from "../support/icecore-process.ts";
import { eventsNamed, lifecycleRun } from "./lifecycle-support.ts";

const INSTANCES = 4;
const RENEWALS_PER_CHILD = 50;
const CYCLES = 1000;
const CHECKPOINTS = [0, 250, 500, 750, 1000];
const MAX_REVOKED = 256; // src/identity/registry.ts

function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line!.replace(/\D+/g, ""));
}

function cyclesIn(events: LogEvent[]): number {
  let rotated = 0;
  let delivered = 0;
  for (const e of events) {
    if (e.event === "cert_rotated") rotated++;
    else if (e.event === "handoff_delivered") delivered++;
  }
  return rotated + Math.max(0, delivered - INSTANCES);
}

test("1,000 restart/renewal cycles leave icecore's registry at its bound and its RSS flat", async () => {
  const run = lifecycleRun("cycles", { args: ["--instances", String(INSTANCES), "--on-child-exit", "restart"], fixture: ["--renewals", String(RENEWALS_PER_CHILD)] });
  await run.waitUntil((events) => events.filter((e) => e.event === "handoff_delivered").length >= INSTANCES);
  const samples: { cycle: number; rss_kib: number; registry: Record<string, unknown> | null; restarts: number; renewals: number }[] = [];
  for (const checkpoint of CHECKPOINTS) {
    await run.waitUntil((events) => cyclesIn(events) >= checkpoint, 240_000);
    const rotated = eventsNamed(run, "cert_rotated");
    const last = rotated.at(-1);
    samples.push({
      cycle: cyclesIn(run.events),
      rss_kib: rssKiB(run.proc.pid),
      registry: last ? { leaves: last.registry_leaves, revoked: last.registry_revoked, children: last.registry_children } : null,
      restarts: Math.max(0, eventsNamed(run, "handoff_delivered").length - INSTANCES),
      renewals: rotated.length,
    });
  }
  // The run ends by itself once every instance has used up its restarts.
  expect((await run.exited).code).toBe(0);
  const reports = run.fixtureReports();
  console.log("lifecycle memory (cycle, VmRSS KiB, registry leaves/revoked/children, renewals, restarts):");
  for (const s of samples) {
    const reg = s.registry ? `${s.registry.leaves}/${s.registry.revoked}/${s.registry.children}` : "-";
    console.log(`  ${String(s.cycle).padStart(5)}  ${String(s.rss_kib).padStart(8)}  ${reg.padStart(12)}  ${String(s.renewals).padStart(5)}  ${s.restarts}`);
  }

  // Every child did its renewals with no failed command and no failed renewal.
  expect(reports.filter((r) => "error" in r || "renewal_error" in r)).toEqual([]);
  const children = reports.filter((r) => "cycles" in r);
  expect(children.length).toBeGreaterThanOrEqual(6 * INSTANCES);
  expect(children.every((r) => r.failed === 0 && r.cycles === RENEWALS_PER_CHILD)).toBe(true);
  expect(eventsNamed(run, "handoff_delivered").length).toBe(children.length);
  expect(eventsNamed(run, "restart_limit").map((e) => e.instance).sort()).toEqual([1, 2, 3, 4]);

  // The registry holds the live leaves (at most two per child) plus at most MAX_REVOKED tombstones.
  for (const s of samples.slice(2)) {
    expect(Number(s.registry!.revoked)).toBeLessThanOrEqual(MAX_REVOKED + 2);
    expect(Number(s.registry!.leaves)).toBeLessThanOrEqual(MAX_REVOKED + 2 * INSTANCES + 2);
    expect(Number(s.registry!.children)).toBeLessThanOrEqual(MAX_REVOKED + INSTANCES + 2);
  }
  // RSS: whatever the first cycles warm up (JIT, TLS sessions, the app itself), the second half
  // of the run adds little. A leak of every leaf, key or stream would show here.
  const at500 = samples[2]!.rss_kib;
  const at1000 = samples[4]!.rss_kib;
  expect(at1000 - at500).toBeLessThan(Math.max(16_384, at500 * 0.2));
}, 300_000);
