/**
 * SPEC §9 the browser child, as one piece `icecore connect --browser` (and the tests' own browser
 * child) runs: with the Core client made from the bundle, renew the certificate at once (SPEC §3:
 * the key that crossed the handoff is retired before Chromium starts, and Chromium never sees it),
 * start Chromium on the console with the renewed identity, and on every later renewal (on `rotate`)
 * swap both the TLS proxy's client certificate and the page's signer. After each swap the child
 * signs one request with the new key itself (GET /v1/info): the Core retires the previous key at
 * its successor's first signature (SPEC §3), so it is retired at once rather than at the page's
 * next request or the end of the grace. Ends when the browser does, or when a renewal fails (the
 * certificate would expire under the console).
 */
import type { Bundle } from "../handoff/bundle.ts";
import type { CoreClient, RenewedIdentity } from "../client/core-client.ts";
import { launchConsoleBrowser, type CloseReason, type ConsoleBrowser, type ConsoleBrowserOptions } from "./console-browser.ts";

export interface BrowserChildOptions extends Pick<ConsoleBrowserOptions, "chromiumPath" | "headless" | "sandbox" | "allowOrigins" | "onDecision" | "onProxyRefused" | "profileParent"> {
  /** Told after each renewal (the first one happens before Chromium starts). */
  onRenewed?: (identity: RenewedIdentity) => void;
}

export type BrowserChildEnd = { reason: CloseReason } | { reason: "renewal_failed"; error: Error };

/** When the console showed the Core's status, from the page's own clock (epoch milliseconds). */
export interface ConsoleReady {
  /** The version the page shows, e.g. "v0.1.0". */
  version: string;
  /** First contentful paint of the page. */
  firstPaintAt: number | null;
  /** The frame after the status (version, uptime, certificate) was first drawn. */
  statusShownAt: number | null;
}

export interface BrowserChild {
  readonly browser: ConsoleBrowser;
  /** The certificate in use now (it changes on every renewal). */
  readonly identity: RenewedIdentity;
  /** Resolves once the console shows the Core's status. */
  ready(timeoutMs?: number): Promise<ConsoleReady>;
  /** Resolves once, when the child should end. */
  readonly ended: Promise<BrowserChildEnd>;
  /** Close the browser and stop renewing. */
  stop(): Promise<void>;
}

export class RenewalFailed extends Error {
  constructor(cause: Error) {
    super(`renewing the certificate failed: ${cause.message}`);
    this.name = "RenewalFailed";
  }
}

export async function startBrowserChild(client: CoreClient, bundle: Bundle, options: BrowserChildOptions): Promise<BrowserChild> {
  const { onRenewed, ...browserOptions } = options;
  let browser: ConsoleBrowser | null = null;
  let current: RenewedIdentity | null = null;
  let launching = false;
  const first = Promise.withResolvers<RenewedIdentity>();
  const failure = Promise.withResolvers<Error>();
  // Failures are left to the grace: the old key is then retired GRACE_MS after the renewal anyway.
  const retirePrevious = () => void client.api.v1.info.$get().catch(() => {});
  const renewal = client.startRenewal({
    onRenewed: (_clientId, identity) => {
      current = identity;
      onRenewed?.(identity);
      if (browser) {
        void browser.renew({ certPem: identity.certPem, keyPem: identity.keyPem }, identity.signer).then(retirePrevious);
      } else if (!launching) {
        // The first renewal: nothing uses the handoff's key any more; retire it now.
        launching = true;
        first.resolve(identity);
        retirePrevious();
      }
      // Else Chromium is starting with the previous identity: it is swapped in once Chromium is up.
    },
    onError: (error) => {
      first.reject(error);
      failure.resolve(error);
    },
  });
  const stopRenewal = async () => {
    renewal.stop();
    await renewal.done;
  };

  let launchedWith: RenewedIdentity;
  try {
    launchedWith = await first.promise;
  } catch (error) {
    await stopRenewal();
    throw new RenewalFailed(error as Error);
  }
  try {
    browser = await launchConsoleBrowser({
      ...browserOptions,
      apiUrl: client.apiUrl,
      caPem: bundle.ca_cert,
      identity: { certPem: launchedWith.certPem, keyPem: launchedWith.keyPem },
      signer: launchedWith.signer,
    });
  } catch (error) {
    await stopRenewal();
    throw error;
  }
  // A rotation may have come while Chromium was starting.
  const latest: RenewedIdentity = current ?? launchedWith;
  if (latest !== launchedWith) void browser.renew({ certPem: latest.certPem, keyPem: latest.keyPem }, latest.signer).then(retirePrevious);

  const opened = browser;
  const ended: Promise<BrowserChildEnd> = Promise.race([
    opened.closed.then((reason): BrowserChildEnd => ({ reason })),
    failure.promise.then((error): BrowserChildEnd => ({ reason: "renewal_failed", error })),
  ]);
  void ended.then(async (end) => {
    await stopRenewal();
    if (end.reason === "renewal_failed") await opened.close();
  });

  return {
    browser: opened,
    get identity() {
      return current ?? launchedWith;
    },
    ready: (timeoutMs = 30_000) => consoleReady(opened, timeoutMs),
    ended,
    async stop() {
      await opened.close();
      await stopRenewal();
    },
  };
}

/** The page marks `<html data-status="ready">` once it has drawn the Core's status (src/console/console.js). */
async function consoleReady(browser: ConsoleBrowser, timeoutMs: number): Promise<ConsoleReady> {
  const page = browser.page;
  await page.locator("html[data-status='ready']").waitFor({ state: "attached", timeout: timeoutMs });
  const version = ((await page.locator("#version").textContent()) ?? "").trim();
  // Runs in the page: the Performance API of the page's own clock.
  const timing = await page.evaluate(() => {
    const perf = (globalThis as unknown as { performance: Performance }).performance;
    const at = (name: string) => {
      const entry = perf.getEntriesByName(name)[0];
      return entry ? perf.timeOrigin + entry.startTime : null;
    };
    return { firstPaintAt: at("first-contentful-paint"), statusShownAt: at("icecore-status-shown") };
  });
  return { version, ...timing };
}
