/**
 * PAGE TESTS ONLY: serves the console's assets (src/console/assets.ts, with the CSP the Core will
 * send) and answers the API endpoints the page uses, so the page's own behaviour — rendering,
 * form mapping, error placement, SSE appending, cancel — can be tested in Chromium before the
 * Core mounts the console. Not the Core: no TLS, no signatures, no Host/Origin checks. What it
 * can take from the real code it does: the command listing (describeCommands), validation and
 * its 422 issues (validateArgs), synchronous runs (runCommand, really executed). Jobs are driven
 * by the test (`jobs.push`), so "a line appears while the job still runs" is deterministic.
 */
import { CONSOLE_ASSETS, CONSOLE_CSP } from "../../src/console/assets.ts";
import { compilePolicy, describeCommands } from "../../src/commands/policy-loader.ts";
import { validateArgs } from "../../src/commands/argv-builder.ts";
import { problemOf } from "../../src/api/problem-map.ts";
import { runCommand } from "../../src/commands/executor.ts";
import { ProblemError } from "../../src/api/problem.ts";

export const DEMO_POLICY = {
  mode: "extend",
  commands: {
    "demo.form": {
      description: "Prints its arguments (every parameter type)",
      executable: "/usr/bin/printf",
      argv: ["%s\\n", "{mode}", "{count}", "{verbose}", "{names}", "{label}"],
      params: {
        mode: { type: "string", enum: ["fast", "thorough"], description: "How hard to try" },
        count: { type: "integer", min: 1, max: 10, description: "Repetitions" },
        verbose: { type: "boolean", description: "Say more" },
        names: { type: "array", items: { type: "string", pattern: "[a-z][a-z0-9-]*", maxLength: 16 }, maxItems: 3, description: "Package-like names" },
        label: { type: "string", pattern: "[a-z]+", maxLength: 12 },
      },
    },
    "logs.follow": {
      description: "Follow a log for a while (long-running job)",
      executable: "/usr/bin/tail",
      argv: ["-n", "{lines}", "--", "/var/log/dpkg.log"],
      params: { lines: { type: "integer", min: 1, max: 500, description: "Lines of history first" } },
      long: true,
    },
  },
} as const;

export interface PageJob {
  id: string;
  command: string;
  /** Events to stream, in order; `push` wakes the stream. */
  push(event: string, data: unknown): void;
  cancelled: boolean;
}

export interface PageServer {
  url: string;
  jobs: PageJob[];
  /** Resolves when the page starts a job (POST of a long command). */
  nextJob(): Promise<PageJob>;
  audit: Record<string, unknown>[];
  stop(): void;
}

const CLIENT_ID = "4f1c9a7be2d04c6a8e35b0d9f2a1c7e64f1c9a7be2d04c6a8e35b0d9f2a1c7e6";

export function startPageServer(opts: { info?: Record<string, unknown> } = {}): PageServer {
  const catalogue = compilePolicy(DEMO_POLICY);
  const listing = JSON.stringify(describeCommands(catalogue));
  const started = Date.now();
  const jobs: PageJob[] = [];
  const audit: Record<string, unknown>[] = [];
  let jobWaiter: ((job: PageJob) => void) | null = null;
  const record = (entry: Record<string, unknown>) => audit.unshift({ time: new Date().toISOString(), client_id: CLIENT_ID, ...entry });
  const problem = (err: ProblemError) => new Response(JSON.stringify(err.body()), { status: err.status, headers: { "content-type": "application/problem+json" } });
  const encoder = new TextEncoder();

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const asset = CONSOLE_ASSETS.get(url.pathname);
      if (asset && req.method === "GET") {
        return new Response(asset.body, { headers: { "content-type": asset.contentType, "content-security-policy": CONSOLE_CSP, "x-content-type-options": "nosniff", "cache-control": "no-store" } });
      }
      if (url.pathname === "/v1/info") {
        const now = Date.now();
        return Response.json({
          name: "icecore",
          version: "0.1.0",
          platform: "linux-x64",
          runtime: `bun ${Bun.version}`,
          uptime_ms: now - started + 3_725_000,
          api_url: `http://${url.host}`,
          client: { client_id: CLIENT_ID, child_id: "9c2e", not_after: new Date(now + 24 * 3600_000).toISOString(), renew_at: new Date(now + 16 * 3600_000).toISOString() },
          rotation: { next_at: new Date(now + 16 * 3600_000).toISOString() },
          ...opts.info,
        });
      }
      if (url.pathname === "/v1/commands") return new Response(listing, { headers: { "content-type": "application/json" } });
      if (url.pathname === "/v1/audit") return Response.json({ records: audit.slice(0, Number(url.searchParams.get("limit") ?? 50)) });
      if (url.pathname === "/v1/events") {
        const stream = new ReadableStream({ start: (c) => c.enqueue(encoder.encode(": connected\n\n")) });
        return new Response(stream, { headers: { "content-type": "text/event-stream" } });
      }
      const commandMatch = /^\/v1\/commands\/([^/]+)$/.exec(url.pathname);
      if (commandMatch && req.method === "POST") {
        const name = decodeURIComponent(commandMatch[1]!);
        const command = catalogue.get(name);
        if (!command) return problem(new ProblemError(404, "unknown_command", "Unknown Command", "no command of that name is allowed"));
        let values;
        try {
          values = validateArgs(command, ((await req.json()) as { args?: unknown }).args);
        } catch (error) {
          const refused = problemOf(error);
          if (refused) {
            record({ event: "command", command: name, outcome: "refused", code: refused.code, status: refused.status });
            return problem(refused);
          }
          throw error;
        }
        if (command.long) {
          const job = makeJob(name);
          record({ event: "command", command: name, outcome: "accepted", status: 202, exit_code: null, job_id: job.id, duration_ms: 1.2 });
          jobWaiter?.(job);
          jobWaiter = null;
          return Response.json({ job_id: job.id }, { status: 202, headers: { location: `/v1/jobs/${job.id}` } });
        }
        const result = await runCommand(command, values, { elevateWith: "none" });
        record({ event: "command", command: name, outcome: result.exit_code === 0 ? "succeeded" : "failed", status: 200, exit_code: result.exit_code, duration_ms: result.duration_ms });
        return Response.json(result);
      }
      const eventsMatch = /^\/v1\/jobs\/([0-9a-f]+)\/events$/.exec(url.pathname);
      if (eventsMatch) {
        const job = jobs.find((j) => j.id === eventsMatch[1]);
        if (!job) return new Response(null, { status: 404 });
        return new Response((job as unknown as { stream: () => ReadableStream }).stream(), { headers: { "content-type": "text/event-stream" } });
      }
      const jobMatch = /^\/v1\/jobs\/([0-9a-f]+)$/.exec(url.pathname);
      if (jobMatch && req.method === "DELETE") {
        const job = jobs.find((j) => j.id === jobMatch[1]);
        if (!job) return new Response(null, { status: 404 });
        job.cancelled = true;
        record({ event: "job_cancel", command: job.command, job_id: job.id, outcome: "cancelling" });
        return Response.json({ job_id: job.id, command: job.command, state: "running" }, { status: 202 });
      }
      return new Response(JSON.stringify({ type: "about:blank", title: "Not Found", status: 404, code: "not_found", detail: "no such resource" }), { status: 404, headers: { "content-type": "application/problem+json" } });
    },
  });

  function makeJob(command: string): PageJob {
    const queue: string[] = [];
    let wake: (() => void) | null = null;
    let seq = 0;
    const job = {
      id: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex"),
      command,
      cancelled: false,
      push(event: string, data: unknown) {
        queue.push(`event: ${event}\ndata: ${JSON.stringify(data)}\nid: ${++seq}\n\n`);
        wake?.();
      },
      stream: () =>
        new ReadableStream({
          async pull(controller) {
            while (queue.length === 0) await new Promise<void>((r) => (wake = r));
            const chunk = queue.shift()!;
            controller.enqueue(encoder.encode(chunk));
            if (chunk.startsWith("event: exit")) controller.close();
          },
        }),
    };
    jobs.push(job);
    return job;
  }

  return {
    url: `http://127.0.0.1:${server.port}`,
    jobs,
    audit,
    nextJob: () => new Promise<PageJob>((resolve) => (jobWaiter = resolve)),
    stop: () => server.stop(true),
  };
}
