/**
 * PAGE TESTS of the console in Debian's Chromium, against test/console/page-server.ts (assets +
 * the endpoints the page uses; not the Core): it loads under the Core's CSP with no violation,
 * shows the status, draws each schema as the right inputs, shows a result, places a 422's issues
 * beside their fields, appends a job's lines as they arrive, cancels, and refreshes the audit.
 * The end-to-end tests against the real Core (mTLS, signing) come with the integration.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { CHROMIUM_ARGS } from "../../src/browser/console-browser.ts";
import { startPageServer, type PageServer } from "./page-server.ts";

const chromiumPath = (() => {
  try {
    return findChromium();
  } catch {
    return null;
  }
})();

describe.skipIf(chromiumPath === null)("console page (page tests, Debian Chromium)", () => {
  let server: PageServer;
  let browser: Browser;
  let page: Page;
  const cspViolations: string[] = [];
  const failedRequests: string[] = [];

  beforeAll(async () => {
    server = startPageServer();
    browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: [...CHROMIUM_ARGS, ...(process.getuid?.() === 0 ? ["--no-sandbox"] : [])] });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("requestfailed", (r) => failedRequests.push(`${r.url()} ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400 && !r.url().includes("/v1/commands/")) failedRequests.push(`${r.url()} ${r.status()}`);
    });
    // Runs before the page's own script; init scripts are not subject to the page's CSP.
    await page.addInitScript(() => {
      (globalThis as any).__csp = [];
      (globalThis as any).document.addEventListener("securitypolicyviolation", (e: any) => (globalThis as any).__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(server.url + "/");
  });

  afterAll(async () => {
    await browser?.close();
    server?.stop();
  });

  test("loads under the Core's CSP with no violation and no failed request; shows version and status", async () => {
    await page.waitForSelector("#version:text('v0.1.0')");
    await page.waitForSelector("[data-command='system.info']");
    expect(await page.evaluate(() => (globalThis as any).__csp)).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect(failedRequests).toEqual([]);
    expect(await page.textContent("#cert-expiry")).toMatch(/^in 2[34] h/);
    expect(await page.textContent("#cert-renewal")).toMatch(/^in 1[56] h/);
    await page.waitForSelector("#connection[data-state='open']");
    const before = await page.textContent("#uptime");
    await page.waitForFunction((b) => (globalThis as any).document.querySelector("#uptime").textContent !== b, before, { timeout: 5000 });
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
    // labels name their inputs (accessibility)
    expect(await page.getByLabel("count").getAttribute("type")).toBe("number");
    // the array list: add rows up to maxItems, then the add button is disabled; remove works
    const add = page.locator("[data-field='names'] button", { hasText: "Add item" });
    await add.click();
    await add.click();
    expect(await page.locator("[data-field='names'] li").count()).toBe(3);
    expect(await add.isDisabled()).toBe(true);
    await page.locator("[data-field='names'] li").nth(2).getByRole("button", { name: /Remove/ }).click();
    expect(await page.locator("[data-field='names'] li").count()).toBe(2);
    expect(await add.isDisabled()).toBe(false);
  });

  test("a 422's issues appear beside their fields (and on the array item)", async () => {
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
    // the first field in error has the focus, for keyboard users
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.closest("[data-field]")?.getAttribute("data-field"))).toBe("count");
  });

  test("running system.info (found by the filter, chosen by keyboard) shows its result and refreshes the audit", async () => {
    await page.fill("#command-filter", "system");
    expect(await page.locator(".command").count()).toBe(1);
    await page.focus("[data-command='system.info']");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Enter"); // focus moved to Run (the command takes no arguments)
    await page.waitForSelector(".result [data-exit-code='0']");
    expect(await page.textContent(".result .stdout pre")).toContain('"hostname"');
    await page.waitForSelector("#audit-rows tr >> text=system.info");
    expect(await page.textContent("#audit-rows tr:first-child")).toContain("succeeded");
    await page.fill("#command-filter", "");
  });

  test("a job's lines appear while it runs; cancel stops it and shows the final state", async () => {
    await page.click("[data-command='logs.follow']");
    await page.fill("[data-field='lines'] input", "5");
    const started = server.nextJob();
    await page.click("button[type=submit]");
    const job = await started;
    const card = page.locator(`[data-job-id='${job.id}']`);
    job.push("output", { stream: "stdout", line: "first line" });
    await card.locator(".job-output >> text=first line").waitFor();
    expect(await card.locator(".job-state").textContent()).toBe("running");
    job.push("output", { stream: "stderr", line: "a warning" });
    await card.locator(".job-output .stderr-line >> text=a warning").waitFor();
    await card.getByRole("button", { name: "Cancel" }).click();
    for (let i = 0; i < 50 && !job.cancelled; i++) await Bun.sleep(50);
    expect(job.cancelled).toBe(true);
    job.push("exit", { exit_code: null, state: "cancelled", signal: "SIGTERM", truncated: false });
    await card.locator(".job-state >> text=cancelled").waitFor();
    expect(await card.getByRole("button", { name: "Cancel" }).count()).toBe(0);
    expect(await card.locator(".job-output").textContent()).toBe("first line\na warning\n");
  });
});
