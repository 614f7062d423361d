/**
 * Who is calling: RFC 9421 signature verification (SPEC §5). Bun.serve does not expose the TLS
 * peer certificate, so mTLS only proves the caller is one of our clients; the signature's `keyid`
 * says which, and the identity registry holds that client's key, child and state.
 *
 * Mounted per route: `required` on every route that changes state or must know its caller
 * (commands, jobs, events, renewal, audit); `optional` where a known caller only adds to the
 * answer (GET /v1/info). Order of checks, each refusal a 401 whose `code` is one of SPEC §5's:
 *   1. Signature-Input / Signature present and well-formed, profile met → signature_missing / signature_invalid
 *   2. keyid registered → unknown_client; revoked → revoked_client; certificate valid now → expired_client
 *   3. `created` within ±windowSeconds of the server clock → stale
 *   4. Content-Digest matches the raw bytes; the signature verifies over the base rebuilt from the
 *      request as THIS server sees it (its own method, `request.url`) → signature_invalid
 *   5. the replay key (nonce, else the normalised signature) unseen for this client → replayed
 *      (kept in the share of the client's child, SPEC §5);
 *      recorded only now, after step 4, so a forger cannot burn a real client's keys.
 * Only then is `caller` set, and a renewed leaf's first signature retires its predecessor.
 *
 * Must run AFTER readBody() on routes with a body (it needs `rawBody`) and BEFORE anything parses
 * or decrypts that body.
 */
import { createMiddleware } from "hono/factory";
import { ProblemError } from "../problem.ts";
import type { IdentityRegistry } from "../../identity/registry.ts";
import type { Caller } from "../../commands/index.ts";
import type { ReplayCache } from "../replay-cache.ts";
import { ALGORITHM, replayKeyOf } from "../../httpsig/algorithm.ts";
import { SignatureFailure, checkFreshness, parseSignature, verifyParsedSignature } from "../../httpsig/verify.ts";

export type SignatureProblemCode = "signature_missing" | "signature_invalid" | "unknown_client" | "expired_client" | "revoked_client" | "stale" | "replayed";

export interface SignatureVariables {
  /** The verified signer and its child; null on an `optional` route called without a signature. */
  caller: Caller | null;
  /** The body exactly as received (set by readBody on routes with a body). */
  rawBody?: Uint8Array;
}

export interface VerifySignatureOptions {
  mode: "required" | "optional";
  identities: IdentityRegistry;
  replayCache: ReplayCache;
  /** SPEC §5: `created` more than 60 s from now is stale. */
  windowSeconds?: number;
  now?: () => number;
}

/** RFC 9421 §5.1: tell a client what signature we would accept. Informative only. */
const ACCEPT_SIGNATURE = `sig1=("@method" "@target-uri" "content-digest");alg="${ALGORITHM}"`;

const TITLES: Record<SignatureProblemCode, string> = {
  signature_missing: "Signature Required",
  signature_invalid: "Invalid Signature",
  unknown_client: "Unknown Client",
  expired_client: "Expired Client",
  revoked_client: "Revoked Client",
  stale: "Stale Signature",
  replayed: "Replayed Request",
};

export function signatureProblem(code: SignatureProblemCode, detail: string): ProblemError {
  return new ProblemError(401, code, TITLES[code], detail, { headers: { "Accept-Signature": ACCEPT_SIGNATURE } });
}

function fromFailure(failure: SignatureFailure): ProblemError {
  const code: SignatureProblemCode = failure.kind === "missing" ? "signature_missing" : failure.kind === "stale" ? "stale" : "signature_invalid";
  return signatureProblem(code, failure.reason);
}

export function verifySignature(opts: VerifySignatureOptions) {
  const windowSeconds = opts.windowSeconds ?? 60;
  const now = opts.now ?? Date.now;
  const { identities, replayCache } = opts;
  return createMiddleware<{ Variables: SignatureVariables }>(async (c, next) => {
    const headers = c.req.raw.headers;
    if (opts.mode === "optional" && !headers.has("signature-input") && !headers.has("signature")) {
      c.set("caller", null);
      return next();
    }
    const rawBody = c.get("rawBody") ?? new Uint8Array(0);
    try {
      const parsed = parseSignature(headers, { hasBody: rawBody.length > 0 });
      const leaf = identities.lookup(parsed.params.keyid);
      if (leaf === undefined) throw signatureProblem("unknown_client", "no client with this keyid was issued a certificate");
      const status = identities.status(leaf);
      if (status === "revoked") throw signatureProblem("revoked_client", `this client's certificate was revoked (${leaf.revokeReason})`);
      if (status !== "valid") {
        throw signatureProblem("expired_client", status === "expired" ? "this client's certificate has expired" : "this client's certificate is not valid yet");
      }
      checkFreshness(parsed.params, now(), windowSeconds);
      await verifyParsedSignature(parsed, { method: c.req.method, url: c.req.url, headers, body: rawBody }, leaf.publicKey);

      const expiresAt = (parsed.params.created + windowSeconds + 1) * 1000;
      const key = parsed.params.nonce !== undefined ? `n:${parsed.params.nonce}` : `s:${replayKeyOf(parsed.signature)}`;
      // The share is the child's, not the certificate's: renewing must not buy a fresh share.
      const recorded = replayCache.checkAndRecord(leaf.childId, `${leaf.clientId} ${key}`, expiresAt);
      if (recorded.outcome === "replayed") throw signatureProblem("replayed", "this request was already received within the window");
      if (recorded.outcome === "full") {
        throw new ProblemError(429, "replay_cache_full", "Too Many Requests", "too many signed requests in the replay window; retry later", {
          headers: { "Retry-After": String(recorded.retryAfterSeconds) },
        });
      }
      identities.signed(leaf.clientId);
      c.set("caller", { clientId: leaf.clientId, childId: leaf.childId });
    } catch (e) {
      if (e instanceof SignatureFailure) throw fromFailure(e);
      throw e;
    }
    return next();
  });
}
