/**
 * SPEC §8.2 against the compiled executable, icecore running as an unprivileged user:
 * squatters that connect before the child get zero bytes and the real child still gets its
 * bundle; one delivery ever; a child that never connects costs exit 69 and is terminated.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { asUser, canSwitchUsers, SWITCH_USERS_REASON, testUser } from "../support/users.ts";
import { fixtureChild, isAlive, readAudit, startIcecore } from "../support/icecore-process.ts";

if (!canSwitchUsers) console.warn(`handoff e2e: running icecore as the current user; ${SWITCH_USERS_REASON}`);
const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const stranger = canSwitchUsers ? testUser("icecore-e2e-other") : null;

function squat(user: typeof owner, name: string): { pid: number; uid: number; bytes: number; error?: string } {
  const result = Bun.spawnSync(asUser(user, [SYSTEM_PYTHON, join(FIXTURES, "squatter.py"), name]), { stdout: "pipe", stderr: "pipe" });
  return JSON.parse(result.stdout.toString().trim());
}

describe("handoff endpoint", () => {
  test("a same-uid process that is not a descendant of the child connects first: zero bytes; the child still gets its bundle", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild("--wait-file", "go") });
    const listening = await run.waitFor("handoff_listening");
    const name = String(listening.name);
    const squatter = squat(owner, name);
    expect(squatter.uid).toBe(owner?.uid ?? process.getuid!());
    expect(squatter.bytes).toBe(0);
    const rejected = await run.waitFor("handoff_peer_rejected");
    expect(rejected.pid).toBe(squatter.pid);
    expect(String(rejected.reason)).toContain("not the child");
    writeFileSync(join(run.dir, "go"), "");
    const { code } = await run.exited;
    expect(code).toBe(0);
    const [report] = run.fixtureReports();
    expect(report).toMatchObject({ received: true, has_key: true });
    const audit = readAudit(run.auditPath).filter((r) => r.event === "handoff_peer_rejected");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ pid: squatter.pid, uid: squatter.uid });
    expect(typeof audit[0]!.exe).toBe("string");
  });

  test.skipIf(!canSwitchUsers)("a process of another uid connects first: zero bytes; the child still gets its bundle", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild("--wait-file", "go") });
    const name = String((await run.waitFor("handoff_listening")).name);
    const other = squat(stranger, name);
    const asRoot = squat(null, name);
    expect(other.uid).toBe(stranger!.uid);
    expect(other.bytes).toBe(0);
    expect(asRoot.uid).toBe(0);
    expect(asRoot.bytes).toBe(0);
    writeFileSync(join(run.dir, "go"), "");
    expect((await run.exited).code).toBe(0);
    expect(run.fixtureReports()[0]).toMatchObject({ received: true });
    const reasons = readAudit(run.auditPath)
      .filter((r) => r.event === "handoff_peer_rejected")
      .map((r) => String(r.reason));
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) expect(reason).toMatch(/^uid \d+ is not icecore's uid/);
  });

  test("a descendant of the child (a grandchild) is accepted and can call the API", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild("--via-grandchild") });
    expect((await run.exited).code).toBe(0);
    const [report] = run.fixtureReports();
    expect(report).toMatchObject({ received: true, health: 200 });
  });

  test("one delivery ever: the endpoint is gone when the child reads, a second connection is refused", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild("--again") });
    expect((await run.exited).code).toBe(0);
    const [report] = run.fixtureReports();
    expect(report).toMatchObject({ received: true, listed_after: false, second: { refused: true } });
    // SPEC §4.4: the listener is closed when the peer is accepted, before the first byte: the
    // close is logged first, and the delivery says how long after it the bundle was written.
    const order = run.events.map((e) => e.event).filter((e) => e === "handoff_closed" || e === "handoff_delivered");
    expect(order).toEqual(["handoff_closed", "handoff_delivered"]);
    const delivered = run.events.find((e) => e.event === "handoff_delivered")!;
    expect(Number(delivered.closed_before_write_ms)).toBeGreaterThanOrEqual(0);
  });

  test("a child that never connects: exit 69 within the timeout plus a margin, child terminated, endpoint gone", async () => {
    const run = startIcecore({ user: owner, args: ["--handoff-timeout", "1s"], child: fixtureChild("--never") });
    const name = String((await run.waitFor("handoff_listening")).name);
    const spawned = await run.waitFor("child_spawned");
    const { code, ms } = await run.exited;
    expect(code).toBe(69);
    expect(ms).toBeLessThan(1000 + 2500);
    expect(isAlive(Number(spawned.pid))).toBe(false);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toBe("icecore: run: handoff failed: the child did not connect within 1000 ms");
    expect(require("node:fs").readFileSync("/proc/net/unix", "latin1")).not.toContain(name);
    expect(readAudit(run.auditPath).some((r) => r.event === "handoff_failed")).toBe(true);
  });

  test("a child that dies before taking its bundle: exit 69 at once", async () => {
    const run = startIcecore({ user: owner, args: ["--handoff-timeout", "5s"], child: fixtureChild("--exit-now", "3") });
    const { code, ms } = await run.exited;
    expect(code).toBe(69);
    expect(ms).toBeLessThan(3000);
    expect(run.errors[0]).toBe("icecore: run: handoff failed: the child exited (status 3) before taking its bundle");
  });
});
