/**
 * SPEC §9 end to end: the compiled `icecore run`, as the unprivileged test user, hands its bundle
 * to a browser child (test/fixtures/browser-child.ts: `connect --browser --headless` — the same
 * src/browser code — plus a control socket through which the test drives the page), whose
 * Chromium runs with its sandbox. The console is used as a person would: the Core's version, a
 * command run from its form with its audit record, a job's live lines and its cancel, a schema
 * error beside its field; a foreign page in the same browser gets 403 and no signature; a second
 * Chromium without the certificate gets nothing; closing the page ends the child and the run.
 * The real `icecore connect --browser` (process model, secrets, exit statuses): browser-connect.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { isAlive, readAudit, startIcecore, type RunningIcecore } from "../support/icecore-process.ts";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { loadPlaywright } from "../../src/browser/playwright-loader.ts";
import { CHROMIUM_ARGS } from "../../src/browser/console-browser.ts";
import { mintAuthority, mintServerIdentity } from "../../src/pki/authority.ts";
import { VERSION } from "../../src/version.ts";
import { demoPolicy } from "../console/demo-policy.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const chromiumPath = (() => {
  try {
    return findChromium();
  } catch {
    return null;
  }
})();

/** A page on another loopback origin whose script tries to run a command on the Core, then says so in its title. */
const FOREIGN_PAGE = `<!doctype html><title>loading</title><script>
const core = new URLSearchParams(location.search).get("core");
fetch(core + "/v1/commands/system.info", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: '{"args":{}}' })
  .then(() => { document.title = "done: sent"; }, (e) => { document.title = "done: failed " + e; });
</script>`;

describe.skipIf(chromiumPath === null)("the console through icecore run (compiled, real handoff, test user)", () => {
  const dir = scratchDir(owner, "browser-e2e");
  const gate = join(dir, "gate");
  const control = join(dir, "control.sock");
  const foreign = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(FOREIGN_PAGE, { headers: { "content-type": "text/html" } }) });
  const foreignOrigin = `http://127.0.0.1:${foreign.port}`;
  let run: RunningIcecore;
  let ready: Record<string, unknown>;
  let apiUrl: string;
  let delivered: Record<string, unknown>;

  /** One request to the child's control socket. */
  async function drive(request: Record<string, unknown>): Promise<any> {
    const response = await fetch("http://fixture/", { unix: control, method: "POST", body: JSON.stringify(request) } as RequestInit);
    const body = (await response.json()) as { result?: unknown; error?: string };
    if (!response.ok) throw new Error(`browser child: ${JSON.stringify(request)} failed: ${body.error}`);
    return body.result;
  }

  /** Starts demo.gated from the page; the new job's id (cards are added at the top). */
  async function startGatedJob(): Promise<string> {
    const before = (await drive({ op: "count", selector: "article.job" })) as number;
    await drive({ op: "click", selector: "[data-command='demo.gated']" });
    await drive({ op: "click", selector: "button[type=submit]" });
    // The card appears after the 202, and the Core writes the attempt's record before answering.
    await drive({ op: "wait", selector: `article.job:nth-of-type(${before + 1})` });
    const records = readAudit(run.auditPath).filter((r) => r.event === "command" && r.command === "demo.gated" && r.outcome === "accepted");
    const jobId = String(records.at(-1)!.job_id);
    await drive({ op: "wait", selector: `[data-job-id='${jobId}'] .job-output`, text: "first line" });
    return jobId;
  }

  beforeAll(async () => {
    const policy = join(dir, "policy.json");
    writeFileSync(policy, JSON.stringify(demoPolicy(gate)));
    chmodSync(policy, 0o644);
    run = startIcecore({
      user: owner,
      dir,
      scope: "run",
      args: ["--policy", policy],
      child: [BUN, join(FIXTURES, "browser-child.ts"), "--control", control, "--allow-origin", foreignOrigin],
    });
    delivered = await run.waitFor("handoff_delivered", 30_000);
    apiUrl = String((await run.waitFor("api_ready", 30_000)).url);
    await run.waitForOutput('"ready":true', 60_000);
    ready = run.fixtureReports().find((r) => r.ready)!;
  }, 90_000);

  afterAll(async () => {
    foreign.stop(true);
    // Whatever a failure left behind: the run (the reaper's SIGTERM ends its child), then any Chromium of it.
    const browserPid = Number(ready?.browser_pid);
    if (run && run.proc.exitCode === null) run.proc.kill("SIGTERM");
    await run?.exited;
    if (browserPid > 0 && isAlive(browserPid)) process.kill(browserPid, "SIGKILL");
  }, 30_000);

  test("the console shows the Core's version; its requests reach the Core signed by the child's renewed certificate", () => {
    expect(ready.version).toBe(`v${VERSION}`);
    // Renewed before Chromium started: the key that crossed the handoff never reached the browser.
    expect(ready.client_id).not.toBe(delivered.client_id);
    expect(ready.child_id).toBe(delivered.child_id);
    const requests = run.events.filter((e) => e.event === "request");
    const signedBy = (path: string) => requests.filter((r) => r.path === path && r.status === 200).map((r) => r.client_id);
    expect(signedBy("/")).toContain(null); // the page itself: a navigation, never signed
    expect(signedBy("/v1/info")).toContain(ready.client_id);
    expect(signedBy("/v1/events")).toContain(ready.client_id);
    expect(signedBy("/v1/audit")).toContain(ready.client_id);
  });

  test("system.info run from its form shows the result and leaves an audit record with the child's client_id", async () => {
    await drive({ op: "click", selector: "[data-command='system.info']" });
    await drive({ op: "click", selector: "button[type=submit]" });
    await drive({ op: "wait", selector: ".result [data-exit-code='0']" });
    expect(await drive({ op: "text", selector: ".result .stdout pre" })).toContain('"hostname"');
    const state = await drive({ op: "state" });
    const record = readAudit(run.auditPath).findLast((r) => r.event === "command_result" && r.command === "system.info");
    expect(record).toMatchObject({ outcome: "succeeded", exit_code: 0, client_id: state.client_id, child_id: delivered.child_id });
    expect(state.decisions).toContain(`POST ${apiUrl}/v1/commands/system.info signed`);
    // The page shows that record as this console's.
    await drive({ op: "wait", selector: "#audit-rows tr[data-event='command_result']", text: "(this console)" });
  });

  test("a schema error shows beside its field; the Core refused it (422) and ran nothing", async () => {
    const resultsBefore = readAudit(run.auditPath).filter((r) => r.event === "command_result").length;
    await drive({ op: "click", selector: "[data-command='demo.form']" });
    await drive({ op: "fill", selector: "[data-field='count'] input", value: "11" });
    await drive({ op: "fill", selector: "[data-field='label'] input", value: "ok" });
    await drive({ op: "click", selector: "button[type=submit]" });
    await drive({ op: "wait", selector: "[data-field='count'].has-error" });
    expect(await drive({ op: "text", selector: "[data-field='count'] .field-error" })).toMatch(/10/);
    expect(await drive({ op: "count", selector: "[data-field='label'].has-error" })).toBe(0);
    const audit = readAudit(run.auditPath);
    expect(audit.findLast((r) => r.event === "command" && r.command === "demo.form")).toMatchObject({ outcome: "refused", status: 422, code: "validation_failed" });
    expect(audit.filter((r) => r.event === "command_result")).toHaveLength(resultsBefore);
  });

  test("a job's first line is in the page while the job still runs (its last line waits for the gate); it then ends", async () => {
    rmSync(gate, { force: true });
    const jobId = await startGatedJob();
    // The first line is on the page and the job cannot have printed its last: the gate is shut.
    expect(existsSync(gate)).toBe(false);
    expect(await drive({ op: "text", selector: `[data-job-id='${jobId}'] .job-state` })).toBe("running");
    expect(await drive({ op: "text", selector: `[data-job-id='${jobId}'] .job-output` })).toBe("first line\n");
    writeFileSync(gate, "");
    await drive({ op: "wait", selector: `[data-job-id='${jobId}'] .job-state`, text: "succeeded" });
    expect(await drive({ op: "text", selector: `[data-job-id='${jobId}'] .job-output` })).toBe("first line\nlast line\n");
    expect(readAudit(run.auditPath).find((r) => r.event === "job_finished" && r.job_id === jobId)).toMatchObject({ outcome: "succeeded", exit_code: 0 });
  });

  test("Cancel stops a running job: cancelled in the page and in the audit, its process gone", async () => {
    rmSync(gate, { force: true });
    const jobId = await startGatedJob();
    const jobPids = () => Bun.spawnSync(["pgrep", "-u", String(owner?.uid ?? process.getuid!()), "-f", `gated-lines.ts ${gate}`]).stdout.toString().split("\n").filter(Boolean).map(Number);
    expect(jobPids().length).toBeGreaterThan(0);
    await drive({ op: "click", selector: `[data-job-id='${jobId}'] button` });
    await drive({ op: "wait", selector: `[data-job-id='${jobId}'] .job-state`, text: "cancelled" });
    const audit = readAudit(run.auditPath);
    expect(audit.find((r) => r.event === "job_cancel" && r.job_id === jobId)).toMatchObject({ outcome: "cancelling" });
    expect(audit.find((r) => r.event === "job_finished" && r.job_id === jobId)).toMatchObject({ outcome: "cancelled" });
    for (const pid of jobPids()) expect(Bun.spawnSync(["cat", `/proc/${pid}/stat`]).stdout.toString()).toMatch(/ Z /); // at most a zombie of this VM's init
  });

  test("a page from another local origin in the same browser gets 403 (Origin check), unsigned; the console's own POST is signed (control)", async () => {
    const before = readAudit(run.auditPath).length;
    const title = await drive({ op: "foreign", url: `${foreignOrigin}/?core=${encodeURIComponent(apiUrl)}` });
    expect(title).toBe("done: sent"); // the request was made (its answer is opaque to the page)
    const refused = readAudit(run.auditPath).slice(before).filter((r) => r.event === "command" && r.command === "system.info");
    expect(refused).toEqual([expect.objectContaining({ outcome: "refused", status: 403, code: "foreign_origin", client_id: null })]);
    expect(readAudit(run.auditPath).slice(before).some((r) => r.event === "command_result")).toBe(false);
    const { decisions } = await drive({ op: "state" });
    expect(decisions).toContain(`POST ${apiUrl}/v1/commands/system.info not signed: initiated by ${foreignOrigin}`);
    expect(decisions).toContain(`POST ${apiUrl}/v1/commands/system.info signed`);
  });

  test("a second Chromium without the client certificate cannot load the console (control: it loads a TLS page that asks for none)", async () => {
    const { chromium } = await loadPlaywright();
    // The attacker's browser accepts any server certificate: only the missing client certificate stops it.
    const browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, chromiumSandbox: process.getuid?.() !== 0, args: [...CHROMIUM_ARGS] });
    const ca = await mintAuthority();
    const id = await mintServerIdentity(ca, { ttlMs: 3600_000 });
    const open = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: Buffer.from(id.certPem), key: Buffer.from(id.keyPem) }, fetch: () => new Response("<title>open</title><p>no client certificate needed</p>", { headers: { "content-type": "text/html" } }) });
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(`https://127.0.0.1:${open.port}/`);
      expect(await page.title()).toBe("open");
      const pageLoads = () => run.events.filter((e) => e.event === "request" && e.path === "/").length;
      const loadsBefore = pageLoads();
      const failure = await page.goto(apiUrl + "/").then(
        (response) => `loaded ${response?.status()}`,
        (error: Error) => error.message.split("\n")[0]!,
      );
      // The Core ends the handshake (TLS 1.3 "certificate required"); Chromium names it by what it saw
      // (here ERR_SOCKET_NOT_CONNECTED; ERR_BAD_SSL_CLIENT_AUTH_CERT with other timings).
      expect(failure).toMatch(/^goto: net::ERR_[A-Z_]+ at https:\/\/127\.0\.0\.1:\d+\/$/);
      // No HTTP request of it ever reached the Core's app.
      expect(pageLoads()).toBe(loadsBefore);
    } finally {
      open.stop(true);
      await browser.close();
    }
  });

  test("closing the console page ends the child (exit 0) and the run with it; Chromium and its profile are gone", async () => {
    const profile = String(ready.profile_dir);
    const browserPid = Number(ready.browser_pid);
    expect(existsSync(profile)).toBe(true);
    await drive({ op: "close" });
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.fixtureReports().find((r) => r.ended)).toMatchObject({ ended: "page_closed" });
    expect(run.events.find((e) => e.event === "child_exited")).toMatchObject({ status: 0 });
    expect(existsSync(profile)).toBe(false);
    expect(isAlive(browserPid)).toBe(false);
    expect(Bun.spawnSync(["pgrep", "-f", profile]).stdout.toString()).toBe("");
  });
});
