/**
 * The console page in Debian's Chromium against the REAL Core: the Core's services and API as
 * `icecore run` composes them (test/support/pki-fixture.ts, with the console's assets), over mTLS,
 * and the browser child of src/browser (renewal first, the page's requests signed in this
 * process). What is the page's own here: it loads under the Core's CSP with no violation, shows
 * the status, draws each schema as the right inputs, places a 422's issues beside their fields,
 * shows a result, appends a job's lines while it runs, cancels, and reads the audit. The same
 * flows through the compiled executable and a real handoff: test/e2e/browser.test.ts.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { startBrowserChild, type BrowserChild } from "../../src/browser/browser-child.ts";
import { createCoreClient } from "../../src/client/core-client.ts";
import { compilePolicy } from "../../src/commands/index.ts";
import { CONSOLE_ASSETS } from "../../src/console/assets.ts";
import { CONSOLE_CSP } from "../../src/api/routes/console.ts";
import { VERSION } from "../../src/version.ts";
import { bundleOf, startPkiFixture, type PkiFixture } from "../support/pki-fixture.ts";
import { scratchDir } from "../support/users.ts";
import { demoPolicy } from "./demo-policy.ts";

const chromiumPath = (() => {
  try {
    return findChromium();
  } catch {
    return null;
  }
})();

describe.skipIf(chromiumPath === null)("console page against the real Core (Debian Chromium)", () => {
  const dir = scratchDir(null, "console-page");
  const gate = join(dir, "gate");
  let fx: PkiFixture;
  let child: BrowserChild;
  let page: Page;
  const cspViolations: string[] = [];
  const failedRequests: string[] = [];

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    fx = await startPkiFixture({ catalogue: compilePolicy(demoPolicy(gate)), consoleAssets: CONSOLE_ASSETS, killGraceMs: 2000 });
    const bundle = bundleOf(fx);
    child = await startBrowserChild(await createCoreClient(bundle), bundle, { chromiumPath: chromiumPath!, headless: true, sandbox: process.getuid?.() !== 0 });
    page = child.browser.page;
    await page.setViewportSize({ width: 1400, height: 900 });
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("requestfailed", (r) => {
      // A reload aborts what the old document had in flight (its event stream, say): not a failure.
      if (r.failure()?.errorText !== "net::ERR_ABORTED") failedRequests.push(`${r.url()} ${r.failure()?.errorText}`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400 && !r.url().includes("/v1/commands/")) failedRequests.push(`${r.url()} ${r.status()}`);
    });
    // Init scripts run before the page's own and are not subject to its CSP; reload to install it.
    await child.browser.context.addInitScript(() => {
      (globalThis as any).__csp = [];
      (globalThis as any).document.addEventListener("securitypolicyviolation", (e: any) => (globalThis as any).__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.reload();
    await child.ready();
  }, 60_000);

  afterAll(async () => {
    await child?.stop();
    await fx?.stop();
  });

  /** Starts demo.gated from its form; the new job's card (cards are added at the top). */
  async function startGatedJob() {
    const before = await page.locator("article.job").count();
    await page.click("[data-command='demo.gated']");
    await page.click("button[type=submit]");
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll("article.job").length > n, before);
    return page.locator("article.job").first();
  }

  test("served by the Core with its CSP; loads with no violation and no failed request; shows version and status", async () => {
    const response = await page.reload();
    expect(response!.status()).toBe(200);
    expect(response!.headers()["content-security-policy"]).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).not.toContain("unsafe-inline");
    await child.ready();
    expect(await page.textContent("#version")).toBe(`v${VERSION}`);
    await page.waitForSelector("[data-command='system.info']");
    expect(await page.evaluate(() => (globalThis as any).__csp)).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect(failedRequests).toEqual([]);
    // The fixture's certificates live an hour; `rotate` comes at 2/3 of that.
    expect(await page.textContent("#cert-expiry")).toMatch(/^in (59|60) min/);
    expect(await page.textContent("#cert-renewal")).toMatch(/^in (39|40) min/);
    expect(await page.getAttribute("#client-id", "title")).toContain(`client_id ${child.identity.clientId}`);
    await page.waitForSelector("#connection[data-state='open']");
    const before = await page.textContent("#uptime");
    await page.waitForFunction((b) => (globalThis as any).document.querySelector("#uptime").textContent !== b, before, { timeout: 10_000 });
    // Nothing but the Core's own origin was asked for.
    const origins = await page.evaluate(() => [...new Set((globalThis as any).performance.getEntriesByType("resource").map((e: any) => new URL(e.name).origin))]);
    expect(origins).toEqual([fx.url]);
  });

  test("each schema type is drawn as its input, with hints and required marks", async () => {
    await page.click("[data-command='demo.form']");
    const mode = page.locator("[data-field='mode'] select");
    expect(await mode.locator("option").allTextContents()).toEqual(["fast", "thorough"]);
    const count = page.locator("[data-field='count'] input");
    expect([await count.getAttribute("type"), await count.getAttribute("min"), await count.getAttribute("max")]).toEqual(["number", "1", "10"]);
    expect(await page.locator("[data-field='verbose'] input").getAttribute("type")).toBe("checkbox");
    expect(await page.locator("[data-field='label'] input").getAttribute("maxlength")).toBe("12");
    expect(await page.textContent("[data-field='label'] .hint")).toContain("pattern ^(?:[a-z]+)$");
    expect(await page.textContent("[data-field='count'] .help")).toContain("Repetitions");
    expect(await page.locator("[data-field='count'] .required").count()).toBe(1);
    expect(await page.getByLabel("count").getAttribute("type")).toBe("number");
    const add = page.locator("[data-field='names'] button", { hasText: "Add item" });
    await add.click();
    await add.click();
    expect(await page.locator("[data-field='names'] li").count()).toBe(3);
    expect(await add.isDisabled()).toBe(true);
    await page.locator("[data-field='names'] li").nth(2).getByRole("button", { name: /Remove/ }).click();
    expect(await page.locator("[data-field='names'] li").count()).toBe(2);
    expect(await add.isDisabled()).toBe(false);
  });

  test("the Core's 422 issues appear beside their fields (and on the array item); nothing ran", async () => {
    const attemptsBefore = fx.audit.records().filter((r) => r.event === "command_result").length;
    await page.click("[data-command='demo.form']");
    await page.fill("[data-field='count'] input", "11");
    await page.locator("[data-field='names'] button", { hasText: "Add item" }).click();
    const rows = page.locator("[data-field='names'] li input");
    await rows.nth(0).fill("vim");
    await rows.nth(1).fill("Bad_Name");
    await page.fill("[data-field='label'] input", "ok");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-field='count'].has-error");
    expect(await page.textContent("[data-field='count'] .field-error")).toMatch(/10/);
    expect(await page.locator("[data-field='names'] li").nth(1).locator(".item-error").textContent()).toBeTruthy();
    expect(await page.locator("[data-field='names'] li").nth(0).locator(".item-error").isHidden()).toBe(true);
    expect(await page.locator("[data-field='label'].has-error").count()).toBe(0);
    expect(await page.textContent(".form-error")).toContain("422");
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.closest("[data-field]")?.getAttribute("data-field"))).toBe("count");
    // The refusal is the Core's: audited as refused, signed by this console, and nothing was run.
    const refused = fx.audit.records().findLast((r) => r.event === "command" && r.command === "demo.form");
    expect(refused).toMatchObject({ outcome: "refused", status: 422, code: "validation_failed", client_id: child.identity.clientId });
    expect(fx.audit.records().filter((r) => r.event === "command_result")).toHaveLength(attemptsBefore);
  });

  test("a valid form runs the command: its output is the typed arguments", async () => {
    await page.click("[data-command='demo.form']");
    await page.selectOption("[data-field='mode'] select", "thorough");
    await page.fill("[data-field='count'] input", "3");
    await page.check("[data-field='verbose'] input");
    await page.locator("[data-field='names'] button", { hasText: "Add item" }).click();
    await page.locator("[data-field='names'] li input").nth(0).fill("vim");
    await page.fill("[data-field='label'] input", "abc");
    await page.click("button[type=submit]");
    await page.waitForSelector(".result [data-exit-code='0']");
    expect(await page.textContent(".result .stdout pre")).toBe("thorough\n3\ntrue\nvim\nabc\n");
  });

  test("running system.info (found by the filter, chosen by keyboard) shows its result; the audit row is this console's", async () => {
    await page.fill("#command-filter", "system");
    expect(await page.locator(".command").count()).toBe(1);
    await page.focus("[data-command='system.info']");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Enter"); // focus moved to Run (the command takes no arguments)
    await page.waitForSelector(".result [data-exit-code='0']");
    expect(await page.textContent(".result .stdout pre")).toContain('"hostname"');
    const row = page.locator("#audit-rows tr[data-event='command_result']", { hasText: "system.info" }).first();
    await row.waitFor();
    expect(await row.textContent()).toContain("succeeded");
    expect(await row.textContent()).toContain("(this console)");
    const record = fx.audit.records().findLast((r) => r.event === "command_result" && r.command === "system.info");
    expect(record).toMatchObject({ outcome: "succeeded", exit_code: 0, client_id: child.identity.clientId, child_id: fx.childId });
    await page.fill("#command-filter", "");
  });

  test("a job's first line appears while it runs (the second waits for the gate); then it ends", async () => {
    rmSync(gate, { force: true });
    const card = await startGatedJob();
    await card.locator(".job-output", { hasText: "first line" }).waitFor();
    // The command cannot have printed its last line: its gate does not exist yet.
    expect(existsSync(gate)).toBe(false);
    expect(await card.locator(".job-state").textContent()).toBe("running");
    expect(await card.locator(".job-output").textContent()).toBe("first line\n");
    writeFileSync(gate, "");
    await card.locator(".job-state", { hasText: "succeeded" }).waitFor();
    expect(await card.locator(".job-output").textContent()).toBe("first line\nlast line\n");
    expect(await card.getByRole("button", { name: "Cancel" }).count()).toBe(0);
    // The Core's timings replace the local clock.
    await page.waitForFunction((id) => (globalThis as any).document.querySelector(`[data-job-id='${id}'] .badge.plain`)?.title.startsWith("started"), await card.getAttribute("data-job-id"));
  });

  test("Cancel stops a running job: the page shows it cancelled, the Core audits it, its process is gone", async () => {
    rmSync(gate, { force: true });
    const card = await startGatedJob();
    await card.locator(".job-output", { hasText: "first line" }).waitFor();
    const jobId = (await card.getAttribute("data-job-id"))!;
    const job = fx.core.jobs.get(jobId, fx.childId)!;
    expect(job.finished).toBe(false);
    await card.getByRole("button", { name: "Cancel" }).click();
    await card.locator(".job-state", { hasText: "cancelled" }).waitFor();
    expect(job.finished).toBe(true);
    expect(await card.locator(".job-output").textContent()).toBe("first line\n");
    const records = fx.audit.records();
    expect(records.find((r) => r.event === "job_cancel" && r.job_id === jobId)).toMatchObject({ outcome: "cancelling", client_id: child.identity.clientId });
    expect(records.find((r) => r.event === "job_finished" && r.job_id === jobId)).toMatchObject({ outcome: "cancelled" });
  });
});
