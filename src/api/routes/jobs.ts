/**
 * SPEC §5 jobs: a `long` command's state, its events (SSE, from the start, resumable with
 * Last-Event-ID) and cancellation. All signed: a job belongs to the child that started it, and
 * any other child's certificate gets 404 for it (SPEC §3).
 */
import { Hono } from "hono";
import type { CommandService } from "../../commands/index.ts";
import { callerOf, type RequestChecks } from "../request-checks.ts";
import { CHECK_PROBLEMS, SIGNED, SIGNED_PROBLEMS, eventStream, jsonResponse, problem, documented } from "../route-docs.ts";
import { JobSchema } from "../schemas.ts";
import { HEARTBEAT_MS, sse } from "../sse.ts";
import type { SignatureVariables } from "../middleware/signature.ts";

export interface JobRoutesOptions {
  service: CommandService;
  checks: RequestChecks;
  heartbeatMs?: number;
}

const ID = { name: "id", in: "path" as const, required: true, schema: { type: "string" as const, pattern: "^[0-9a-f]{32}$" } };
const NOT_FOUND = { "404": problem("no such job, or another child's job") };

export function jobRoutes({ service, checks, heartbeatMs = HEARTBEAT_MS }: JobRoutesOptions) {
  return new Hono<{ Variables: SignatureVariables }>()
    .get(
      "/v1/jobs/:id",
      documented({
        operationId: "getJob",
        summary: "A job's state, exit code and timings",
        tags: ["jobs"],
        ...SIGNED,
        parameters: [...SIGNED.parameters, ID],
        responses: { "200": jsonResponse("the job", JobSchema), ...NOT_FOUND, ...SIGNED_PROBLEMS, ...CHECK_PROBLEMS },
      }, checks.signed),
      (c) => c.json(service.job(callerOf(c), c.req.param("id")).info(), 200),
    )
    .get(
      "/v1/jobs/:id/events",
      documented({
        operationId: "jobEvents",
        summary: "A job's events: output {stream, line}, progress {message}, exit {exit_code, state, signal, truncated}, dropped {count}",
        tags: ["jobs"],
        ...SIGNED,
        parameters: [...SIGNED.parameters, ID, { name: "Last-Event-ID", in: "header" as const, required: false, schema: { type: "string" as const } }],
        responses: { "200": eventStream("the job's events from its start, then live, until it ends"), ...NOT_FOUND, ...SIGNED_PROBLEMS, ...CHECK_PROBLEMS },
      }, checks.signed),
      (c) => {
        const job = service.job(callerOf(c), c.req.param("id"));
        const lastId = c.req.header("Last-Event-ID");
        let after = lastId && /^[0-9]{1,15}$/.test(lastId) ? Number(lastId) : 0;
        return sse(
          c,
          async ({ stream, aborted, isAborted }) => {
            while (!isAborted()) {
              const { events, dropped } = job.read(after);
              if (dropped > 0) await stream.writeSSE({ event: "dropped", data: JSON.stringify({ count: dropped }) });
              for (const e of events) {
                await stream.writeSSE({ event: e.type, data: JSON.stringify(e.data), id: String(e.seq) });
                after = e.seq;
              }
              if (job.finished && after >= job.lastSeq) break;
              await Promise.race([job.waitFor(after), aborted]);
            }
          },
          heartbeatMs,
        );
      },
    )
    .delete(
      "/v1/jobs/:id",
      documented({
        operationId: "cancelJob",
        summary: "Cancel a job: SIGTERM to its process group, SIGKILL after 5 s",
        tags: ["jobs"],
        ...SIGNED,
        parameters: [...SIGNED.parameters, ID],
        responses: {
          "200": jsonResponse("the job had already finished", JobSchema),
          "202": jsonResponse("cancelling", JobSchema),
          ...NOT_FOUND,
          ...SIGNED_PROBLEMS,
          ...CHECK_PROBLEMS,
        },
      }, checks.signed),
      (c) => {
        const { job, cancelling } = service.cancel(callerOf(c), c.req.param("id"));
        return cancelling ? c.json(job.info(), 202) : c.json(job.info(), 200);
      },
    );
}
