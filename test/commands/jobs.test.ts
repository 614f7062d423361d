/**
 * SPEC §5 jobs with real processes through the real routes: 202 + Location, the SSE stream
 * delivers every line in order and the exit event (live and to a late subscriber, and resumes
 * from Last-Event-ID), cancel (SIGTERM; SIGKILL after 5 s for a program that ignores it), job
 * timeout, bounded backlog, bounded retention.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { JobManager } from "../../src/commands/jobs.ts";
import { commandEnv } from "../../src/commands/executor.ts";
import { BUN, catalogueOf, parseSse, PRINT_LINES, processGone, readJson, SPAWN_TREE, tempDir, testApp, waitFor, type TestApp, removeScratch } from "./helpers.ts";

afterAll(removeScratch);

const dir = tempDir();
const catalogue = catalogueOf({
  "t.lines": {
    description: "prints lines",
    executable: BUN,
    argv: [PRINT_LINES, "{count}", "{code}", "{delay}"],
    params: { count: { type: "integer", min: 1, max: 100000 }, code: { type: "integer", min: 0, max: 255 }, delay: { type: "integer", min: 0, max: 1000 } },
    long: true,
  },
  "t.tree": {
    description: "process tree",
    executable: BUN,
    argv: [SPAWN_TREE, "{pidfile}", "{mode}"],
    params: { pidfile: { type: "path", roots: [dir] }, mode: { type: "string", enum: ["wait", "ignore-term"] } },
    long: true,
  },
  "t.slow": {
    description: "times out",
    executable: "/usr/bin/sleep",
    argv: ["30"],
    long: true,
    timeout_ms: 300,
  },
});

async function startJob(t: TestApp, name: string, args: Record<string, unknown>): Promise<string> {
  const res = await t.post(name, { args });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { job_id: string };
  expect(body.job_id).toMatch(/^[0-9a-f]{32}$/);
  expect(res.headers.get("location")).toBe(`/v1/jobs/${body.job_id}`);
  return body.job_id;
}

async function events(t: TestApp, id: string, lastEventId?: string) {
  const res = await t.get(`/v1/jobs/${id}/events`, undefined, lastEventId ? { "Last-Event-ID": lastEventId } : {});
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/event-stream");
  return parseSse(await res.text());
}

function expectFullStream(evs: ReturnType<typeof parseSse>, count: number, exitCode: number, state: string) {
  const out = evs.filter((e) => e.event === "output").map((e) => JSON.parse(e.data) as { stream: string; line: string });
  expect(out.filter((o) => o.stream === "stdout").map((o) => o.line)).toEqual(Array.from({ length: count }, (_, i) => `out ${i + 1}`));
  expect(out.filter((o) => o.stream === "stderr").map((o) => o.line)).toEqual(Array.from({ length: Math.floor(count / 10) }, (_, i) => `err ${(i + 1) * 10}`));
  const last = evs.at(-1)!;
  expect(last.event).toBe("exit");
  expect(JSON.parse(last.data)).toMatchObject({ exit_code: exitCode, state });
  expect(evs.filter((e) => e.event === "exit")).toHaveLength(1);
  // ids strictly increase: a reconnecting client can resume exactly
  const ids = evs.map((e) => Number(e.id));
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
}

describe("job stream", () => {
  test("live subscriber: every line in order, then the exit event; GET shows the final state", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const id = await startJob(t, "t.lines", { count: 500, code: 0, delay: 20 });
    const running = (await (await t.get(`/v1/jobs/${id}`)).json()) as { state: string };
    expect(running.state).toBe("running");
    const evs = await events(t, id);
    expectFullStream(evs, 500, 0, "succeeded");
    const info = (await (await t.get(`/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ job_id: id, command: "t.lines", state: "succeeded", exit_code: 0, truncated: false });
    expect(typeof info.duration_ms).toBe("number");
    expect(typeof info.ended_at).toBe("string");
  });

  test("late subscriber gets the whole stream from the start; Last-Event-ID resumes after that id", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const id = await startJob(t, "t.lines", { count: 200, code: 3, delay: 0 });
    await t.jobs.get(id, t.childId())!.done;
    const evs = await events(t, id);
    expectFullStream(evs, 200, 3, "failed");
    const cut = evs[100]!;
    const rest = await events(t, id, cut.id);
    expect(rest).toEqual(evs.slice(101));
  });

  test("several subscribers at once each get everything", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const id = await startJob(t, "t.lines", { count: 300, code: 0, delay: 10 });
    const all = await Promise.all([events(t, id), events(t, id), events(t, id)]);
    for (const evs of all) expectFullStream(evs, 300, 0, "succeeded");
  });

  test("unknown job: 404 problem", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    for (const path of [`/v1/jobs/${"0".repeat(32)}`, "/v1/jobs/nope", `/v1/jobs/${"0".repeat(32)}/events`]) {
      const res = await t.get(path);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("job_not_found");
    }
  });
});

describe("cancel", () => {
  test("DELETE: SIGTERM to the group, state cancelled, parent and child gone, exit event sent", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const pidfile = join(dir, "cancel1.json");
    const id = await startJob(t, "t.tree", { pidfile, mode: "wait" });
    expect(await waitFor(() => Bun.file(pidfile).size > 0)).toBe(true);
    const { parent, child } = readJson<{ parent: number; child: number }>(pidfile);
    const res = await t.del(`/v1/jobs/${id}`);
    expect(res.status).toBe(202);
    const job = await t.jobs.get(id, t.childId())!.done;
    expect(job.state).toBe("cancelled");
    expect(job.signal).toBe("SIGTERM");
    expect(await waitFor(() => processGone(parent) && processGone(child), 3000)).toBe(true);
    const evs = await events(t, id);
    expect(JSON.parse(evs.at(-1)!.data)).toMatchObject({ state: "cancelled" });
    expect(evs.some((e) => e.event === "progress" && JSON.parse(e.data).message === "cancelling")).toBe(true);
    // A second DELETE on a finished job is harmless.
    expect((await t.del(`/v1/jobs/${id}`)).status).toBe(200);
    const cancels = t.auditRecords().filter((r) => r.event === "job_cancel");
    expect(cancels.map((r) => r.outcome)).toEqual(["cancelling", "already_finished"]);
  });

  test("a job that ignores SIGTERM is SIGKILLed after 5 s", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const pidfile = join(dir, "cancel2.json");
    const id = await startJob(t, "t.tree", { pidfile, mode: "ignore-term" });
    expect(await waitFor(() => Bun.file(pidfile).size > 0)).toBe(true);
    const { parent, child } = readJson<{ parent: number; child: number }>(pidfile);
    const started = performance.now();
    expect((await t.del(`/v1/jobs/${id}`)).status).toBe(202);
    await Bun.sleep(1000);
    expect(processGone(parent)).toBe(false); // still ignoring SIGTERM
    expect(await waitFor(() => processGone(child), 1000)).toBe(true); // the sleep child did not ignore it
    const job = await t.jobs.get(id, t.childId())!.done;
    const elapsed = performance.now() - started;
    expect(job.state).toBe("cancelled");
    expect(job.signal).toBe("SIGKILL");
    expect(elapsed).toBeGreaterThanOrEqual(4900);
    expect(elapsed).toBeLessThan(8000);
    expect(await waitFor(() => processGone(parent), 2000)).toBe(true);
  }, 20_000);

  test("DELETE must be signed (clientId) and is audited either way", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const res = await t.del(`/v1/jobs/${"0".repeat(32)}`, null);
    expect(res.status).toBe(401);
    expect((await t.del(`/v1/jobs/${"0".repeat(32)}`)).status).toBe(404);
    expect(t.auditRecords().map((r) => [r.event, r.outcome, r.code])).toEqual([
      ["job_cancel", "refused", "signature_missing"],
      ["job_cancel", "refused", "job_not_found"],
    ]);
  });
});

describe("job limits", () => {
  test("timeout: state timed_out", async () => {
    const t = await testApp({ catalogue, dir: tempDir() });
    const id = await startJob(t, "t.slow", {});
    const job = await t.jobs.get(id, t.childId())!.done;
    expect(job.state).toBe("timed_out");
    const ends = t.auditRecords().filter((r) => r.event === "job_finished");
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ job_id: id, outcome: "timed_out", client_id: t.clientId(), child_id: t.childId() });
  });

  test("bounded backlog: a late subscriber is told how many lines it missed, then gets the rest and the exit", async () => {
    const jobs = new JobManager({ backlogEvents: 50 });
    const t = await testApp({ catalogue, dir: tempDir(), jobs });
    const job = jobs.start({ command: "t", argv: [BUN, PRINT_LINES, "1000"], env: commandEnv([]), timeoutMs: 30_000, maxOutputBytes: 1 << 20, childId: t.childId() });
    await job.done;
    const { events: evs, dropped } = job.read(0);
    expect(evs).toHaveLength(50);
    expect(dropped).toBeGreaterThan(1000);
    expect(evs.at(-1)!.type).toBe("exit");
    const sse = await events(t, job.id);
    expect(sse[0]!.event).toBe("dropped");
    expect(JSON.parse(sse[0]!.data).count).toBe(dropped);
    expect(sse.at(-1)!.event).toBe("exit");
  });

  test("output over max_output_bytes: lines dropped, job marked truncated", async () => {
    const jobs = new JobManager();
    const job = jobs.start({ command: "t", argv: [BUN, PRINT_LINES, "1000"], env: commandEnv([]), timeoutMs: 30_000, maxOutputBytes: 100, childId: "c0ffee" });
    await job.done;
    expect(job.truncated).toBe(true);
    const lines = job.read(0).events.flatMap((e) => (e.type === "output" && e.data.stream === "stdout" ? [e.data.line] : []));
    // Kept bytes = the lines plus the newlines between them (the last, cut-off line has none).
    expect(lines.join("\n").length).toBeLessThanOrEqual(100);
    expect(lines.at(-2)).toBe(`out ${lines.length - 1}`);
  });

  test("finished jobs are evicted beyond maxFinished, oldest first", async () => {
    const jobs = new JobManager({ maxFinished: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = jobs.start({ command: "t", argv: ["/usr/bin/true"], env: commandEnv([]), timeoutMs: 5000, maxOutputBytes: 10, childId: "c0ffee" });
      ids.push(job.id);
      await job.done;
    }
    expect(jobs.get(ids[0]!, "c0ffee")).toBeUndefined();
    expect(jobs.get(ids[1]!, "c0ffee")).toBeDefined();
    expect(jobs.get(ids[2]!, "c0ffee")).toBeDefined();
  });

  test("shutdown cancels every running job", async () => {
    const jobs = new JobManager({ killGraceMs: 500 });
    const a = jobs.start({ command: "t", argv: ["/usr/bin/sleep", "30"], env: commandEnv([]), timeoutMs: 60_000, maxOutputBytes: 10, childId: "c0ffee" });
    const b = jobs.start({ command: "t", argv: ["/usr/bin/sleep", "30"], env: commandEnv([]), timeoutMs: 60_000, maxOutputBytes: 10, childId: "c0ffee" });
    await jobs.shutdown();
    expect([a.state, b.state]).toEqual(["cancelled", "cancelled"]);
    expect(jobs.running()).toEqual([]);
  });
});
