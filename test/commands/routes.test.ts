/**
 * SPEC §5/§6 through the real routes: every refusal kind with its status and code, 429 with
 * Retry-After per client, and the audit invariant: exactly one `command` record per attempt,
 * written before the response, with a SHA-256 of the canonical args and never the args or the
 * output in clear.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { createConcurrencyLimiter } from "../../src/commands/concurrency.ts";
import { argsSha256, canonicalJson } from "../../src/commands/args-digest.ts";
import { createLogger } from "../../src/log/logger.ts";
import { BUN, catalogueOf, CLIENT_A, CLIENT_B, readJson, RECORDER, tempDir, testApp, removeScratch } from "./helpers.ts";

afterAll(removeScratch);

const dir = tempDir();
const OUT = join(dir, "out.json");
const catalogue = catalogueOf({
  "t.rec": { description: "record", executable: BUN, argv: [RECORDER, OUT, "--", "{text}"], params: { text: { type: "string", maxLength: 100 } } },
  "t.fail": { description: "exits 1", executable: "/usr/bin/false", argv: [] },
  "t.root": { description: "elevated", executable: BUN, argv: [RECORDER, OUT], elevate: true },
  "t.gone": { description: "missing tool", executable: "/nonexistent/tool", argv: [] },
  "t.hold": { description: "holds a slot", executable: "/usr/bin/sleep", argv: ["30"], long: true },
  "t.slow": { description: "sync and slow", executable: "/usr/bin/sleep", argv: ["{s}"], params: { s: { type: "string", enum: ["0.5", "1"] } } },
  "t.timeout": { description: "times out", executable: "/usr/bin/sleep", argv: ["30"], timeout_ms: 200 },
});

async function problem(res: Response) {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return (await res.json()) as { status: number; code: string; type: string; title: string; detail: string; issues?: unknown[] };
}

describe("GET /v1/commands", () => {
  test("lists every command with its args schema and availability", async () => {
    const t = await testApp({ catalogue });
    const res = await t.get("/v1/commands");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { commands: { name: string; available: boolean; elevated: boolean; args: { properties: Record<string, unknown> } }[] };
    expect(body.commands.map((c) => c.name)).toEqual(["t.fail", "t.gone", "t.hold", "t.rec", "t.root", "t.slow", "t.timeout"]);
    expect(body.commands.find((c) => c.name === "t.gone")!.available).toBe(false);
    expect(body.commands.find((c) => c.name === "t.root")!.elevated).toBe(true);
    expect(body.commands.find((c) => c.name === "t.rec")!.args.properties.text).toMatchObject({ type: "string", maxLength: 100 });
  });
});

describe("POST /v1/commands/{name}", () => {
  test("success: {exit_code, stdout, stderr, duration_ms, truncated}", async () => {
    const t = await testApp({ catalogue });
    const res = await t.post("t.rec", { args: { text: "hello" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ exit_code: 0, stdout: "recorded 2 argument(s)\n", stderr: "", truncated: false, timed_out: false, signal: null });
    expect(typeof body.duration_ms).toBe("number");
    expect(readJson<{ argv: string[] }>(OUT).argv).toEqual(["--", "hello"]);
  });

  test("a failing command is a 200 with its exit code; a timed-out one says so", async () => {
    const t = await testApp({ catalogue });
    expect(await (await t.post("t.fail", { args: {} })).json()).toMatchObject({ exit_code: 1, timed_out: false });
    expect(await (await t.post("t.timeout", { args: {} })).json()).toMatchObject({ exit_code: null, timed_out: true, signal: "SIGTERM" });
    expect(t.auditRecords().filter((r) => r.event === "command_result").map((r) => r.outcome)).toEqual(["failed", "timed_out"]);
  });

  test.each([
    ["unknown command", "no.such", { args: {} }, "x", 404, "unknown_command"],
    ["unavailable tool", "t.gone", { args: {} }, "x", 503, "command_unavailable"],
    ["invalid args", "t.rec", { args: { text: 5 } }, "x", 422, "validation_failed"],
    ["elevation with --elevate-with none", "t.root", { args: {} }, "x", 403, "elevation_unavailable"],
    ["unsigned (no clientId)", "t.rec", { args: { text: "x" } }, null, 401, "signature_missing"],
  ] as const)("%s -> %i %s, nothing run, one audit record", async (_label, name, body, client, status, code) => {
    const t = await testApp({ catalogue });
    rmSync(OUT, { force: true });
    const res = await t.post(name, body, client === null ? null : CLIENT_A);
    expect(res.status).toBe(status);
    const p = await problem(res);
    expect(p).toMatchObject({ status, code });
    expect(existsSync(OUT)).toBe(false);
    const records = t.auditRecords();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ event: "command", command: name, outcome: "refused", code, status });
  });
});

describe("per-client concurrency (429)", () => {
  test("the 5th concurrent command of one client is refused with Retry-After: 1; another client is not", async () => {
    const t = await testApp({ catalogue, limiter: createConcurrencyLimiter() });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.post("t.hold", { args: {} });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { job_id: string }).job_id);
    }
    rmSync(OUT, { force: true });
    const refused = await t.post("t.rec", { args: { text: "x" } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await problem(refused)).code).toBe("too_many_requests");
    expect(existsSync(OUT)).toBe(false);
    // Another client is unaffected.
    expect((await t.post("t.rec", { args: { text: "x" } }, CLIENT_B)).status).toBe(200);
    // A finished job frees its slot.
    await t.del(`/v1/jobs/${ids[0]}`);
    await t.jobs.get(ids[0]!, t.childId())!.done;
    expect((await t.post("t.rec", { args: { text: "x" } })).status).toBe(200);
    await t.jobs.shutdown();
    expect(t.limiter.inFlight(t.clientId())).toBe(0);
  });

  test("sync commands hold a slot while they run", async () => {
    const t = await testApp({ catalogue, limiter: createConcurrencyLimiter({ perClient: 2 }) });
    const running = [t.post("t.slow", { args: { s: "1" } }), t.post("t.slow", { args: { s: "1" } })];
    while (t.limiter.inFlight(t.clientId()) < 2) await new Promise((r) => setImmediate(r));
    expect((await t.post("t.slow", { args: { s: "0.5" } })).status).toBe(429);
    expect((await Promise.all(running)).map((r) => r.status)).toEqual([200, 200]);
    expect((await t.post("t.slow", { args: { s: "0.5" } })).status).toBe(200);
  });
});

describe("audit", () => {
  test("one `command` record per attempt, written before the response (before the process for a run); args hashed, nothing in clear", async () => {
    const t = await testApp({ catalogue, limiter: createConcurrencyLimiter({ perClient: 1 }) });
    const secret = "zebra-unique-4711";
    const attempts: [string, unknown, number][] = [
      ["t.rec", { args: { text: secret } }, 200],
      ["t.rec", { args: { text: `-${secret}` } }, 422],
      ["t.rec", { args: { text: secret, extra: 1 } }, 422],
      ["no.such", { args: { text: secret } }, 404],
      ["t.gone", { args: {} }, 503],
      ["t.root", { args: {} }, 403],
      ["t.fail", { args: {} }, 200],
      ["t.rec", "not an object", 422],
      ["t.fail", {}, 422],
    ];
    let n = 0;
    for (const [name, body, status] of attempts) {
      const res = await t.post(name, body);
      expect(res.status).toBe(status);
      n++;
      // The record is on disk when the response is in our hands.
      expect(t.auditRecords().filter((r) => r.event === "command")).toHaveLength(n);
    }
    // A 429: hold the only slot with a job, then try again.
    const held = await t.post("t.hold", { args: {} });
    expect(held.status).toBe(202);
    n++;
    expect((await t.post("t.rec", { args: { text: secret } })).status).toBe(429);
    n++;
    await t.jobs.shutdown();

    const records = t.auditRecords();
    const commands = records.filter((r) => r.event === "command");
    expect(commands).toHaveLength(n);
    expect(commands.map((r) => [r.outcome, r.code ?? null])).toEqual([
      ["started", null],
      ["refused", "validation_failed"],
      ["refused", "validation_failed"],
      ["refused", "unknown_command"],
      ["refused", "command_unavailable"],
      ["refused", "elevation_unavailable"],
      ["started", null],
      ["refused", "validation_failed"],
      ["refused", "validation_failed"],
      ["accepted", null],
      ["refused", "too_many_requests"],
    ]);
    for (const r of commands) {
      expect(r.client_id).toBe(t.clientId());
      expect(r.child_id).toBe(t.childId());
      expect(r.args_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(typeof r.time).toBe("string");
    }
    // What ran has its result: exit code and duration, linked to its attempt.
    const results = records.filter((r) => r.event === "command_result");
    expect(results.map((r) => [r.command, r.outcome, r.exit_code])).toEqual([
      ["t.rec", "succeeded", 0],
      ["t.fail", "failed", 1],
    ]);
    expect(results.map((r) => r.attempt_id)).toEqual([commands[0]!.attempt_id, commands[6]!.attempt_id]);
    for (const r of results) expect(typeof r.duration_ms).toBe("number");
    expect(commands[0]!.args_sha256).toBe(createHash("sha256").update(`{"text":"${secret}"}`).digest("hex"));
    // A long job adds its end record (exit code and duration exist only then).
    expect(records.filter((r) => r.event === "job_finished")).toHaveLength(1);
    const text = readFileSync(t.auditPath, "utf8");
    expect(text).not.toContain(secret);
    expect(text).not.toContain("recorded 2 argument"); // the output
    expect(statSync(t.auditPath).mode & 0o777).toBe(0o600);
  });

  test("the log gets one `command` event per attempt with name and outcome, never args or output", async () => {
    const lines: string[] = [];
    const t = await testApp({ catalogue, logger: createLogger("json", (l) => lines.push(l)) });
    await t.post("t.rec", { args: { text: "zebra-log-secret" } });
    await t.post("t.rec", { args: { text: 1 } });
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === "command");
    expect(events.map((e) => [e.name, e.outcome, e.code ?? null])).toEqual([
      ["t.rec", "succeeded", null],
      ["t.rec", "refused", "validation_failed"],
    ]);
    expect(lines.join("\n")).not.toContain("zebra-log-secret");
    expect(lines.join("\n")).not.toContain("recorded");
  });

  test("args hash is over canonical JSON: key order does not matter", () => {
    expect(canonicalJson({ b: [1, { d: 2, c: "x" }], a: null })).toBe('{"a":null,"b":[1,{"c":"x","d":2}]}');
    expect(argsSha256({ a: 1, b: 2 })).toBe(argsSha256({ b: 2, a: 1 }));
    expect(argsSha256({ a: 1 })).not.toBe(argsSha256({ a: 2 }));
  });
});
