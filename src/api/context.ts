import type { BodyVariables } from "./middleware/body.ts";

/** Variables the middleware chain sets on the Hono context, in the order a request meets them. */
export interface ApiVariables extends BodyVariables {
  /** Set by the signature middleware on signed (POST/DELETE) requests: who is calling (SPEC §5). */
  clientId: string;
  /** Set by the body decoder: the request's JSON value, after JWE decryption when application/jose. */
  body: unknown;
}

export interface ApiEnv {
  Variables: ApiVariables;
}
