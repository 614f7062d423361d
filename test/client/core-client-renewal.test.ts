/**
 * SPEC §3 renewal from the SDK's side, against the real core services over real mTLS: a request
 * signed with the old key that is still on its way when the renewal lands still succeeds (the SDK
 * switches keys only once it has been received), which matters because the server refuses an
 * old-key request that arrives after the new key's first signature; renewals never overlap.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { bundleOf, startPkiFixture, type PkiFixture } from "../support/pki-fixture.ts";
import { createCoreClient } from "../../src/client/core-client.ts";

const fixtures: PkiFixture[] = [];
const realFetch = globalThis.fetch;
afterEach(async () => {
  globalThis.fetch = realFetch;
  for (const fx of fixtures.splice(0)) await fx.stop();
});

async function fixture(): Promise<PkiFixture> {
  const fx = await startPkiFixture();
  fixtures.push(fx);
  return fx;
}

/** The keyid of a signed request as it leaves the SDK. */
function keyIdOf(init: RequestInit | undefined): string | null {
  const input = new Headers(init?.headers).get("signature-input");
  return input?.match(/keyid="([0-9a-f]{64})"/)?.[1] ?? null;
}

const COMMAND = "/v1/commands/system.info";
const ARGS = JSON.stringify({ args: {} });

describe("renewal while requests are on their way", () => {
  test("a request picked up with the old key but not yet sent when the renewal lands finishes with 200", async () => {
    const fx = await fixture();
    const client = await createCoreClient(bundleOf(fx));
    const oldId = client.clientId;
    const sent: { path: string; keyId: string | null }[] = [];
    let renewAnswered!: () => void;
    const answered = new Promise<void>((resolve) => (renewAnswered = resolve));
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const path = new URL(String(input instanceof Request ? input.url : input)).pathname;
      sent.push({ path, keyId: keyIdOf(init) });
      const response = await realFetch(input, init);
      if (path === "/v1/identity/renew") renewAnswered();
      return response;
    }) as typeof fetch;

    // Request A: its body is still arriving (the SDK reads it before signing), so it holds the
    // old credentials without having reached the network yet.
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) });
    const a = client.fetch(new Request(new URL(COMMAND, client.apiUrl).href, { method: "POST", body, duplex: "half" } as RequestInit) as unknown as string);
    const renewal = client.renew();
    await answered;
    // Request B, started once the new certificate is in hand (the renewal cannot finish while A
    // holds the old key, hence the bounded wait). Were B allowed to overtake A, its signature
    // would be the new key's first and revoke the old key while A is still on its way.
    await Promise.race([renewal, Bun.sleep(300)]);
    const b = client.fetch(COMMAND, { method: "POST", body: ARGS });
    await Promise.race([b, Bun.sleep(300)]);
    feed.enqueue(new TextEncoder().encode(ARGS));
    feed.close();

    const [ra, rb] = await Promise.all([a, b]);
    await renewal;
    const rc = await client.fetch(COMMAND, { method: "POST", body: ARGS });
    expect([ra.status, rb.status, rc.status]).toEqual([200, 200, 200]);
    expect(client.clientId).not.toBe(oldId);
    const commands = sent.filter((s) => s.path === COMMAND);
    expect(commands[0]!.keyId).toBe(oldId);
    expect(commands.at(-1)!.keyId).toBe(client.clientId);
    // The new key's first signature retired the old one as soon as it verified.
    expect(fx.core.identity.registry.status(fx.core.identity.registry.lookup(oldId)!)).toBe("revoked");
  });

  test("control: the server refuses the old key (401 revoked_client) once the new one has signed", async () => {
    const fx = await fixture();
    const bundle = bundleOf(fx);
    const client = await createCoreClient(bundle);
    const stale = await createCoreClient(bundle); // never renews: it keeps the handoff key
    expect((await stale.fetch(COMMAND, { method: "POST", body: ARGS })).status).toBe(200);
    await client.renew();
    // Renewed but the new key has not signed yet: the old one is in its grace.
    expect((await stale.fetch(COMMAND, { method: "POST", body: ARGS })).status).toBe(200);
    expect((await client.fetch(COMMAND, { method: "POST", body: ARGS })).status).toBe(200);
    const refused = await stale.fetch(COMMAND, { method: "POST", body: ARGS });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe("revoked_client");
  });

  test("renewals asked for at once run one after the other, each from the newest certificate", async () => {
    const fx = await fixture();
    const client = await createCoreClient(bundleOf(fx));
    const ids = [client.clientId];
    await Promise.all([client.renew().then(() => ids.push(client.clientId)), client.renew().then(() => ids.push(client.clientId))]);
    expect(new Set(ids).size).toBe(3);
    expect((await client.fetch(COMMAND, { method: "POST", body: ARGS })).status).toBe(200);
    expect(fx.core.identity.registry.isCurrent(client.clientId)).toBe(true);
  });
});
