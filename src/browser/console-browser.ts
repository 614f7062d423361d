/**
 * SPEC §9: the browser child's browser. Starts the system Chromium through playwright-core on the
 * Core's console page, with the client certificate in memory only, the server verified against
 * the bundle's CA alone, every request the console makes signed by this process, and a fresh
 * private profile that is removed on exit. Resolves `closed` when the browser is gone (window
 * closed, page closed, browser process ended), so the child can end with it.
 */
import type { BrowserContext, Page } from "playwright-core";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { RequestSigner } from "../client/request-signer.ts";
import { attachCoreIdentity, type ClientIdentityPem, type CoreProxyHandle } from "./playwright-proxy.ts";
import { guardProxyListener, type GuardDecision } from "./proxy-guard.ts";
import { signPageRequests, signerSlot, type PageSigningOptions } from "./page-signing.ts";
import { loadPlaywright } from "./playwright-loader.ts";

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

/**
 * Why the session ended: the console page was closed (its tab, or the window in headless mode),
 * the browser ended on its own (its last window closed: exit 0), the browser died (killed,
 * crashed: a signal or a non-zero exit), or `close()` was called.
 */
export type CloseReason = "page_closed" | "browser_closed" | "browser_died" | "shutdown";

export interface BrowserExit {
  code: number | null;
  signal: string | null;
}

export interface ConsoleBrowserOptions {
  chromiumPath: string;
  apiUrl: string;
  caPem: Uint8Array | string;
  identity: ClientIdentityPem;
  signer: RequestSigner;
  headless?: boolean;
  /**
   * Chromium's own sandbox (namespaces + seccomp) for its renderers. On by default; Chromium
   * refuses to start as root with it, so a root child turns it off (`--no-sandbox`). Playwright's
   * own default is OFF: it is set explicitly here.
   */
  sandbox?: boolean;
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
  /**
   * Swap in a renewed certificate and signer: new TLS connections and new requests use them; the
   * page stays. Resolves once the page's requests signed with the old key have their answers.
   */
  renew(identity: ClientIdentityPem, signer: RequestSigner): Promise<void>;
  /** Resolves once, when the browser is gone and the profile removed. */
  readonly closed: Promise<CloseReason>;
  /** How Chromium's browser process ended (once it has). */
  readonly browserExit: Promise<BrowserExit>;
  close(): Promise<void>;
}

const PROFILE_PREFIX = "icecore-browser-";
/** Chromium's TMPDIR, inside the profile. */
export const CHROMIUM_TMP = ".tmp";
const PROFILE_NAME = /^icecore-browser-(\d+)-/;

/**
 * A child killed outright (SIGKILL: its `run` was killed, or it outlived a shutdown's grace)
 * cannot remove its profile. Each profile is named after its child's pid; a later child removes
 * those of its user whose child is gone. A pid that is alive (or not ours to signal) keeps its
 * profile: a reused pid only delays the sweep.
 */
export function sweepStaleProfiles(parent: string, uid = process.getuid?.() ?? -1): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of entries) {
    const pid = Number(PROFILE_NAME.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    const path = join(parent, name);
    try {
      const stat = lstatSync(path);
      if (!stat.isDirectory() || stat.uid !== uid) continue;
      process.kill(pid, 0);
      continue; // its child is alive
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") continue;
    }
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

export async function launchConsoleBrowser(opts: ConsoleBrowserOptions): Promise<ConsoleBrowser> {
  const coreOrigin = new URL(opts.apiUrl).origin;
  const parent = opts.profileParent ?? tmpdir();
  sweepStaleProfiles(parent);
  // Fresh and private: mkdtemp creates it 0700; chmod again in case a umask or ACL widened it.
  const profileDir = mkdtempSync(join(parent, `${PROFILE_PREFIX}${process.pid}-`));
  chmodSync(profileDir, 0o700);
  // Chromium's own temporary files (its singleton socket directory, org.chromium.Chromium.*)
  // go inside the private profile too, so they go with it: in the shared TMPDIR they were left
  // behind by every browser that did not shut down through its own exit path.
  const chromiumTmp = join(profileDir, CHROMIUM_TMP);
  mkdirSync(chromiumTmp, { mode: 0o700 });
  const removeProfile = () => rmSync(profileDir, { recursive: true, force: true });

  let context: BrowserContext;
  try {
    const { chromium } = await loadPlaywright();
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: opts.chromiumPath,
      headless: opts.headless ?? false,
      chromiumSandbox: opts.sandbox ?? true,
      args: [...CHROMIUM_ARGS],
      env: { ...process.env, TMPDIR: chromiumTmp },
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
  const signer = signerSlot(opts.signer);
  let page: Page;
  try {
    const guardOptions = opts.onProxyRefused ? { onRefused: opts.onProxyRefused } : {};
    proxy = attachCoreIdentity(context, coreOrigin, opts.caPem, opts.identity, (server, port, accepted) => guardProxyListener(server, port, guardOptions, accepted));
    await signPageRequests(context, {
      coreOrigin,
      signer,
      ...(opts.allowOrigins ? { allowOrigins: opts.allowOrigins } : {}),
      ...(opts.onDecision ? { onDecision: opts.onDecision } : {}),
    });
    page = context.pages()[0] ?? (await context.newPage());
  } catch (error) {
    await context.close().catch(() => {});
    removeProfile();
    throw error;
  }

  const browserProcess = browserProcessOf(context);
  const exitOf = (): BrowserExit | null =>
    browserProcess === null ? { code: null, signal: null } : browserProcess.exitCode !== null || browserProcess.signalCode !== null ? { code: browserProcess.exitCode, signal: browserProcess.signalCode } : null;
  const browserExit = new Promise<BrowserExit>((resolve) => {
    const now = exitOf();
    if (now !== null) resolve(now);
    else browserProcess!.once("exit", (code, signal) => resolve({ code, signal }));
  });
  // Chromium's helpers (zygote, renderers, the network and storage services) share its process
  // group (Playwright spawns it as a group leader) and can outlive its exit, still writing into the
  // profile: a CI run found the profile recreated after its removal. Whatever is left of the group
  // is killed before the profile goes. The group's id cannot name another group while any of
  // Chromium's processes is left (the kernel does not reuse it), and this runs milliseconds after
  // Chromium's exit.
  const endHelpers = () => {
    if (browserProcess?.pid === undefined || process.platform === "win32") return;
    try {
      process.kill(-browserProcess.pid, "SIGKILL");
    } catch {
      // ESRCH: nothing left
    }
  };
  let finishing = false;
  let resolveClosed!: (r: CloseReason) => void;
  const closed = new Promise<CloseReason>((resolve) => (resolveClosed = resolve));
  const finish = async (trigger: "page" | "context" | "shutdown") => {
    if (finishing) return;
    finishing = true;
    // Chromium reports its pages closed when it ends, before or after its process exit is seen:
    // a page close after the exit is the browser's end. Then closing the context ends Chromium
    // cleanly (exit 0) if it is still there, and a browser that was killed or crashed has ended
    // with a signal or a non-zero status: the exit tells a death from a close.
    const endedFirst = exitOf() !== null;
    // Asked to stop (the Core is shutting down and will not wait long): Chromium's own SIGTERM
    // shutdown takes milliseconds; Playwright's close then only tidies up.
    if (trigger === "shutdown" && !endedFirst) browserProcess?.kill("SIGTERM");
    await context.close().catch(() => {});
    let timer: Timer | undefined;
    const exit = await Promise.race([browserExit, new Promise<null>((resolve) => (timer = setTimeout(resolve, 5000, null)))]);
    clearTimeout(timer);
    const died = exit === null || exit.signal !== null || exit.code !== 0;
    const reason: CloseReason = trigger === "shutdown" ? "shutdown" : died ? "browser_died" : trigger === "page" && !endedFirst ? "page_closed" : "browser_closed";
    endHelpers();
    removeProfile();
    resolveClosed(reason);
  };
  // The console page closed (its window or tab) ends the session, as does the browser going away
  // (last window closed, process killed or crashed): both fire here, whichever comes first.
  page.once("close", () => void finish("page"));
  context.once("close", () => void finish("context"));

  try {
    await page.goto(coreOrigin + (opts.path ?? "/"));
  } catch (error) {
    await finish("shutdown");
    throw error;
  }

  return {
    context,
    page,
    profileDir,
    socksPort: proxy.socksPort,
    browserPid: browserProcess?.pid ?? null,
    renew(identity, nextSigner) {
      proxy.renew(identity);
      return signer.replace(nextSigner);
    },
    closed,
    browserExit,
    close: async () => {
      await finish("shutdown");
    },
  };
}

/** Chromium's browser process, from Playwright's server side (the in-process connection). */
function browserProcessOf(context: BrowserContext): ChildProcess | null {
  const impl = (context as unknown as { _connection: { toImpl(x: unknown): { _browser?: { options?: { browserProcess?: { process?: ChildProcess } } } } } })._connection.toImpl(context);
  return impl._browser?.options?.browserProcess?.process ?? null;
}
