/**
 * SPEC §4.4 (docs/hardening.md §4), the order pinned deterministically: the one-time endpoint closes
 * its listener when it accepts the peer, BEFORE it writes a byte. The real Linux endpoint is used
 * (a real abstract socket, SO_PEERCRED, the kernel); the platform is only wrapped to note the
 * order of `close` and `deliver`, and, at the instant the write is about to start, another
 * process tries to connect: the kernel must refuse it (ECONNREFUSED), not queue it.
 * If the close moves after the write, both checks fail every time.
 * (test/e2e/attack-second-connection.test.ts races the compiled executable for real.)
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { openEndpoint } from "../../src/handoff/endpoint.ts";
import { linuxPlatform } from "../../src/platform/linux.ts";
import type { LocalListener, PendingConnection, Platform } from "../../src/platform/platform.ts";
import { FIXTURES, SYSTEM_PYTHON } from "../support/paths.ts";

test.skipIf(process.platform !== "linux")("the listener is closed before the first byte is written; a connection tried at that instant is refused by the kernel", async () => {
  const order: string[] = [];
  let probe: { error?: string; bytes: number } | null = null;
  let name = "";
  const platform: Platform = {
    ...linuxPlatform,
    endpoints: {
      ...linuxPlatform.endpoints,
      listen(options): LocalListener {
        const real = linuxPlatform.endpoints.listen({
          ...options,
          onConnection(connection) {
            const noted: PendingConnection = {
              creds: connection.creds,
              pin: () => connection.pin(),
              refuse: () => connection.refuse(),
              deliver(bytes) {
                order.push("deliver");
                // Another process connects now, while this process is blocked: nothing here can
                // accept it, so only the kernel answers (squatter.py reads with a 2 s timeout).
                const squat = Bun.spawnSync([SYSTEM_PYTHON, join(FIXTURES, "squatter.py"), name], { stdout: "pipe" });
                probe = JSON.parse(squat.stdout.toString()) as { error?: string; bytes: number };
                return connection.deliver(bytes);
              },
            };
            options.onConnection(noted);
          },
        });
        return {
          name: real.name,
          close() {
            order.push("close");
            real.close();
          },
        };
      },
    },
  };
  const payload = new TextEncoder().encode('{"v":1}\n');
  const endpoint = openEndpoint({ platform, payload: () => payload });
  name = endpoint.name;
  // This process is the "child": the peer check accepts itself, and the client's server check too.
  endpoint.expectChild(process.pid);
  const received = await linuxPlatform.endpoints.receive(name, { maxBytes: 1024, deadline: Date.now() + 5000 });
  await endpoint.delivered;
  expect(new TextDecoder().decode(received)).toBe('{"v":1}\n');
  expect(probe!).toMatchObject({ bytes: 0, error: expect.stringContaining("Connection refused") });
  expect(order.slice(0, 2)).toEqual(["close", "deliver"]);
});
