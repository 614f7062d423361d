/**
 * The one-time endpoint (src/handoff/endpoint.ts) over the real Linux platform, with real
 * processes, as SPIRE tests its peertracker: the child is trusted, a grandchild while the child
 * lives is trusted, and a grandchild that outlives the child is NOT (it is no longer in the
 * child's tree). One delivery; the listener is closed before the write; other refusals keep the
 * endpoint open for the real child.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openEndpoint, type PeerRejection } from "../../src/handoff/endpoint.ts";
import { linuxPlatform } from "../../src/platform/linux.ts";
import { FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { track } from "../support/reaper.ts";

const isLinux = process.platform === "linux";
const PAYLOAD = "a bundle\n";

function endpoint() {
  const rejections: PeerRejection[] = [];
  const ep = openEndpoint({ platform: linuxPlatform, payload: () => new TextEncoder().encode(PAYLOAD), onRejected: (r) => rejections.push(r) });
  return { ep, rejections };
}

/** Starts the fixture as a child of this test process; resolves each RESULT line it (or its descendants) print. */
function tree(mode: string, name: string) {
  const proc = track(Bun.spawn([SYSTEM_PYTHON, join(FIXTURES, "peer-tree.py"), mode, name], { stdout: "pipe", stderr: "inherit" }));
  const result = (async () => {
    const text = await new Response(proc.stdout).text();
    const line = text.split("\n").find((l) => l.startsWith("RESULT "));
    return line ? (JSON.parse(line.slice(7)) as { pid: number; bytes: number }) : null;
  })();
  return { proc, result };
}

describe.skipIf(!isLinux)("one-time endpoint over Linux peer checks", () => {
  test("the child itself gets the bundle, once; the listener was closed before the write", async () => {
    const { ep } = endpoint();
    const child = tree("direct", ep.name);
    ep.expectChild(child.proc.pid);
    const delivery = await ep.delivered;
    expect((await child.result)?.bytes).toBe(PAYLOAD.length);
    expect(delivery.peer.pid).toBe(child.proc.pid);
    expect(delivery.closedAt).toBeLessThanOrEqual(delivery.writtenAt);
    expect(ep.isOpen).toBe(false);
  });

  test("a grandchild while the child lives is accepted (a descendant)", async () => {
    const { ep, rejections } = endpoint();
    const child = tree("grandchild", ep.name);
    ep.expectChild(child.proc.pid);
    const delivery = await ep.delivered;
    const result = await child.result;
    expect(result?.bytes).toBe(PAYLOAD.length);
    expect(delivery.peer.pid).toBe(result!.pid);
    expect(delivery.peer.pid).not.toBe(child.proc.pid);
    expect(rejections).toEqual([]);
  });

  test("a grandchild that outlives the child is refused: zero bytes, a rejection, the endpoint stays open", async () => {
    const { ep, rejections } = endpoint();
    const child = tree("orphan", ep.name);
    ep.expectChild(child.proc.pid);
    const result = await child.result;
    expect(result?.bytes).toBe(0);
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ pid: result!.pid, reason: expect.stringContaining("is not the child") });
    expect(ep.isOpen).toBe(true);
    // Control: the endpoint still serves a real child.
    const second = tree("direct", ep.name);
    ep.expectChild(second.proc.pid);
    await ep.delivered;
    expect((await second.result)?.bytes).toBe(PAYLOAD.length);
  });

  test("before any child is known, every peer is refused", async () => {
    const { ep, rejections } = endpoint();
    const early = tree("direct", ep.name);
    expect((await early.result)?.bytes).toBe(0);
    expect(rejections.map((r) => r.reason)).toEqual(["no child has been spawned yet"]);
    ep.destroy("test over");
    await expect(ep.delivered).rejects.toThrow("test over");
  });

  test("a preflight reason (e.g. icecore being traced) refuses the delivery and closes the endpoint", async () => {
    const ep = openEndpoint({ platform: linuxPlatform, payload: () => new TextEncoder().encode(PAYLOAD), preflight: () => "icecore is being traced by pid 1" });
    const child = tree("direct", ep.name);
    ep.expectChild(child.proc.pid);
    await expect(ep.delivered).rejects.toThrow("icecore is being traced by pid 1");
    expect((await child.result)?.bytes).toBe(0);
  });
});
