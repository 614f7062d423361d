import { describe, expect, test } from "bun:test";
import { ClientRegistry } from "../../src/api/client-registry.ts";
import { mintAuthority, mintClientIdentity } from "../../src/pki/authority.ts";

const ca = await mintAuthority();

describe("ClientRegistry", () => {
  test("register + lookup with the values mintClientIdentity returns", async () => {
    const id = await mintClientIdentity(ca, 1, { ttlMs: 3600_000 });
    const registry = new ClientRegistry();
    registry.register(id);
    const found = registry.lookup(id.clientId)!;
    expect(found.publicKey).toBe(id.publicKey);
    expect(found.notAfter.getTime()).toBe(id.notAfter.getTime());
    expect(registry.lookup("0".repeat(64))).toBeUndefined();
    expect(ClientRegistry.status(found, Date.now())).toBe("valid");
    expect(ClientRegistry.status(found, id.notAfter.getTime() + 1)).toBe("expired");
    expect(ClientRegistry.status(found, id.notBefore.getTime() - 1)).toBe("not_yet_valid");
  });

  test("refuses a bad client_id, a private key, or a non-P-256 key", async () => {
    const id = await mintClientIdentity(ca, 2, { ttlMs: 3600_000 });
    const registry = new ClientRegistry();
    expect(() => registry.register({ ...id, clientId: "ABC" })).toThrow(TypeError);
    const ec384 = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"])) as CryptoKeyPair;
    expect(() => registry.register({ ...id, publicKey: ec384.publicKey })).toThrow(TypeError);
    const p256 = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    expect(() => registry.register({ ...id, publicKey: p256.privateKey })).toThrow(TypeError);
  });

  test("the same client_id with a different key is a bug and refused; re-registering the same is fine", async () => {
    const id = await mintClientIdentity(ca, 3, { ttlMs: 3600_000 });
    const other = await mintClientIdentity(ca, 4, { ttlMs: 3600_000 });
    const registry = new ClientRegistry();
    registry.register(id);
    registry.register(id);
    expect(() => registry.register({ ...id, publicKey: other.publicKey })).toThrow();
  });

  test("prune drops clients expired for longer than the grace period", async () => {
    const now = Date.now();
    const old = await mintClientIdentity(ca, 5, { ttlMs: 1, notBefore: new Date(now - 3 * 3600_000), notAfter: new Date(now - 2 * 3600_000) });
    const live = await mintClientIdentity(ca, 6, { ttlMs: 3600_000 });
    const registry = new ClientRegistry();
    registry.register(old);
    registry.register(live);
    expect(registry.prune(now, 3600_000)).toBe(1);
    expect(registry.lookup(old.clientId)).toBeUndefined();
    expect(registry.size).toBe(1);
  });
});
