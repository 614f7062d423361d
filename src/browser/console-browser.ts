/**
 * SPEC §9: the browser child's browser. Starts the system Chromium through playwright-core on the
 * Core's console page, with the client certificate in memory only, the server verified against
 * the bundle's CA alone, every request the console makes signed by this process, and a fresh
 * private profile that is removed on exit. Resolves `closed` when the browser is gone (window
 * closed, page closed, browser process ended), so the child can end with it.
 */
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { mkdtempSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RequestSigner } from "../client/request-signer.ts";
import { attachCoreIdentity, type ClientIdentityPem, type CoreProxyHandle } from "./playwright-proxy.ts";
import { guardProxyListener, type GuardDecision } from "./proxy-guard.ts";
import { signPageRequests, type PageSigningOptions } from "./page-signing.ts";

/**
 * Flags known to work on this project's machines (docs/browser-notes.md): no background traffic to
 * Google's services (the machine has no network), no first-run UI, no QUIC (the proxy is TCP).
 */
export const CHROMIUM_ARGS = [
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
] as const;

export type CloseReason = "page_closed" | "browser_closed" | "shutdown";

export interface ConsoleBrowserOptions {
  chromiumPath: string;
  apiUrl: string;
  caPem: Uint8Array | string;
  identity: ClientIdentityPem;
  signer: RequestSigner;
  headless?: boolean;
  /** Chromium refuses to run as root without it (its sandbox needs an unprivileged user). */
  noSandbox?: boolean;
  /** The page to open (default: the console, `/`). */
  path?: string;
  /** Tests only: other origins that may load in this browser. */
  allowOrigins?: readonly string[];
  onDecision?: PageSigningOptions["onDecision"];
  onProxyRefused?: (decision: GuardDecision) => void;
  /** Where the fresh profile directory is made (default: the OS temp dir). */
  profileParent?: string;
}

export interface ConsoleBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly profileDir: string;
  readonly socksPort: number;
  /** pid of Chromium's browser process. */
  readonly browserPid: number | null;
  /** Swap in a renewed certificate and signer: new TLS connections and new requests use them; the page stays. */
  renew(identity: ClientIdentityPem, signer: RequestSigner): void;
  /** Resolves once, when the browser is gone and the profile removed. */
  readonly closed: Promise<CloseReason>;
  close(): Promise<void>;
}

export async function launchConsoleBrowser(opts: ConsoleBrowserOptions): Promise<ConsoleBrowser> {
  const coreOrigin = new URL(opts.apiUrl).origin;
  // Fresh and private: mkdtemp creates it 0700; chmod again in case a umask or ACL widened it.
  const profileDir = mkdtempSync(join(opts.profileParent ?? tmpdir(), "icecore-browser-"));
  chmodSync(profileDir, 0o700);
  const removeProfile = () => rmSync(profileDir, { recursive: true, force: true });

  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: opts.chromiumPath,
      headless: opts.headless ?? false,
      args: [...CHROMIUM_ARGS, ...(opts.noSandbox ? ["--no-sandbox"] : [])],
      // In memory: Buffers handed to the in-process proxy, never a path.
      clientCertificates: [{ origin: coreOrigin, cert: Buffer.from(opts.identity.certPem as Uint8Array), key: Buffer.from(opts.identity.keyPem as Uint8Array) }],
      serviceWorkers: "block",
      acceptDownloads: false,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (error) {
    removeProfile();
    throw error;
  }

  let proxy: CoreProxyHandle;
  let signer = opts.signer;
  let page: Page;
  try {
    proxy = attachCoreIdentity(context, coreOrigin, opts.caPem, opts.identity);
    guardProxyListener(proxy.socksServer, proxy.socksPort, { ...(opts.onProxyRefused ? { onRefused: opts.onProxyRefused } : {}) });
    await signPageRequests(context, {
      coreOrigin,
      signer: () => signer,
      ...(opts.allowOrigins ? { allowOrigins: opts.allowOrigins } : {}),
      ...(opts.onDecision ? { onDecision: opts.onDecision } : {}),
    });
    page = context.pages()[0] ?? (await context.newPage());
  } catch (error) {
    await context.close().catch(() => {});
    removeProfile();
    throw error;
  }

  const browserProcess = (context as unknown as { _connection: { toImpl(x: unknown): { _browser?: { options?: { browserProcess?: { process?: { pid?: number } } } } } } })._connection
    .toImpl(context)._browser?.options?.browserProcess?.process?.pid ?? null;

  let reason: CloseReason | null = null;
  let resolveClosed!: (r: CloseReason) => void;
  const closed = new Promise<CloseReason>((resolve) => (resolveClosed = resolve));
  const finish = async (why: CloseReason) => {
    if (reason !== null) return;
    reason = why;
    await context.close().catch(() => {});
    removeProfile();
    resolveClosed(why);
  };
  // The console page closed (its window or tab) ends the session, as does the browser going away
  // (last window closed, process killed or crashed): both fire here, whichever comes first.
  page.once("close", () => void finish("page_closed"));
  context.once("close", () => void finish("browser_closed"));

  await page.goto(coreOrigin + (opts.path ?? "/"));

  return {
    context,
    page,
    profileDir,
    socksPort: proxy.socksPort,
    browserPid: browserProcess,
    renew(identity, nextSigner) {
      proxy.renew(identity);
      signer = nextSigner;
    },
    closed,
    close: async () => {
      await finish("shutdown");
    },
  };
}
