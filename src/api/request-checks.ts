/**
 * The per-route checks, built once per app and mounted on the routes they protect (SPEC §5): a
 * bounded body read, a signature (required, or optional where a known caller only adds to the
 * answer), the body's decoding, and validators whose failures are RFC 9457 problems with JSON
 * Pointer issues. Order on a route with a body: read (the digest needs the exact bytes), who is
 * calling, and only then is anything decrypted or parsed.
 */
import { validator } from "hono-openapi";
import * as v from "valibot";
import { argIssues, documentedCheck, type Caller } from "../commands/index.ts";
import type { IdentityRegistry } from "../identity/registry.ts";
import { readBody } from "./middleware/body.ts";
import { decodeBody } from "./middleware/jwe-body.ts";
import { verifySignature, type SignatureVariables } from "./middleware/signature.ts";
import { problems } from "./problem.ts";
import { ReplayCache } from "./replay-cache.ts";

export interface RequestCheckOptions {
  identities: IdentityRegistry;
  replayCache?: ReplayCache;
  /** The ECDH-ES private key for application/jose bodies (never leaves the process). */
  serverKey: CryptoKey;
  now?: () => number;
}

export function requestChecks(options: RequestCheckOptions) {
  const replayCache = options.replayCache ?? new ReplayCache();
  const signature = { identities: options.identities, replayCache, ...(options.now ? { now: options.now } : {}) };
  return {
    replayCache,
    readBody: readBody(),
    signed: verifySignature({ ...signature, mode: "required" }),
    optionallySigned: verifySignature({ ...signature, mode: "optional" }),
    decodeBody: decodeBody({ serverKey: options.serverKey }),
  };
}

export type RequestChecks = ReturnType<typeof requestChecks>;

/** Validation failures are 422 problems whose issues are JSON Pointers and sentences (SPEC §5). */
function refuse(result: { success: boolean; error?: readonly unknown[] }): void {
  if (!result.success) throw problems.validation(argIssues((result.error ?? []) as v.BaseIssue<unknown>[]));
}

/** Documented checks (no leading dash…) appear in the OpenAPI schemas as in GET /v1/commands. */
const SCHEMA_OPTIONS = { options: { overrideAction: documentedCheck } };

/** hono-openapi's validator (it documents the schema too) with icecore's problem for failures. */
export function validJson<S extends v.GenericSchema>(schema: S) {
  return validator("json", schema, refuse, SCHEMA_OPTIONS as never);
}

export function validQuery<S extends v.GenericSchema>(schema: S) {
  return validator("query", schema, refuse, SCHEMA_OPTIONS as never);
}

/** The verified caller on a route mounted behind `signed` (a wiring mistake otherwise). */
export function callerOf(c: { var: Partial<SignatureVariables> }): Caller {
  const caller = c.var.caller;
  if (!caller) throw new Error("this route must be mounted behind the required signature check");
  return caller;
}
