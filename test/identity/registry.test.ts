/**
 * SPEC §3 identity lifecycle, on the registry alone with a clock the test moves: leaf states,
 * the renewal grace (ended by the successor's first signature, or by time), child revocation,
 * the tombstone bound and forgetting after expiry (memory stays bounded).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mintAuthority, mintClientIdentity, type CertificateAuthority, type ClientCertificate } from "../../src/pki/authority.ts";
import { EXPIRED_MEMORY_MS, IdentityRegistry, RENEWAL_GRACE_MS, UnknownChild, type Leaf } from "../../src/identity/registry.ts";

const HOUR = 3600_000;
let ca: CertificateAuthority;
let serial = 0;

beforeAll(async () => {
  ca = await mintAuthority();
});

/** A real CA-issued leaf valid from `from` for `ttlMs` (the registry only reads its fields). */
function leafCert(from: number, ttlMs = HOUR): Promise<ClientCertificate> {
  return mintClientIdentity(ca, ++serial, { ttlMs, notBefore: new Date(from), notAfter: new Date(from + ttlMs) });
}

function setup(options: { maxRevoked?: number } = {}) {
  const clock = { now: Date.now() };
  const revoked: Leaf[] = [];
  const childrenRevoked: string[] = [];
  const registry = new IdentityRegistry({
    now: () => clock.now,
    ...options,
    events: { revoked: (leaf) => void revoked.push(leaf), childRevoked: (child, reason) => void childrenRevoked.push(`${child.childId}:${reason}`) },
  });
  return { clock, registry, revoked, childrenRevoked };
}

describe("leaves and children", () => {
  test("each child gets its own random 16-byte child_id; its leaves hang off it", async () => {
    const { registry, clock } = setup();
    const a = registry.addChild(1);
    const b = registry.addChild(1);
    expect(a.childId).toMatch(/^[0-9a-f]{32}$/);
    expect(b.childId).not.toBe(a.childId);
    const cert = await leafCert(clock.now);
    const leaf = registry.addLeaf(a.childId, cert);
    expect(leaf).toMatchObject({ clientId: cert.clientId, childId: a.childId, revokedAt: null, predecessor: null });
    expect(registry.lookup(cert.clientId)).toBe(leaf);
    expect(registry.isCurrent(cert.clientId)).toBe(true);
    expect(registry.status(leaf)).toBe("valid");
    expect(() => registry.addLeaf(b.childId, cert)).toThrow(/already registered/);
    expect(() => registry.addLeaf("0".repeat(32), cert)).toThrow(UnknownChild);
  });

  test("validity is inclusive at both ends; revocation wins over validity", async () => {
    const { registry, clock } = setup();
    const child = registry.addChild(1);
    const start = clock.now + 1000;
    const leaf = registry.addLeaf(child.childId, await leafCert(start, 5000));
    clock.now = start - 1;
    expect(registry.status(leaf)).toBe("not_yet_valid");
    clock.now = start;
    expect(registry.status(leaf)).toBe("valid");
    clock.now = start + 5000;
    expect(registry.status(leaf)).toBe("valid");
    clock.now = start + 5001;
    expect(registry.status(leaf)).toBe("expired");
    registry.revokeChild(child.childId, "child_exited");
    expect(registry.status(leaf)).toBe("revoked");
  });
});

describe("renewal grace", () => {
  test("the successor's first signature revokes its predecessor at once; until then both are valid", async () => {
    const { registry, clock, revoked } = setup();
    const child = registry.addChild(1);
    const first = registry.addLeaf(child.childId, await leafCert(clock.now));
    const second = registry.addLeaf(child.childId, await leafCert(clock.now));
    expect(registry.isCurrent(second.clientId)).toBe(true);
    expect(registry.isCurrent(first.clientId)).toBe(false);
    expect(second.predecessor).toBe(first.clientId);
    expect(first.graceUntil).toBe(clock.now + RENEWAL_GRACE_MS);
    // The old key still signing does not end the grace; only the new one's signature does.
    registry.signed(first.clientId);
    expect(registry.status(registry.lookup(first.clientId)!)).toBe("valid");
    registry.signed(second.clientId);
    expect(registry.status(registry.lookup(first.clientId)!)).toBe("revoked");
    expect(first.revokeReason).toBe("superseded");
    expect(second.predecessor).toBeNull();
    expect(revoked.map((l) => l.clientId)).toEqual([first.clientId]);
    // Idempotent: a second signature revokes nothing more.
    registry.signed(second.clientId);
    expect(revoked).toHaveLength(1);
  });

  test("without a signature from the successor, the predecessor is revoked when the 60 s grace ends", async () => {
    const { registry, clock, revoked } = setup();
    const child = registry.addChild(1);
    const first = registry.addLeaf(child.childId, await leafCert(clock.now));
    const renewedAt = clock.now;
    registry.addLeaf(child.childId, await leafCert(clock.now));
    clock.now = renewedAt + RENEWAL_GRACE_MS - 1;
    registry.endGrace(first.clientId);
    expect(registry.status(registry.lookup(first.clientId)!)).toBe("valid");
    clock.now = renewedAt + RENEWAL_GRACE_MS;
    registry.endGrace(first.clientId);
    expect(registry.status(first)).toBe("revoked");
    expect(revoked.map((l) => [l.clientId, l.revokeReason])).toEqual([[first.clientId, "superseded"]]);
  });

  test("a request after the grace finds the predecessor revoked even if no timer ran (lookup checks too)", async () => {
    const { registry, clock } = setup();
    const child = registry.addChild(1);
    const first = registry.addLeaf(child.childId, await leafCert(clock.now));
    registry.addLeaf(child.childId, await leafCert(clock.now));
    clock.now += RENEWAL_GRACE_MS + 1;
    expect(registry.status(registry.lookup(first.clientId)!)).toBe("revoked");
  });

  test("a child holds at most two live leaves: a second renewal within the grace revokes the oldest at once", async () => {
    const { registry, clock } = setup();
    const child = registry.addChild(1);
    const a = registry.addLeaf(child.childId, await leafCert(clock.now));
    const b = registry.addLeaf(child.childId, await leafCert(clock.now));
    const c = registry.addLeaf(child.childId, await leafCert(clock.now));
    expect(registry.status(a)).toBe("revoked");
    expect(registry.status(b)).toBe("valid");
    expect(b.graceUntil).not.toBeNull();
    expect(c.predecessor).toBe(b.clientId);
    expect(registry.isCurrent(c.clientId)).toBe(true);
  });

  test("holdsKey knows every key a child's remembered leaves certify, and only that child's", async () => {
    const { registry, clock } = setup();
    const child = registry.addChild(1);
    const other = registry.addChild(2);
    const handoff = await leafCert(clock.now);
    registry.addLeaf(child.childId, handoff);
    registry.signed(registry.addLeaf(child.childId, await leafCert(clock.now)).clientId);
    const spki = Buffer.from(handoff.spkiDer).toString("hex");
    expect(registry.holdsKey(child.childId, spki)).toBe(true);
    expect(registry.holdsKey(other.childId, spki)).toBe(false);
  });
});

describe("revocation", () => {
  test("revoking a child revokes every client_id it holds at once, with the reason; idempotent; no new leaves", async () => {
    const { registry, clock, revoked, childrenRevoked } = setup();
    const child = registry.addChild(1);
    const other = registry.addChild(2);
    const a = registry.addLeaf(child.childId, await leafCert(clock.now));
    const b = registry.addLeaf(child.childId, await leafCert(clock.now));
    const o = registry.addLeaf(other.childId, await leafCert(clock.now));
    registry.revokeChild(child.childId, "child_exited");
    expect([a, b].map((l) => [registry.status(l), l.revokeReason])).toEqual([
      ["revoked", "child_exited"],
      ["revoked", "child_exited"],
    ]);
    expect(registry.status(o)).toBe("valid");
    expect(childrenRevoked).toEqual([`${child.childId}:child_exited`]);
    registry.revokeChild(child.childId, "shutdown");
    expect(childrenRevoked).toHaveLength(1);
    expect(revoked).toHaveLength(2);
    expect(() => registry.addLeaf(child.childId, o as unknown as ClientCertificate)).toThrow(UnknownChild);
  });
});

describe("bounded memory", () => {
  test("tombstones: at most maxRevoked revoked leaves are remembered, the oldest forgotten first", async () => {
    const { registry, clock } = setup({ maxRevoked: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const child = registry.addChild(1);
      ids.push(registry.addLeaf(child.childId, await leafCert(clock.now)).clientId);
      registry.revokeChild(child.childId, "child_exited");
    }
    expect(registry.size).toEqual({ leaves: 3, revoked: 3, children: 3 });
    // Forgotten: a late request gets unknown_client (still 401); remembered: revoked_client.
    expect(ids.map((id) => registry.lookup(id) !== undefined)).toEqual([false, false, true, true, true]);
  });

  test("expired leaves are forgotten EXPIRED_MEMORY_MS after expiry, live children stay, revoked children go with their last leaf", async () => {
    const { registry, clock } = setup();
    const alive = registry.addChild(1);
    const gone = registry.addChild(2);
    const a = registry.addLeaf(alive.childId, await leafCert(clock.now, 10_000));
    const g = registry.addLeaf(gone.childId, await leafCert(clock.now, 10_000));
    registry.revokeChild(gone.childId, "child_exited");
    expect(registry.size).toEqual({ leaves: 2, revoked: 1, children: 2 });
    clock.now += 10_000 + EXPIRED_MEMORY_MS;
    expect(registry.prune()).toEqual({ leaves: 0, children: 0 });
    expect(registry.status(registry.lookup(a.clientId)!)).toBe("expired");
    clock.now += 1;
    expect(registry.prune()).toEqual({ leaves: 2, children: 1 });
    expect(registry.lookup(a.clientId)).toBeUndefined();
    expect(registry.lookup(g.clientId)).toBeUndefined();
    expect(registry.child(alive.childId)).toBeDefined();
    expect(registry.child(gone.childId)).toBeUndefined();
    expect(registry.size).toEqual({ leaves: 0, revoked: 0, children: 1 });
  });

  test("thousands of renewals and restarts leave the registry at its bound", async () => {
    const { registry, clock } = setup();
    const certs = await Promise.all(Array.from({ length: 40 }, () => leafCert(clock.now)));
    let n = 0;
    const fresh = (): ClientCertificate => {
      // Reuse real certificates under new client_ids: the registry reads fields only.
      const base = certs[n % certs.length]!;
      return { ...base, clientId: `${base.clientId.slice(0, 50)}${String(n++).padStart(14, "0")}` };
    };
    let child = registry.addChild(1);
    for (let cycle = 1; cycle <= 3000; cycle++) {
      if (cycle % 10 === 0) {
        registry.revokeChild(child.childId, "child_exited");
        child = registry.addChild(1);
      }
      const leaf = registry.addLeaf(child.childId, fresh());
      registry.signed(leaf.clientId);
    }
    const size = registry.size;
    expect(size.revoked).toBeLessThanOrEqual(256);
    expect(size.leaves).toBeLessThanOrEqual(256 + 2);
    expect(size.children).toBeLessThanOrEqual(256 + 1);
  });
});
