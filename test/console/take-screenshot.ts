/**
 * Writes docs/console.png: the console in Debian's Chromium against the real Core (its services
 * and API as `icecore run` composes them, over mTLS, the browser child of src/browser signing the
 * page's requests), in a realistic state: a real `package.search`, a finished job with real dpkg
 * log lines, a job still running (with its Cancel button), a schema error refused by the Core, and
 * the audit of all of it.
 *   node_modules/.bin/bun test/console/take-screenshot.ts [out.png]
 */
import "reflect-metadata";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { startBrowserChild } from "../../src/browser/browser-child.ts";
import { createCoreClient } from "../../src/client/core-client.ts";
import { compilePolicy } from "../../src/commands/index.ts";
import { CONSOLE_ASSETS } from "../../src/console/assets.ts";
import { bundleOf, startPkiFixture } from "../support/pki-fixture.ts";
import { demoPolicy } from "./demo-policy.ts";

const out = process.argv[2] ?? join(import.meta.dir, "../../docs/console.png");
const dir = mkdtempSync(join(tmpdir(), "icecore-screenshot-"));
chmodSync(dir, 0o755);
const policy = demoPolicy(join(dir, "gate"));
const withLogs = {
  ...policy,
  commands: {
    ...policy.commands,
    "logs.dpkg": { description: "The last lines of the package log (a job)", executable: "/usr/bin/tail", argv: ["-n", "{lines}", "--", "/var/log/dpkg.log"], params: { lines: { type: "integer", min: 1, max: 500, description: "How many lines" } }, long: true },
  },
};
const fx = await startPkiFixture({ catalogue: compilePolicy(withLogs), consoleAssets: CONSOLE_ASSETS });
const bundle = bundleOf(fx);
const child = await startBrowserChild(await createCoreClient(bundle), bundle, { chromiumPath: findChromium(), headless: true, sandbox: process.getuid?.() !== 0 });
try {
  const page = child.browser.page;
  await page.setViewportSize({ width: 1440, height: 1000 });
  await child.ready();
  const run = async (command: string, fill: Record<string, string> = {}) => {
    await page.click(`[data-command='${command}']`);
    for (const [field, value] of Object.entries(fill)) await page.fill(`[data-field='${field}'] input`, value);
    await page.click("button[type=submit]");
  };
  await run("demo.form", { count: "12", label: "ok" });
  await page.waitForSelector("[data-field='count'].has-error");
  await run("logs.dpkg", { lines: "8" });
  await page.locator("article.job .job-state", { hasText: "succeeded" }).waitFor();
  await run("demo.gated");
  await page.locator("article.job .job-output", { hasText: "first line" }).first().waitFor();
  await run("package.search", { query: "chromium" });
  await page.waitForSelector(".result [data-exit-code]");
  await page.click("#audit-refresh");
  await page.locator("#audit-rows tr", { hasText: "package.search" }).first().waitFor();
  await page.evaluate(() => (globalThis as any).document.activeElement?.blur());
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  writeFileSync(join(dir, "gate"), "");
  await child.stop();
  await fx.stop();
  rmSync(dir, { recursive: true, force: true });
}
