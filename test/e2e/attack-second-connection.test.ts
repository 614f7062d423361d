/**
 * Issue 12 item 4, "one delivery by construction" (SPEC §4.4), through the compiled executable:
 * a child and its descendant (both pass the peer check) connect to the child's endpoint in a
 * tight loop. Exactly one connection gets the bundle; every attempt that starts after its first
 * byte, and a probe made while icecore is held stopped right after that byte, is refused by the
 * kernel (ECONNREFUSED), never queued and then dropped: the listener was closed on accept, before
 * the write. Several rounds, since a race is a race.
 * The order itself (close, then write) is pinned deterministically by test/handoff/one-delivery.test.ts.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { canSwitchUsers, testUser } from "../support/users.ts";
import { startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const ROUNDS = 5;

interface RaceReport {
  winners: string[];
  probe_while_stopped: string | null;
  bundle_ok: boolean;
  connections_with_bytes: number;
  before_first_byte: Record<string, number>;
  after_first_byte: Record<string, number>;
}

test(`item 4: a descendant racing a second connection after the first is accepted gets ECONNREFUSED, never a queued connection (${ROUNDS} rounds)`, async () => {
  const reports: RaceReport[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const run = startIcecore({ user: owner, child: [SYSTEM_PYTHON, join(FIXTURES, "second-connection-racer.py")] });
    const { code } = await run.exited;
    expect({ code, errors: run.errors }).toEqual({ code: 0, errors: [] });
    expect(run.events.filter((e) => e.event === "handoff_delivered")).toHaveLength(1);
    reports.push(run.fixtureReports()[0] as unknown as RaceReport);
  }
  console.log("second-connection races:\n" + reports.map((r) => JSON.stringify(r)).join("\n"));
  for (const r of reports) {
    expect(r.winners).toHaveLength(1);
    expect(r.connections_with_bytes).toBe(1);
    expect(r.bundle_ok).toBe(true);
    expect(r.probe_while_stopped).toBe("refused");
    // The race happened: the other racer kept trying after the first byte, and was refused every time.
    expect(r.after_first_byte.refused ?? 0).toBeGreaterThan(0);
    expect(Object.keys(r.after_first_byte)).toEqual(["refused"]);
  }
}, 60_000);
