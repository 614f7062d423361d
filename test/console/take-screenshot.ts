/**
 * Writes docs/console.png: the console in Debian's Chromium with a realistic state — a real
 * `apt-cache search` result, a job streaming real dpkg log lines, the audit of those runs.
 * Served by the page-test server (the Core does not mount the console yet).
 *   node_modules/.bin/bun test/console/take-screenshot.ts [out.png]
 */
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { CHROMIUM_ARGS } from "../../src/browser/console-browser.ts";
import { startPageServer } from "./page-server.ts";

const out = process.argv[2] ?? join(import.meta.dir, "../../docs/console.png");
const server = startPageServer();
const browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: [...CHROMIUM_ARGS, ...(process.getuid?.() === 0 ? ["--no-sandbox"] : [])] });
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 960 }, deviceScaleFactor: 1 });
  await page.goto(server.url + "/");
  await page.waitForSelector("[data-command='system.info']");
  await page.click("[data-command='system.info']");
  await page.click("button[type=submit]");
  await page.waitForSelector(".result [data-exit-code]");
  await page.click("[data-command='logs.follow']");
  await page.fill("[data-field='lines'] input", "20");
  const started = server.nextJob();
  await page.click("button[type=submit]");
  const job = await started;
  let lines: string[];
  try {
    lines = readFileSync("/var/log/dpkg.log", "utf8").trim().split("\n").slice(-8);
  } catch {
    lines = ["(no /var/log/dpkg.log on this machine)"];
  }
  for (const line of lines) job.push("output", { stream: "stdout", line });
  await page.locator(".job-output").filter({ hasText: lines.at(-1)! }).waitFor();
  await page.click("[data-command='package.search']");
  await page.fill("[data-field='query'] input", "chromium");
  await page.click("button[type=submit]");
  await page.waitForSelector(".result [data-exit-code]");
  await page.click("#audit-refresh");
  await page.waitForTimeout(300);
  await page.evaluate(() => (globalThis as any).document.activeElement?.blur());
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  server.stop();
}
