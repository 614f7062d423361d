/**
 * Who is calling: RFC 9421 signature verification for every request that can change state
 * (SPEC §5: POST and DELETE; we also cover PUT and PATCH, i.e. every method that is not safe in
 * the RFC 9110 §9.2.1 sense, so a future route cannot forget it).
 *
 * Bun.serve does not expose the TLS peer certificate, so mTLS only proves the caller is one of
 * our clients; the signature's `keyid` says which, and the registry holds that client's key.
 *
 * Order of checks, each refusal a 401 whose `code` is exactly one of SPEC §5's:
 *   1. Signature-Input / Signature present and well-formed, profile met → signature_missing / signature_invalid
 *   2. keyid registered → unknown_client;  its certificate valid now → expired_client
 *   3. `created` within ±windowSeconds of the server clock → stale
 *   4. Content-Digest matches the raw bytes; signature verifies over the base rebuilt from the
 *      request as THIS server sees it (its own method, `request.url`) → signature_invalid
 *   5. nonce not seen for this client → replayed; recorded only now, after step 4, so a forger
 *      cannot burn a real client's nonces.
 * Only then is `clientId` set and the route reached.
 *
 * Must run AFTER readBody() (it needs `rawBody`) and BEFORE decodeBody() (nothing is parsed, let
 * alone decrypted, for a caller we have not identified).
 */
import { createMiddleware } from "hono/factory";
import type { MiddlewareHandler } from "hono";
import { ProblemError } from "../problem.ts";
import { ClientRegistry } from "../client-registry.ts";
import type { ReplayCache } from "../replay-cache.ts";
import type { BodyEnv } from "./body.ts";
import { ALGORITHM } from "../../httpsig/algorithm.ts";
import { SignatureFailure, checkFreshness, parseSignature, verifyParsedSignature } from "../../httpsig/verify.ts";

export type SignatureProblemCode = "signature_missing" | "signature_invalid" | "unknown_client" | "expired_client" | "stale" | "replayed";

export interface VerifySignatureOptions {
  registry: ClientRegistry;
  replayCache: ReplayCache;
  /** SPEC §5: `created` more than 60 s from now is stale. */
  windowSeconds?: number;
  now?: () => number;
}

/** RFC 9110 §9.2.1 safe methods: reads, never signed (SPEC §5 table). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** RFC 9421 §5.1: tell a client what signature we would accept. Informative only. */
const ACCEPT_SIGNATURE = `sig1=("@method" "@target-uri" "content-digest");alg="${ALGORITHM}"`;

const TITLES: Record<SignatureProblemCode, string> = {
  signature_missing: "Signature Required",
  signature_invalid: "Invalid Signature",
  unknown_client: "Unknown Client",
  expired_client: "Expired Client",
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

export function verifySignature(opts: VerifySignatureOptions): MiddlewareHandler<BodyEnv> {
  const windowSeconds = opts.windowSeconds ?? 60;
  const now = opts.now ?? Date.now;
  return createMiddleware<BodyEnv>(async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();

    const rawBody = c.get("rawBody");
    // A wiring mistake, not the client's: never verify a digest against bytes we did not read.
    if (rawBody === undefined) throw new Error("verifySignature() must run after readBody()");

    try {
      const parsed = parseSignature(c.req.raw.headers, { hasBody: rawBody.length > 0 });
      const client = opts.registry.lookup(parsed.params.keyid);
      if (client === undefined) throw signatureProblem("unknown_client", "no client with this keyid was issued a certificate");
      const status = ClientRegistry.status(client, now());
      if (status !== "valid") {
        throw signatureProblem("expired_client", status === "expired" ? "this client's certificate has expired" : "this client's certificate is not valid yet");
      }
      checkFreshness(parsed.params, now(), windowSeconds);
      await verifyParsedSignature(
        parsed,
        { method: c.req.method, url: c.req.url, headers: c.req.raw.headers, body: rawBody },
        client.publicKey,
      );

      const expiresAt = (parsed.params.created + windowSeconds + 1) * 1000;
      const recorded = opts.replayCache.checkAndRecord(client.clientId, parsed.params.nonce, expiresAt);
      if (recorded.outcome === "replayed") throw signatureProblem("replayed", "this nonce was already used within the window");
      if (recorded.outcome === "full") {
        throw new ProblemError(429, "replay_cache_full", "Too Many Requests", "too many signed requests in the replay window; retry later", {
          headers: { "Retry-After": String(recorded.retryAfterSeconds) },
        });
      }
      c.set("clientId", client.clientId);
    } catch (e) {
      if (e instanceof SignatureFailure) throw fromFailure(e);
      throw e;
    }
    return next();
  });
}
