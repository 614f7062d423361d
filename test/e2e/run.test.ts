/** SPEC §2/§7 lifecycle of the compiled executable, run as an unprivileged user. */
import { describe, expect, test } from "bun:test";
import { canSwitchUsers, testUser } from "../support/users.ts";
import { fixtureChild, isAlive, readAudit, startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

describe("icecore run", () => {
  test("with no child it runs its own `connect`, which prints a transcript of health and info over mTLS", async () => {
    const run = startIcecore({ user: owner });
    const { code } = await run.exited;
    expect(code).toBe(0);
    const out = run.stdout();
    expect(out).toContain("icecore connect: bundle received");
    expect(out).toMatch(/GET \/v1\/health -> 200 \{"status":"ok"\}/);
    expect(out).toMatch(/GET \/v1\/info -> 200 \{"name":"icecore"/);
    const spawned = run.events.find((e) => e.event === "child_spawned")!;
    const listening = run.events.find((e) => e.event === "handoff_listening")!;
    expect(String(listening.name)).toMatch(/^@icecore-[0-9a-f]{32}$/);
    const requests = run.events.filter((e) => e.event === "request");
    // connect renews its certificate at once (SPEC §3) while it checks health and info.
    expect(requests.map((r) => [r.method, r.path, r.status])).toEqual(
      expect.arrayContaining([
        ["GET", "/v1/health", 200],
        ["GET", "/v1/info", 200],
        ["POST", "/v1/identity/renew", 200],
      ]),
    );
    expect(requests.every((r) => r.status === 200)).toBe(true);
    expect(isAlive(Number(spawned.pid))).toBe(false);
  });

  test("the child's argv gets exactly --pipe-name <name> appended", async () => {
    const run = startIcecore({ user: owner, child: ["/bin/sh", "-c", 'printf "FIXTURE %s\\n" "{\\"argv\\":\\"$*\\"}"', "sh", "a b", "c"], args: ["--handoff-timeout", "500ms"] });
    await run.exited;
    const name = String(run.events.find((e) => e.event === "handoff_listening")!.name);
    expect(run.fixtureReports()[0]).toEqual({ argv: `a b c --pipe-name ${name}` });
  });

  test("icecore exits with the child's exit status", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild("--status", "7") });
    expect((await run.exited).code).toBe(7);
    expect(run.events.find((e) => e.event === "child_exited")).toMatchObject({ status: 7 });
  });

  test("SIGTERM: exit 0, the child is terminated, the shutdown is audited", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild("--hold-file", "never-created") });
    await run.waitFor("api_ready");
    const child = Number((await run.waitFor("child_spawned")).pid);
    expect(isAlive(child)).toBe(true);
    run.proc.kill("SIGTERM");
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(isAlive(child)).toBe(false);
    expect(run.events.at(-1)).toMatchObject({ event: "shutdown", reason: "SIGTERM" });
    expect(readAudit(run.auditPath).at(-1)).toMatchObject({ event: "shutdown", reason: "SIGTERM" });
  });

  test("--on-child-exit restart: a new child gets a new client certificate through a new endpoint", async () => {
    const run = startIcecore({ user: owner, child: fixtureChild(), args: ["--on-child-exit", "restart"] });
    const { code } = await run.exited;
    expect(code).toBe(0);
    const delivered = run.events.filter((e) => e.event === "handoff_delivered");
    const endpoints = run.events.filter((e) => e.event === "handoff_listening").map((e) => e.name);
    // Restarts stop after 5 in a minute, so a child that keeps exiting cannot spin forever.
    expect(delivered).toHaveLength(6);
    expect(new Set(delivered.map((e) => e.client_id)).size).toBe(6);
    expect(new Set(endpoints).size).toBe(6);
    expect(run.events.some((e) => e.event === "restart_limit")).toBe(true);
  });
});
