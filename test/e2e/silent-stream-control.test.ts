/**
 * The control of docs/hardening.md §9 (attack-silent-job.test.ts): the same silent job on the same
 * server code (the real Core services: real Bun.serve TLS with its 10 s idleTimeout, the real
 * SSE route), with the heartbeat pushed out of reach. The job's stream is closed by the server
 * after about 10 s of silence, without its exit event: what made `icecore connect` exit 69 and
 * the job get cancelled before heartbeats. So the 20 s job passing through the executable shows
 * the heartbeat at work, not a server that never times out.
 */
import { expect, test } from "bun:test";
import { bundleOf, startPkiFixture } from "../support/pki-fixture.ts";
import { compilePolicy } from "../../src/commands/index.ts";
import { createCoreClient } from "../../src/client/core-client.ts";
import { readEvents } from "../../src/client/sse.ts";
import { SILENCE_S, silentCommand } from "./test-commands.ts";

/** Bun.serve's idleTimeout in src/api/server.ts. */
const IDLE_TIMEOUT_S = 10;
/** uWS checks idle sockets on a 4 s tick, so a socket is closed 6–10 s after its last byte
 * (measured here: 8.3–10.2 s); 1 s more for a busy machine. */
const TIMER_GRANULARITY_S = 4 + 1;

test("control: without heartbeats the server closes the same job's stream after its idle timeout, before the job ends", async () => {
  const catalogue = compilePolicy({ mode: "replace", commands: { "test.silent": silentCommand } });
  const fx = await startPkiFixture({ catalogue, heartbeatMs: 3_600_000 });
  try {
    const client = await createCoreClient(bundleOf(fx));
    const started = await client.fetch("/v1/commands/test.silent", { method: "POST", body: JSON.stringify({ args: {} }) });
    expect(started.status).toBe(202);
    const { job_id } = (await started.json()) as { job_id: string };
    const opened = performance.now();
    const response = await client.api.v1.jobs[":id"].events.$get({ param: { id: job_id } });
    expect(response.status).toBe(200);
    const lines: string[] = [];
    let exited = false;
    try {
      for await (const event of readEvents(response)) {
        if (event.event === "output") lines.push((JSON.parse(event.data) as { line: string }).line);
        if (event.event === "exit") exited = true;
      }
    } catch {
      // A reset counts as the stream ending too.
    }
    const lasted = (performance.now() - opened) / 1000;
    // Ended by the server's idle timeout: after the first line, without the second or `exit`.
    expect({ lines, exited }).toEqual({ lines: ["first line"], exited: false });
    expect(lasted).toBeGreaterThan(IDLE_TIMEOUT_S - TIMER_GRANULARITY_S);
    expect(lasted).toBeLessThan(SILENCE_S);
  } finally {
    await fx.stop();
  }
}, (SILENCE_S + 25) * 1000);
