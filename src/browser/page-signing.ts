/**
 * SPEC §9: the page never holds a key; the child signs the page's requests to the Core on its
 * behalf (RFC 9421, the SDK's signer), by intercepting them with Playwright's routing and
 * continuing them with the signature headers added. `route.continue()` keeps the request on
 * Chromium's own network path, so streaming responses (SSE) still stream.
 *
 * Whose requests get signed: only those a Core document made itself —
 *   - never a navigation (a foreign page can open the Core's URL in a window; GET / needs no
 *     signature anyway, and a top-level POST comes only from forms, which the console has none of);
 *   - the initiating frame's document is on the Core's origin (a worker has no frame: refused);
 *   - an unsafe method must also carry `Origin: <the Core's origin>` (Chromium sends it on every
 *     POST/DELETE), a second witness to who started it.
 * Anything else to the Core's origin goes on unsigned (the Core answers 401/403). Requests to
 * any other origin are aborted: Playwright makes Chromium ignore certificate errors in a context
 * with client certificates (its proxy verifies the Core instead), so no other HTTPS origin would
 * be verified in this browser; the console needs none.
 */
import type { BrowserContext, Request, Route } from "playwright-core";
import type { RequestSigner } from "../client/request-signer.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export type SigningVerdict = { sign: true } | { sign: false; reason: string };

/** Who started this request to the Core, and may it carry our signature? */
export function signingVerdict(request: Pick<Request, "isNavigationRequest" | "frame" | "headers" | "method">, coreOrigin: string): SigningVerdict {
  if (request.isNavigationRequest()) return { sign: false, reason: "navigation" };
  let frameUrl: string;
  try {
    frameUrl = request.frame().url();
  } catch {
    return { sign: false, reason: "no initiating frame (worker)" };
  }
  let frameOrigin: string;
  try {
    frameOrigin = new URL(frameUrl).origin;
  } catch {
    return { sign: false, reason: "initiating frame has no URL" };
  }
  if (frameOrigin !== coreOrigin) return { sign: false, reason: `initiated by ${frameOrigin}` };
  const origin = request.headers()["origin"];
  if (!SAFE_METHODS.has(request.method()) && origin !== coreOrigin) return { sign: false, reason: `Origin ${origin ?? "absent"}` };
  return { sign: true };
}

/**
 * The signer the page's requests use, swappable on renewal (SPEC §3). The Core retires the old
 * key as soon as the new one signs, so — as the SDK does (src/client/core-client.ts) — the new
 * signer is first used only once every request signed with the old one has its response headers
 * (it has been verified), or after DRAIN_BOUND_MS (a request that long in flight has long been
 * verified: the signature is checked before anything else runs).
 */
export interface SignerSlot {
  acquire(): Promise<{ signer: RequestSigner; release(): void }>;
  /** Resolves once `next` is the signer in use (the old one's requests have their answers). */
  replace(next: RequestSigner): Promise<void>;
}

const DRAIN_BOUND_MS = 5000;

export function signerSlot(initial: RequestSigner): SignerSlot {
  type Entry = { signer: RequestSigner; inFlight: number; drained: (() => void) | null };
  const entry = (signer: RequestSigner): Entry => ({ signer, inFlight: 0, drained: null });
  let active = entry(initial);
  let switching: Promise<void> | null = null;
  return {
    async acquire() {
      while (switching) await switching;
      const used = active;
      used.inFlight++;
      let released = false;
      return {
        signer: used.signer,
        release: () => {
          if (released) return;
          released = true;
          if (--used.inFlight === 0) used.drained?.();
        },
      };
    },
    replace(next) {
      const old = active;
      const after = (switching ?? Promise.resolve()).then(async () => {
        if (old.inFlight > 0) {
          let timer: Timer | undefined;
          await new Promise<void>((resolve) => {
            old.drained = resolve;
            timer = setTimeout(resolve, DRAIN_BOUND_MS);
          });
          clearTimeout(timer);
        }
        active = entry(next);
      });
      const mine = after.then(() => {
        if (switching === mine) switching = null;
      });
      switching = mine;
      return mine;
    },
  };
}

export interface PageSigningOptions {
  coreOrigin: string;
  /** The signer of the moment (it changes when the certificate is renewed). */
  signer: SignerSlot;
  /** Origins other than the Core's that may load (tests only: a foreign page for the 403 test). */
  allowOrigins?: readonly string[];
  onDecision?: (event: { method: string; url: string; verdict: SigningVerdict | { sign: false; reason: "blocked origin" } }) => void;
}

export async function signPageRequests(context: BrowserContext, opts: PageSigningOptions): Promise<void> {
  const coreOrigin = new URL(opts.coreOrigin).origin;
  const allowed = new Set((opts.allowOrigins ?? []).map((o) => new URL(o).origin));
  await context.route("**/*", async (route: Route, request: Request) => {
    const url = request.url();
    const origin = new URL(url).origin;
    if (origin !== coreOrigin) {
      if (allowed.has(origin)) return route.continue();
      opts.onDecision?.({ method: request.method(), url, verdict: { sign: false, reason: "blocked origin" } });
      return route.abort("blockedbyclient");
    }
    const verdict = signingVerdict(request, coreOrigin);
    opts.onDecision?.({ method: request.method(), url, verdict });
    if (!verdict.sign) return route.continue();
    // postDataBuffer() is the exact body Chromium will send: the RFC 9530 digest covers those bytes.
    const body = request.postDataBuffer();
    const lease = await opts.signer.acquire();
    try {
      const signature = await lease.signer.sign({ method: request.method(), url, ...(body && body.length > 0 ? { body: new Uint8Array(body) } : {}) });
      const headers: Record<string, string> = { ...request.headers() };
      for (const [name, value] of Object.entries(signature)) if (value !== undefined) headers[name.toLowerCase()] = value;
      await route.continue({ headers });
    } catch (error) {
      lease.release();
      throw error;
    }
    // Response headers (or a failure) mean the Core has checked the signature.
    void request.response().then(lease.release, lease.release);
  });
}
