/**
 * SPEC §5 GET /v1/events: the caller's child hears `rotate` (renew now), `revoked` (one of its
 * client_ids may no longer sign) and `shutdown`. Signed, so the stream belongs to a child_id: a
 * child revoked as a whole has its streams closed (SPEC §3). (SPEC §5's table lists it unsigned;
 * an unsigned stream could not know whose rotation to announce, nor be closed on revocation.)
 */
import { Hono } from "hono";
import type { CoreEvent } from "../../identity/events.ts";
import type { IdentityService } from "../../identity/service.ts";
import { callerOf, type RequestChecks } from "../request-checks.ts";
import { CHECK_PROBLEMS, SIGNED, SIGNED_PROBLEMS, eventStream, documented } from "../route-docs.ts";
import { HEARTBEAT_MS, sse } from "../sse.ts";
import type { SignatureVariables } from "../middleware/signature.ts";

export interface EventRoutesOptions {
  identity: IdentityService;
  checks: RequestChecks;
  heartbeatMs?: number;
}

export function eventRoutes({ identity, checks, heartbeatMs = HEARTBEAT_MS }: EventRoutesOptions) {
  return new Hono<{ Variables: SignatureVariables }>().get(
    "/v1/events",
    documented({
      operationId: "events",
      summary: "This child's events: rotate {client_id, not_after, renew_by}, revoked {client_id, reason}, shutdown {reason}",
      tags: ["identity"],
      ...SIGNED,
      responses: { "200": eventStream("events until the child is revoked or icecore stops"), ...SIGNED_PROBLEMS, ...CHECK_PROBLEMS },
    }, checks.signed),
    (c) => {
      const caller = callerOf(c);
      return sse(
        c,
        async ({ stream, aborted }) => {
          const queue: CoreEvent[] = [];
          let closed = false;
          let wake: (() => void) | null = null;
          const unsubscribe = identity.events.subscribe(caller.childId, {
            onEvent: (event) => {
              queue.push(event);
              wake?.();
            },
            onClose: () => {
              closed = true;
              wake?.();
            },
          });
          let gone = false;
          void aborted.then(() => {
            gone = true;
            wake?.();
          });
          try {
            // The first thing on the stream: an empty comment, so a client knows it is subscribed.
            await stream.write(": subscribed\n\n");
            while (!gone) {
              for (const event of queue.splice(0)) await stream.writeSSE({ event: event.event, data: JSON.stringify(event.data) });
              if (closed) break;
              await new Promise<void>((resolve) => (wake = resolve));
              wake = null;
            }
          } finally {
            unsubscribe();
          }
        },
        heartbeatMs,
      );
    },
  );
}
