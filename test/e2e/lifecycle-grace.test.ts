/**
 * SPEC §3: "the previous leaf is revoked as soon as the new one signs its first request, or 60 s
 * after the renewal". The second path, through the compiled executable: a renewal whose new key
 * never signs. The old key keeps working inside the grace (the control), the child's event stream
 * announces `revoked` when the grace ends (awaited, not slept for), and the old key is refused
 * from then on. Slow by nature (60 s): its own file so it runs alongside the other long tests.
 */
import { expect, test } from "bun:test";
import { eventsNamed, lifecycleRun } from "./lifecycle-support.ts";

test("a renewal whose successor never signs: the old key works for the 60 s grace, then is revoked and refused", async () => {
  const run = lifecycleRun("grace");
  const r = (await run.waitForReport((report) => "after" in report || "error" in report, 120_000)) as Record<string, any>;
  expect(r.error).toBeUndefined();
  expect((await run.exited).code).toBe(0);
  console.log(`lifecycle grace: the old client_id was revoked ${r.revoked_after_ms} ms after the renewal answered`);

  expect(r.in_grace).toEqual({ status: 200, code: null });
  expect(r.revoked).toEqual({ client_id: r.old_id, reason: "superseded" });
  // Not before the grace is over (the renewal's answer took a moment to arrive), and on time.
  expect(r.revoked_after_ms).toBeGreaterThanOrEqual(59_000);
  expect(r.revoked_after_ms).toBeLessThan(75_000);
  expect(r.after).toEqual({ status: 401, code: "revoked_client" });

  expect(eventsNamed(run, "cert_rotated").map((e) => [e.previous_client_id, e.client_id])).toEqual([[r.old_id, r.new_id]]);
  expect(eventsNamed(run, "client_revoked").find((e) => e.client_id === r.old_id)).toMatchObject({ reason: "superseded" });
  // The successor indeed never signed: the grace, not its first signature, ended the old key.
  expect(eventsNamed(run, "request").some((e) => e.client_id === r.new_id)).toBe(false);
}, 130_000);
