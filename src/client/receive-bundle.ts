import { EndpointNotReady, currentPlatform, type HandoffPlatform } from "../platform/index.ts";
import { MAX_BUNDLE_BYTES, decodeBundle, type Bundle } from "../handoff/bundle.ts";

export interface ReceiveOptions {
  timeoutMs?: number;
  platform?: HandoffPlatform;
}

export class HandoffFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HandoffFailed";
  }
}

/**
 * SPEC §4.7: connect to the one-time endpoint, retrying with backoff (100, 200, 400 ms …) while
 * nobody listens yet, read the single message, and validate it as bundle v1.
 */
export async function receiveBundle(pipeName: string, options: ReceiveOptions = {}): Promise<Bundle> {
  const platform = options.platform ?? currentPlatform();
  if (!platform.isEndpointName(pipeName)) throw new HandoffFailed(`"${pipeName}" is not an icecore endpoint name on ${platform.os}`);
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  let delay = 100;
  for (;;) {
    try {
      const bytes = await platform.readOnce(pipeName, { maxBytes: MAX_BUNDLE_BYTES, deadline });
      try {
        return decodeBundle(bytes);
      } finally {
        bytes.fill(0);
      }
    } catch (error) {
      if (!(error instanceof EndpointNotReady)) throw new HandoffFailed((error as Error).message);
      const left = deadline - Date.now();
      if (left <= 0) throw new HandoffFailed(`no icecore endpoint answered at ${pipeName} before the timeout`);
      await Bun.sleep(Math.min(delay, left));
      delay *= 2;
    }
  }
}
