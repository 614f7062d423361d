/**
 * SPEC §3 on the identity service with real certificates and real timers: `rotate` at 2/3 of a
 * leaf's life, renewal for a key the child generated (and its refusals), the grace that ends on
 * time with a `revoked` event, child revocation closing its streams, shutdown.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { JWK } from "jose";
import { mintAuthority, type CertificateAuthority } from "../../src/pki/authority.ts";
import { ECDSA_P256 } from "../../src/pki/algorithms.ts";
import { IdentityService, RenewalRefused, rotationDue } from "../../src/identity/service.ts";
import type { CoreEvent } from "../../src/identity/events.ts";
import type { ChildRecord, Leaf, RevokeReason } from "../../src/identity/registry.ts";

let ca: CertificateAuthority;
const services: IdentityService[] = [];

beforeAll(async () => {
  ca = await mintAuthority();
});
afterEach(() => {
  for (const service of services.splice(0)) service.shutdown("test over");
});

function makeService(options: { certTtlMs?: number; graceMs?: number } = {}) {
  const childrenRevoked: [ChildRecord, RevokeReason][] = [];
  const renewed: [Leaf, Leaf | null][] = [];
  const leavesRevoked: Leaf[] = [];
  const service = new IdentityService({
    ca,
    certTtlMs: options.certTtlMs ?? 3600_000,
    ...(options.graceMs ? { graceMs: options.graceMs } : {}),
    onChildRevoked: (child, reason) => void childrenRevoked.push([child, reason]),
    onRenewed: (leaf, previous) => void renewed.push([leaf, previous]),
    onLeafRevoked: (leaf) => void leavesRevoked.push(leaf),
  });
  services.push(service);
  return { service, childrenRevoked, renewed, leavesRevoked };
}

/** A child's event stream as the events route sees it: every event, and whether it was closed. */
function listen(service: IdentityService, childId: string) {
  const seen: { at: number; event: CoreEvent }[] = [];
  let closed = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  service.events.subscribe(childId, {
    onEvent: (event) => {
      seen.push({ at: Date.now(), event });
      wake();
    },
    onClose: () => {
      closed = true;
      wake();
    },
  });
  return {
    seen,
    get closed() {
      return closed;
    },
    /** Resolves with the first event matching `match` (already seen or still to come). */
    async next(match: (e: CoreEvent) => boolean, timeoutMs = 10_000): Promise<{ at: number; event: CoreEvent }> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = seen.find((s) => match(s.event));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; saw ${JSON.stringify(seen)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, Math.max(0, deadline - Date.now()) + 1);
        });
      }
    },
  };
}

async function newPublicJwk(): Promise<{ jwk: JWK; spki: string }> {
  const pair = (await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { jwk: { kty, crv, x, y }, spki: Buffer.from(await crypto.subtle.exportKey("spki", pair.publicKey)).toString("hex") };
}

async function jwkOf(publicKey: CryptoKey): Promise<JWK> {
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  return { kty, crv, x, y };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RenewalRefused) return error.code;
    throw error;
  }
  return "accepted";
}

describe("rotate", () => {
  test("`rotate` is announced at 2/3 of the leaf's lifetime with client_id, not_after and renew_by", async () => {
    const { service } = makeService({ certTtlMs: 1500 });
    const { child, identity } = await service.enrollChild(1);
    const stream = listen(service, child.childId);
    const leaf = service.registry.lookup(identity.clientId)!;
    const due = rotationDue(leaf);
    const { at, event } = await stream.next((e) => e.event === "rotate");
    expect(event).toEqual({
      event: "rotate",
      data: { client_id: identity.clientId, not_after: leaf.notAfter.toISOString(), renew_by: expect.any(String) },
    });
    // Not before it is due (timers may fire a millisecond early); renew_by lies between due and expiry.
    expect(at).toBeGreaterThanOrEqual(due - 5);
    const renewBy = Date.parse((event as Extract<CoreEvent, { event: "rotate" }>).data.renew_by);
    expect(renewBy).toBeGreaterThan(due);
    expect(renewBy).toBeLessThan(leaf.notAfter.getTime());
  });

  test("a leaf renewed before its rotation is never announced; its successor is", async () => {
    const { service } = makeService({ certTtlMs: 1500 });
    const { child, identity } = await service.enrollChild(1);
    const stream = listen(service, child.childId);
    const { leaf } = await service.renew(identity.clientId, (await newPublicJwk()).jwk);
    await stream.next((e) => e.event === "rotate" && e.data.client_id === leaf.clientId);
    expect(stream.seen.filter((s) => s.event.event === "rotate").map((s) => (s.event as Extract<CoreEvent, { event: "rotate" }>).data.client_id)).toEqual([
      leaf.clientId,
    ]);
  });
});

describe("renew", () => {
  test("a new leaf for the same child_id certifying exactly the key the child sent; the old leaf enters its grace", async () => {
    const { service, renewed } = makeService();
    const { child, identity } = await service.enrollChild(1);
    const { jwk, spki } = await newPublicJwk();
    const { certificate, leaf } = await service.renew(identity.clientId, jwk);
    expect(leaf.childId).toBe(child.childId);
    expect(leaf.clientId).not.toBe(identity.clientId);
    expect(Buffer.from(certificate.spkiDer).toString("hex")).toBe(spki);
    expect(service.registry.isCurrent(leaf.clientId)).toBe(true);
    expect(service.registry.lookup(identity.clientId)!.graceUntil).not.toBeNull();
    expect(renewed.map(([l, p]) => [l.clientId, p?.clientId])).toEqual([[leaf.clientId, identity.clientId]]);
  });

  test("refused: not the child's newest certificate (409 not_current), or an unknown one", async () => {
    const { service } = makeService();
    const { identity } = await service.enrollChild(1);
    await service.renew(identity.clientId, (await newPublicJwk()).jwk);
    expect(await refusal(service.renew(identity.clientId, (await newPublicJwk()).jwk))).toBe("not_current");
    expect(await refusal(service.renew("f".repeat(64), (await newPublicJwk()).jwk))).toBe("not_current");
  });

  test("refused: anything but a P-256 public JWK (422 invalid_public_key), a private one included", async () => {
    const { service } = makeService();
    const { identity } = await service.enrollChild(1);
    const pair = (await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
    const privateJwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    const p384 = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const { jwk } = await newPublicJwk();
    const offCurve = { ...jwk, y: jwk.x };
    for (const bad of [privateJwk, await crypto.subtle.exportKey("jwk", p384.publicKey), offCurve, { kty: "RSA", n: "AQAB", e: "AQAB" }, null, "key"]) {
      expect(await refusal(service.renew(identity.clientId, bad))).toBe("invalid_public_key");
    }
    expect(service.registry.isCurrent(identity.clientId)).toBe(true);
  });

  test("refused: a key this child already had certified (422 key_reused), the current one or the handoff's", async () => {
    const { service } = makeService();
    const { identity } = await service.enrollChild(1);
    const handoffJwk = await jwkOf(identity.publicKey);
    expect(await refusal(service.renew(identity.clientId, handoffJwk))).toBe("key_reused");
    const { jwk } = await newPublicJwk();
    const { leaf } = await service.renew(identity.clientId, jwk);
    service.registry.signed(leaf.clientId);
    expect(await refusal(service.renew(leaf.clientId, jwk))).toBe("key_reused");
    // The key that crossed the handoff cannot be brought back under a new client_id.
    expect(await refusal(service.renew(leaf.clientId, handoffJwk))).toBe("key_reused");
    expect(await refusal(service.renew(leaf.clientId, (await newPublicJwk()).jwk))).toBe("accepted");
  });

  test("two renewals at once from the same leaf: one wins, the other is not_current (the child never forks)", async () => {
    const { service } = makeService();
    const { child, identity } = await service.enrollChild(1);
    const outcomes = await Promise.all([refusal(service.renew(identity.clientId, (await newPublicJwk()).jwk)), refusal(service.renew(identity.clientId, (await newPublicJwk()).jwk))]);
    expect(outcomes.sort()).toEqual(["accepted", "not_current"]);
    expect(service.registry.size.leaves).toBe(2);
    expect(service.registry.child(child.childId)!.current).not.toBe(identity.clientId);
  });

  test("a successor that never signs: the predecessor is revoked when the grace ends, announced as `revoked`", async () => {
    const { service, leavesRevoked } = makeService({ graceMs: 300 });
    const { child, identity } = await service.enrollChild(1);
    const stream = listen(service, child.childId);
    const renewedAt = Date.now();
    await service.renew(identity.clientId, (await newPublicJwk()).jwk);
    const { at, event } = await stream.next((e) => e.event === "revoked");
    expect(event).toEqual({ event: "revoked", data: { client_id: identity.clientId, reason: "superseded" } });
    expect(at - renewedAt).toBeGreaterThanOrEqual(295);
    expect(service.registry.status(service.registry.lookup(identity.clientId)!)).toBe("revoked");
    expect(leavesRevoked.map((l) => l.clientId)).toEqual([identity.clientId]);
  });
});

describe("revocation and shutdown", () => {
  test("revoking a child: `revoked` for each of its client_ids, then its streams close; no `rotate` after", async () => {
    const { service, childrenRevoked } = makeService({ certTtlMs: 1200 });
    const { child, identity } = await service.enrollChild(1);
    const other = await service.enrollChild(2);
    const stream = listen(service, child.childId);
    const otherStream = listen(service, other.child.childId);
    const { leaf } = await service.renew(identity.clientId, (await newPublicJwk()).jwk);
    service.revokeChild(child.childId, "child_exited");
    expect(stream.closed).toBe(true);
    expect(stream.seen.map((s) => s.event)).toEqual([
      { event: "revoked", data: { client_id: identity.clientId, reason: "child_exited" } },
      { event: "revoked", data: { client_id: leaf.clientId, reason: "child_exited" } },
    ]);
    expect(childrenRevoked.map(([c, r]) => [c.childId, r])).toEqual([[child.childId, "child_exited"]]);
    expect(service.events.streams).toBe(1);
    // The other child still gets its rotation; the revoked one's timers are gone.
    await otherStream.next((e) => e.event === "rotate");
    expect(otherStream.closed).toBe(false);
    expect(stream.seen.some((s) => s.event.event === "rotate")).toBe(false);
  });

  test("shutdown: `shutdown` on every stream, then every stream ends", async () => {
    const { service } = makeService();
    const a = listen(service, (await service.enrollChild(1)).child.childId);
    const b = listen(service, (await service.enrollChild(2)).child.childId);
    service.shutdown("SIGTERM");
    for (const stream of [a, b]) {
      expect(stream.seen.map((s) => s.event)).toEqual([{ event: "shutdown", data: { reason: "SIGTERM" } }]);
      expect(stream.closed).toBe(true);
    }
    expect(service.events.streams).toBe(0);
  });
});
