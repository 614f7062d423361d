/**
 * The child's view of the Core API (SPEC §3, §5): a client typed from the API itself
 * (`hc<AppType>`), over a fetch that presents the current client certificate, verifies the
 * server against the bundle's CA only, signs every request (RFC 9421) and, on the `encrypted`
 * client, sends bodies as JWE to the bundle's `server_key`.
 *
 * Renewal (SPEC §3): `renew()` generates a P-256 key pair HERE, sends only its public half, and
 * switches to the new certificate; `startRenewal()` renews once now (retiring the key that
 * crossed the handoff) and again on every `rotate` event. A request signed with the old key and
 * still on its way is never broken by the switch: the first request with the new key (which
 * revokes the old one) waits until every old-key request has its response headers, i.e. has
 * been verified by the server.
 */
import { hc } from "hono/client";
import type { AppType } from "../api/app.ts";
import type { Bundle } from "../handoff/bundle.ts";
import { privateKeyPem } from "../pki/pem.ts";
import { ECDSA_P256 } from "../pki/algorithms.ts";
import { importClientKey, createRequestSigner, prepareSignedRequest, type RequestSigner } from "./request-signer.ts";
import { createBodyEncryptor, type BodyEncryptor } from "./body-encryption.ts";
import { readEvents, type EventSourceMessage } from "./sse.ts";

interface Credentials {
  clientId: string;
  childId: string | null;
  notAfter: string;
  signer: RequestSigner;
  tls: { ca: string; cert: string; key: string; rejectUnauthorized: true };
  /** Requests signed with these credentials whose response headers have not arrived yet. */
  inFlight: number;
  drained: (() => void) | null;
}

export type CoreApi = ReturnType<typeof hc<AppType>>;

/**
 * A renewed certificate as its holder needs it elsewhere in this process (the browser child hands
 * it to its TLS proxy and its page signer): the key was generated here and never leaves memory.
 */
export interface RenewedIdentity {
  clientId: string;
  childId: string | null;
  notAfter: string;
  certPem: string;
  keyPem: string;
  signer: RequestSigner;
}

export interface CoreClient {
  readonly apiUrl: string;
  /** The current certificate's client_id (changes on renewal). */
  readonly clientId: string;
  readonly childId: string | null;
  readonly notAfter: string;
  /** The typed API, every request signed. */
  readonly api: CoreApi;
  /** The same, with request bodies encrypted to the server's key (application/jose). */
  readonly encrypted: CoreApi;
  /** A signed fetch of any path (for streams and tests). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** SPEC §3: a new certificate for a key generated here; the old one is retired by the first use of the new. */
  renew(): Promise<void>;
  /** Renew now, then on every `rotate` announced on /v1/events, until stopped. */
  startRenewal(options?: { onError?: (error: Error) => void; onRenewed?: (clientId: string, identity: RenewedIdentity) => void }): { stop(): void; done: Promise<void> };
  /** The child's events (rotate, revoked, shutdown), until the stream ends or `signal` aborts. */
  events(signal?: AbortSignal): AsyncGenerator<EventSourceMessage>;
}

const encoder = new TextEncoder();
type FetchInput = Parameters<typeof fetch>[0];
type FetchBody = RequestInit["body"];

async function credentialsOf(clientId: string, childId: string | null, notAfter: string, ca: string, cert: string, key: CryptoKey, keyPem: string): Promise<Credentials> {
  return {
    clientId,
    childId,
    notAfter,
    signer: createRequestSigner({ key, clientId }),
    tls: { ca, cert, key: keyPem, rejectUnauthorized: true },
    inFlight: 0,
    drained: null,
  };
}

function bodyBytes(body: FetchBody): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError("the Core client sends JSON or bytes only");
}

export async function createCoreClient(bundle: Bundle): Promise<CoreClient> {
  let current = await credentialsOf(
    bundle.client_id,
    null,
    bundle.not_after,
    bundle.ca_cert,
    bundle.client_cert,
    await importClientKey(bundle.client_key),
    bundle.client_key,
  );
  let switching: Promise<void> | null = null;
  const encryptor: BodyEncryptor = await createBodyEncryptor(bundle.server_key);

  const send = async (input: FetchInput, init: RequestInit = {}, encrypt = false): Promise<Response> => {
    while (switching) await switching;
    const creds = current;
    // Counted from the moment these credentials are chosen, not from when the request leaves:
    // a request still being signed when a renewal lands must hold the switch back too.
    creds.inFlight++;
    try {
      return await sendWith(creds, input, init, encrypt);
    } finally {
      if (--creds.inFlight === 0) creds.drained?.();
    }
  };

  const sendWith = async (creds: Credentials, input: FetchInput, init: RequestInit, encrypt: boolean): Promise<Response> => {
    const request = input instanceof Request ? input : null;
    const url = new URL(request ? request.url : String(input), bundle.api_url);
    const method = (init.method ?? request?.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? request?.headers);
    let body = bodyBytes(init.body ?? (request?.body ? new Uint8Array(await request.arrayBuffer()) : undefined));
    let contentType = headers.get("content-type") ?? "application/json";
    if (body && encrypt) {
      const encrypted = await encryptor.encrypt(JSON.parse(new TextDecoder().decode(body)));
      body = encrypted.bytes;
      contentType = encrypted.contentType;
    }
    const prepared = await prepareSignedRequest(creds.signer, { method, url, ...(body ? { body: { bytes: body, contentType } } : {}) });
    for (const [name, value] of prepared.headers) headers.set(name, value);
    return fetch(url, { ...init, method, headers, body: prepared.body ?? null, tls: creds.tls } as RequestInit);
  };

  const api = hc<AppType>(bundle.api_url, { fetch: (input: FetchInput, init?: RequestInit) => send(input, init) });
  const encrypted = hc<AppType>(bundle.api_url, { fetch: (input: FetchInput, init?: RequestInit) => send(input, init, true) });

  const renewOnce = async () => {
    const pair = (await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const response = await api.v1.identity.renew.$post({ json: { public_key: { kty: kty as "EC", crv: crv as "P-256", x: x!, y: y! } } });
    if (response.status !== 200) throw new Error(`renewal answered ${response.status}: ${await response.text()}`);
    const renewed = await response.json();
    const keyPem = new TextDecoder().decode(await privateKeyPem(pair.privateKey));
    const signingKey = await importClientKey(keyPem);
    const next = await credentialsOf(renewed.client_id, renewed.child_id, renewed.not_after, bundle.ca_cert, renewed.client_cert, signingKey, keyPem);
    // Switch only once every request signed with the old key has been received and verified.
    const old = current;
    switching = (async () => {
      if (old.inFlight > 0) await new Promise<void>((resolve) => (old.drained = resolve));
      current = next;
    })();
    await switching;
    switching = null;
  };
  // One renewal at a time: a second one signed with the key the first is replacing would be
  // refused (409 not_current), so it waits and then renews from the new certificate.
  let renewing: Promise<void> = Promise.resolve();
  const renew = (): Promise<void> => {
    const next = renewing.catch(() => {}).then(renewOnce);
    renewing = next;
    return next;
  };

  async function* events(signal?: AbortSignal): AsyncGenerator<EventSourceMessage> {
    const response = await send("/v1/events", signal ? { signal } : {});
    if (response.status !== 200) throw new Error(`GET /v1/events answered ${response.status}`);
    yield* readEvents(response);
  }

  return {
    apiUrl: bundle.api_url,
    get clientId() {
      return current.clientId;
    },
    get childId() {
      return current.childId;
    },
    get notAfter() {
      return current.notAfter;
    },
    api,
    encrypted,
    fetch: (path, init) => send(path, init),
    renew,
    startRenewal(options = {}) {
      const abort = new AbortController();
      const done = (async () => {
        try {
          const renewed = () => {
            const { clientId, childId, notAfter, tls, signer } = current;
            options.onRenewed?.(clientId, { clientId, childId, notAfter, certPem: tls.cert, keyPem: tls.key, signer });
          };
          await renew();
          renewed();
          for await (const event of events(abort.signal)) {
            if (event.event === "rotate") {
              await renew();
              renewed();
            }
            if (event.event === "shutdown") break;
          }
        } catch (error) {
          if (!abort.signal.aborted) options.onError?.(error as Error);
        }
      })();
      return { stop: () => abort.abort(), done };
    },
    events,
  };
}
