/**
 * The windows-x64 executable under Wine (SPEC §4 Windows, §10): `icecore run` hands its own
 * child the bundle over a named pipe and serves the mTLS API; squatters, a second client and a
 * rogue server are refused; the pipe's security descriptor is read back from the kernel.
 * Windows-side attackers and children are test/fixtures/windows-handoff.ts, compiled for Windows.
 *
 * Wine is not Windows: it runs every process as one Unix user, so a client of ANOTHER user
 * cannot be tried here, and Wine's token is elevated (docs/windows.md says what that leaves
 * unproven). Skips with the reason when wine64 or MinGW are missing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/paths.ts";
import { readAudit, startIcecore, type Launcher, type RunningIcecore } from "../support/icecore-process.ts";
import { createPrefix, wineMissing, windowsPath, type WinePrefix } from "../../build/wine/wine.ts";
import { parseDacl, sddlOwner } from "../../src/platform/win32-security.ts";

const missing = wineMissing();
if (missing !== null) console.warn(`windows-wine e2e: skipped: ${missing}`);

const EXE = join(ROOT, "dist/icecore-windows-x64.exe");
const FIXTURE_SOURCE = join(ROOT, "test/fixtures/windows-handoff.ts");
/** Wine starts are slow on a busy machine; nothing here is a timing assertion. */
const EVENT_MS = 30_000;

let wine: WinePrefix;
let work: string;
let fixture: string;

function compile(args: string[], what: string): void {
  const result = Bun.spawnSync([process.execPath, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${what} failed: ${result.stderr.toString().trim()}`);
}

const launcher = (): Launcher => ({ argv: (args) => wine.command(EXE, args), path: windowsPath, env: wine.env });

/** `icecore run` of the Windows executable under Wine (as root here, and Wine's token is elevated: --allow-root). */
function startRun(options: { args?: string[]; child?: string[] } = {}): RunningIcecore {
  return startIcecore({ launcher: launcher(), dir: mkdtempSync(join(work, "run-")), args: ["--allow-root", ...(options.args ?? [])], child: options.child });
}

/** The fixture as icecore's child: `<fixture.exe> child …` (icecore appends --pipe-name). */
const fixtureChild = (...options: string[]) => [windowsPath(fixture), "child", ...options];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  reports: Record<string, unknown>[];
}

/** Run a Windows program of this prefix to its end (files only: Wine's helpers must not inherit a pipe of ours for long). */
async function runWindows(exe: string, args: string[]): Promise<Ran> {
  const proc = Bun.spawn(wine.command(exe, args), { env: wine.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const reports = stdout
    .split("\n")
    .filter((l) => l.startsWith("FIXTURE "))
    .map((l) => JSON.parse(l.slice(8)) as Record<string, unknown>);
  return { code, stdout, stderr, reports };
}

/** A rogue endpoint server (fixture `serve`), running until its one connection is over. */
async function startRogueServer(...options: string[]) {
  const proc = Bun.spawn(wine.command(fixture, ["serve", ...options]), { env: wine.env, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the rogue server ended before listening: ${text}`);
    text += new TextDecoder().decode(value);
  }
  const name = /^LISTENING (\S+)/.exec(text)![1]!;
  const rest = (async () => {
    let all = text;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      all += new TextDecoder().decode(value);
    }
    await proc.exited;
    return JSON.parse(all.split("\n").find((l) => l.startsWith("FIXTURE "))!.slice(8)) as Record<string, unknown>;
  })();
  return { name, proc, report: rest };
}

describe.skipIf(missing !== null)("windows-x64 under Wine", () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "icecore-wine-test-"));
    // Always rebuilt (≈ 2 s): the executable under test is the one the sources make now.
    compile(["build/compile.ts", "--target", "bun-windows-x64"], "building the windows-x64 executable");
    fixture = join(work, "windows-handoff.exe");
    compile(["build", "--compile", "--target=bun-windows-x64", FIXTURE_SOURCE, "--outfile", fixture], "compiling the Windows fixture");
    wine = createPrefix(work);
  }, 300_000);

  afterAll(() => {
    // Every Windows process this file started belongs to this prefix: wineserver -k ends them all.
    wine?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("icecore version runs", async () => {
    const { code, stdout } = await runWindows(EXE, ["version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^icecore \d+\.\d+\.\d+ \(bun [\d.]+, win32-x64\)$/);
  });

  test("run with its own connect child: the handoff completes and the child calls the mTLS API; the audit log defaults to %LOCALAPPDATA%", async () => {
    const proc = Bun.spawn(wine.command(EXE, ["run", "--allow-root", "--log-format", "json"]), { env: wine.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).toBe(0);
    expect(stdout).toContain("icecore connect: bundle received");
    expect(stdout).toContain("GET /v1/health -> 200");
    expect(stdout).toContain("GET /v1/info -> 200");
    const events = stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const spawned = events.find((e) => e.event === "child_spawned")!;
    expect(events.find((e) => e.event === "handoff_delivered")).toMatchObject({ pid: spawned.pid });
    expect(String(events.find((e) => e.event === "handoff_listening")!.name)).toMatch(/^\\\\\.\\pipe\\icecore-[0-9a-f]{32}$/);
    const users = readdirSync(wine.driveC("users")).filter((u) => existsSync(wine.driveC(`users/${u}/AppData/Local/icecore/audit.jsonl`)));
    expect(users).toHaveLength(1);
    const audit = readAudit(wine.driveC(`users/${users[0]}/AppData/Local/icecore/audit.jsonl`));
    expect(audit.at(-1)).toMatchObject({ event: "shutdown" });
  });

  test("a signed command over mTLS from an explicit child; the child's exit status is icecore's", async () => {
    const run = startRun({ child: [windowsPath(EXE), "connect", "--exec", "system.info"] });
    const { code } = await run.exited;
    expect(run.stdout()).toContain("POST /v1/commands/system.info -> 200 exit 0");
    expect(code).toBe(0);
    // connect renews its certificate first (also a POST); the command is the one asked for.
    const post = run.events.find((e) => e.event === "request" && e.method === "POST" && e.path === "/v1/commands/system.info")!;
    expect(post).toMatchObject({ path: "/v1/commands/system.info", status: 200 });
    expect(String(post.client_id)).toMatch(/^[0-9a-f]{64}$/);

    const failing = startRun({ child: fixtureChild("--status", "7") });
    expect((await failing.exited).code).toBe(7);
    expect(failing.fixtureReports()[0]).toMatchObject({ received: true });
  });

  test("a process that is not a descendant connects first: 0 bytes and an audit record; the real child still gets its bundle", async () => {
    const go = join(work, "go-squat");
    const run = startRun({ child: fixtureChild("--wait-file", windowsPath(go), "--get", "/v1/health") });
    const name = String((await run.waitFor("handoff_listening", EVENT_MS)).name);
    const spawned = await run.waitFor("child_spawned", EVENT_MS);
    const squat = await runWindows(fixture, ["probe", name]);
    const [squatter] = squat.reports;
    expect(squatter).toMatchObject({ bytes: 0 });
    expect(squatter!.server_pid).toBeNumber();
    const rejected = await run.waitFor("handoff_peer_rejected", EVENT_MS);
    expect(rejected).toMatchObject({ pid: squatter!.pid, uid: squatter!.sid });
    expect(String(rejected.reason)).toBe(`pid ${squatter!.pid} is not the child (${spawned.pid}) or its descendant`);
    // Control: the child, released only now, gets its bundle from the same endpoint and uses it.
    writeFileSync(go, "");
    expect((await run.exited).code).toBe(0);
    expect(run.fixtureReports()[0]).toMatchObject({ received: true, has_key: true, get: { status: 200 } });
    const audit = readAudit(run.auditPath).filter((r) => r.event === "handoff_peer_rejected");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ pid: squatter!.pid, uid: squatter!.sid });
    expect(String(audit[0]!.exe)).toEndWith("windows-handoff.exe");
  });

  test("a flood of connections from a non-descendant: each refused, the records coalesced, the child still gets its bundle", async () => {
    const go = join(work, "go-flood");
    const run = startRun({ child: fixtureChild("--wait-file", windowsPath(go)) });
    const name = String((await run.waitFor("handoff_listening", EVENT_MS)).name);
    const [flood] = (await runWindows(fixture, ["flood", name, "2000"])).reports;
    expect(Number(flood!.opened)).toBeGreaterThan(10);
    writeFileSync(go, "");
    expect((await run.exited).code).toBe(0);
    expect(run.fixtureReports()[0]).toMatchObject({ received: true });
    const records = readAudit(run.auditPath).filter((r) => r.event === "handoff_peer_rejected");
    const refused = records.reduce((sum, r) => sum + Number(r.count), 0);
    // Every connection that got through is accounted for, in far fewer records than connections.
    expect(refused).toBe(Number(flood!.opened));
    expect(records.length).toBeLessThan(refused);
  });

  test("the pipe's security descriptor, read back from the kernel as SDDL, grants icecore's user SID alone; icecore's process denies PROCESS_VM_READ", async () => {
    const go = join(work, "go-sddl");
    const run = startRun({ child: fixtureChild("--wait-file", windowsPath(go)) });
    const name = String((await run.waitFor("handoff_listening", EVENT_MS)).name);
    const [probe] = (await runWindows(fixture, ["probe", name, "--open-server-vm"])).reports;
    writeFileSync(go, "");
    expect((await run.exited).code).toBe(0);
    const sid = String(probe!.sid);
    const sddl = String(probe!.sddl);
    expect(sddlOwner(sddl)).toBe(sid);
    const dacl = parseDacl(sddl)!;
    expect(dacl.flags).toContain("P");
    expect(dacl.aces).toEqual([{ type: "A", flags: "", rights: "GR", sid }]);
    for (const everyoneish of ["WD", "AN", "NU", "BU", "AU", "OW", "S-1-1-0", "S-1-5-7", "S-1-5-2"]) expect(sddl).not.toContain(`;${everyoneish})`);
    // icecore hardened its process DACL: this same-user process cannot read its memory...
    expect(probe!.server_vm_read).toBe(false);
    // ...while the control, an unhardened server of the same user, can be opened for reading.
    const rogue = await startRogueServer();
    const [control] = (await runWindows(fixture, ["probe", rogue.name, "--open-server-vm"])).reports;
    await rogue.report;
    expect(control!.server_vm_read).toBe(true);
  });

  test("one delivery ever: after the child took its bundle, a second connection finds no endpoint", async () => {
    const run = startRun({ child: fixtureChild("--again") });
    expect((await run.exited).code).toBe(0);
    const [report] = run.fixtureReports();
    expect(report).toMatchObject({ received: true, second: { refused: true, error_name: "EndpointNotReady" } });
    const order = run.events.map((e) => e.event).filter((e) => e === "handoff_closed" || e === "handoff_delivered");
    expect(order).toEqual(["handoff_closed", "handoff_delivered"]);
    const delivered = run.events.find((e) => e.event === "handoff_delivered")!;
    expect(Number(delivered.closed_before_write_ms)).toBeGreaterThanOrEqual(0);
  });

  test("a client whose endpoint server is not its ancestor refuses the bundle; its own child (the control) takes it", async () => {
    const rogue = await startRogueServer();
    const [victim] = (await runWindows(fixture, ["receive", "--pipe-name", rogue.name])).reports;
    expect(victim).toMatchObject({ bytes: 0, error_name: "ServerNotTrusted" });
    expect(String(victim!.error)).toContain("is not an ancestor of this process");
    expect(await rogue.report).toMatchObject({ delivered: false, client_pid: victim!.pid });

    const forConnect = await startRogueServer();
    const connect = await runWindows(EXE, ["connect", "--pipe-name", forConnect.name]);
    expect(connect.code).toBe(69);
    expect(connect.stderr.trim()).toMatch(/^icecore: connect: the server of \\\\\.\\pipe\\icecore-[0-9a-f]{32} \(pid \d+\) is not an ancestor of this process$/);
    expect(await forConnect.report).toMatchObject({ delivered: false });

    const control = await startRogueServer("--spawn-receiver");
    const served = await control.report;
    expect(served).toMatchObject({ delivered: true, receiver: { pid: served.client_pid, text: expect.stringContaining('"rogue"') } });
  });

  test("a child that never connects: exit 69 at the timeout and the child is ended", async () => {
    const run = startRun({ args: ["--handoff-timeout", "2s"], child: fixtureChild("--wait-file", windowsPath(join(work, "never"))) });
    // `exited` waits for stdout to close too: the child holds it, so it resolves only once the child is gone.
    const { code } = await run.exited;
    expect(code).toBe(69);
    expect(run.errors).toEqual(["icecore: run: handoff failed: the child did not connect within 2000 ms"]);
    expect(readAudit(run.auditPath).some((r) => r.event === "handoff_failed")).toBe(true);
  });

  test("Ctrl+C (SIGINT): clean shutdown, exit 0, the child ended", async () => {
    const run = startRun({ child: fixtureChild("--hold-file", windowsPath(join(work, "never"))) });
    await run.waitFor("api_ready", EVENT_MS);
    run.proc.kill("SIGINT");
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.events.find((e) => e.event === "shutdown")).toMatchObject({ reason: "SIGINT" });
  });

  test("icecore killed outright: its child and the child's child die with it", async () => {
    const run = startRun({ child: fixtureChild("--grandchild", "--hold-file", windowsPath(join(work, "never"))) });
    await run.waitFor("api_ready", EVENT_MS);
    const deadline = Date.now() + EVENT_MS;
    while (run.fixtureReports().length === 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(run.fixtureReports()[0]).toMatchObject({ received: true, grandchild: expect.any(Number) });
    run.proc.kill("SIGKILL");
    // Child and grandchild hold icecore's stdout: it reaches end-of-file only when both are gone.
    const ended = await Promise.race([run.exited.then(() => true), Bun.sleep(EVENT_MS).then(() => false)]);
    expect(ended).toBe(true);
  });

  test("hardening: a kill-on-close job, the process DACL, no error dialogs; Wine's token reads as elevated", async () => {
    const [report] = (await runWindows(fixture, ["harden-report"])).reports;
    const { before, after, again } = report as Record<string, Record<string, unknown>>;
    const sid = String(report!.sid);
    expect(before!.in_job).toBe(false);
    expect(after!.in_job).toBe(true);
    expect(parseDacl(String(before!.sddl))!.aces.some((a) => a.sid === sid)).toBe(false);
    expect(parseDacl(String(after!.sddl))!.aces).toEqual([
      { type: "A", flags: "", rights: "0x101001", sid },
      { type: "A", flags: "", rights: "0x101001", sid: "OW" },
      { type: "A", flags: "", rights: "GA", sid: "SY" },
    ]);
    expect(Number(after!.error_mode) & 0x8003).toBe(0x8003);
    expect(again).toEqual(after!);
    expect(report!.tracer).toBeNull();
    // Wine gives every process an elevated administrator token, so isPrivileged() is true here...
    expect(report!.privileged).toBe(true);
    // ...and `run` refuses it as it refuses root (SPEC §7), unless told otherwise.
    const refused = await runWindows(EXE, ["run"]);
    expect(refused.code).toBe(77);
  });
});

