/**
 * Server-sent events (SPEC §5) on Hono's streamSSE, with a comment heartbeat every 5 s so a
 * stream survives silence of any length: Bun.serve's idleTimeout (10 s) would otherwise close a
 * stream whose job prints nothing for a while.
 */
import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";

export const HEARTBEAT_MS = 5_000;

export interface SseSession {
  stream: SSEStreamingApi;
  /** Resolves when the client goes away. */
  aborted: Promise<void>;
  isAborted(): boolean;
}

export function sse(c: Context, body: (session: SseSession) => Promise<void>, heartbeatMs = HEARTBEAT_MS): Response {
  return streamSSE(c, async (stream) => {
    let aborted = false;
    let wake!: () => void;
    const abortedP = new Promise<void>((resolve) => (wake = resolve));
    stream.onAbort(() => {
      aborted = true;
      wake();
    });
    // RFC 8895 §9.2.6: a line starting with ":" is a comment; clients ignore it.
    const heartbeat = setInterval(() => {
      if (!aborted) void stream.write(": heartbeat\n\n").catch(() => {});
    }, heartbeatMs);
    try {
      await body({ stream, aborted: abortedP, isAborted: () => aborted });
    } finally {
      clearInterval(heartbeat);
    }
  });
}
