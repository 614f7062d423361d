/**
 * The guard in front of Playwright's SOCKS proxy (src/browser/proxy-guard.ts) judges connections
 * made BEFORE it was attached too: otherwise a local process could connect in the moment between
 * the proxy's listen and the guard, keep the connection idle, and use it once the Core's CA is
 * installed. Real processes, real sockets: an orphaned same-user holder (not a descendant) is cut
 * off; a descendant's connection stays.
 */
import { expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { guardProxyListener, type GuardDecision } from "../../src/browser/proxy-guard.ts";
import { FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";
import { track } from "../support/reaper.ts";

const isLinux = process.platform === "linux";

async function lines(proc: { stdout: ReadableStream<Uint8Array> }, onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of proc.stdout) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  }
}

test.skipIf(!isLinux)("connections accepted before the guard are judged when it is attached: the orphan's is closed, the descendant's stays", async () => {
  const accepted: Socket[] = [];
  let acceptedOne!: () => void;
  const server: Server = createServer((socket) => {
    accepted.push(socket);
    acceptedOne();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const holders = new Map<string, { events: string[]; closed: Promise<void> }>();
  const start = async (label: string, ...extra: string[]) => {
    const events: string[] = [];
    let closed!: () => void;
    const closedP = new Promise<void>((resolve) => (closed = resolve));
    const seen = new Promise<void>((resolve) => (acceptedOne = resolve));
    const proc = track(Bun.spawn([SYSTEM_PYTHON, join(FIXTURES, "tcp-holder.py"), String(port), ...extra], { stdout: "pipe", stderr: "inherit" }));
    void lines(proc, (line) => {
      events.push(line);
      if (line.startsWith("closed")) closed();
    });
    await seen;
    holders.set(label, { events, closed: closedP });
  };
  try {
    await start("orphan", "orphan");
    await start("descendant");
    const refused: GuardDecision[] = [];
    guardProxyListener(server, port, { onRefused: (d) => refused.push(d) }, accepted);
    await holders.get("orphan")!.closed;
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBe("not held by a descendant of the browser child");
    // The descendant's connection is still open: the server can write to it.
    const descendant = accepted[1]!;
    expect(descendant.destroyed).toBe(false);
    expect(accepted[0]!.destroyed).toBe(true);
  } finally {
    for (const socket of accepted) socket.destroy();
    server.close();
  }
});
