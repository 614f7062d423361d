import { EndpointBusy, EndpointNotReady, currentPlatform, type Platform } from "../platform/index.ts";
import { MAX_BUNDLE_BYTES, decodeBundle, type Bundle } from "../handoff/bundle.ts";

export interface ReceiveOptions {
  timeoutMs?: number;
  platform?: Platform;
  /**
   * SPEC §7: make this process undumpable (Linux PR_SET_DUMPABLE 0, macOS PT_DENY_ATTACH) and
   * core-less BEFORE the key arrives, so another process of the same user cannot read it from
   * /proc/<pid>/mem. Default true; a process that has hardened itself already may pass false.
   */
  harden?: boolean;
}

export class HandoffFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HandoffFailed";
  }
}

/** While the endpoint's queue is full (a flood), retry this soon rather than back off. */
const BUSY_RETRY_MS = 2;

/**
 * SPEC §4.7: connect to the one-time endpoint, retrying with backoff (100, 200, 400 ms …) while
 * nobody listens yet, check that the server is an ancestor of this process (SPEC §4 mutual
 * check), read the single message, and validate it as bundle v1.
 */
export async function receiveBundle(pipeName: string, options: ReceiveOptions = {}): Promise<Bundle> {
  const platform = options.platform ?? currentPlatform();
  if (!platform.endpoints.isEndpointName(pipeName)) throw new HandoffFailed(`"${pipeName}" is not an icecore endpoint name on ${platform.os}`);
  if (options.harden !== false) {
    try {
      platform.hardening.harden();
    } catch (error) {
      throw new HandoffFailed(`could not harden this process before receiving a key: ${(error as Error).message}`);
    }
    // SPEC §7, the child's side of icecore's own check: a tracer that attached before harden()
    // (a kernel without Yama lets a same-user process do so) could read the key as it arrives.
    // Once undumpable, no new same-user tracer can attach, so checking now is enough.
    const tracer = platform.hardening.tracerPid();
    if (tracer !== null) throw new HandoffFailed(`this process is being traced by pid ${tracer}; refusing to receive a key`);
  }
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  let delay = 100;
  for (;;) {
    try {
      const bytes = await platform.endpoints.receive(pipeName, { maxBytes: MAX_BUNDLE_BYTES, deadline });
      try {
        return decodeBundle(bytes);
      } finally {
        bytes.fill(0);
      }
    } catch (error) {
      if (!(error instanceof EndpointNotReady)) throw new HandoffFailed((error as Error).message);
      const left = deadline - Date.now();
      if (left <= 0) throw new HandoffFailed(`no icecore endpoint answered at ${pipeName} before the timeout`);
      if (error instanceof EndpointBusy) {
        await Bun.sleep(Math.min(BUSY_RETRY_MS, left));
        continue;
      }
      await Bun.sleep(Math.min(delay, left));
      delay *= 2;
    }
  }
}
