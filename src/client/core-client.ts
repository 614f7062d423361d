/**
 * The child's view of the Core API (SPEC §5): verifies the server against the bundle's CA only,
 * presents the client certificate, signs every POST and DELETE (RFC 9421), and can encrypt a
 * body to the bundle's `server_key` (compact JWE, ECDH-ES + A256GCM).
 */
import type { Bundle } from "../handoff/bundle.ts";
import { createRequestSigner, importClientKey, prepareSignedRequest, type RequestSigner } from "./request-signer.ts";
import { createBodyEncryptor } from "./body-encryption.ts";

export interface CoreResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface SendOptions {
  /** Send the body as application/jose, encrypted to the server's key. */
  encrypt?: boolean;
}

export interface CoreClient {
  readonly apiUrl: string;
  readonly clientId: string;
  get<T = unknown>(path: string): Promise<CoreResponse<T>>;
  post<T = unknown>(path: string, body: unknown, options?: SendOptions): Promise<CoreResponse<T>>;
  delete<T = unknown>(path: string): Promise<CoreResponse<T>>;
  /** The raw fetch with mTLS (for streams such as SSE); GETs only, unsigned. */
  stream(path: string, init?: RequestInit): Promise<Response>;
}

const encoder = new TextEncoder();

export async function createCoreClient(bundle: Bundle): Promise<CoreClient> {
  const tls = { ca: bundle.ca_cert, cert: bundle.client_cert, key: bundle.client_key, rejectUnauthorized: true };
  const signer: RequestSigner = createRequestSigner({ key: await importClientKey(bundle.client_key), clientId: bundle.client_id });
  const encryptor = await createBodyEncryptor(bundle.server_key);
  const urlOf = (path: string) => new URL(path, bundle.api_url);

  const readResponse = async <T>(response: Response): Promise<CoreResponse<T>> => {
    const type = response.headers.get("content-type") ?? "";
    const body = (type.includes("json") ? await response.json() : await response.text()) as T;
    return { status: response.status, headers: response.headers, body };
  };

  const signed = async <T>(method: "POST" | "DELETE", path: string, body?: unknown, options: SendOptions = {}): Promise<CoreResponse<T>> => {
    const url = urlOf(path);
    let payload: { bytes: Uint8Array; contentType: string } | undefined;
    if (body !== undefined) {
      payload = options.encrypt ? await encryptor.encrypt(body) : { bytes: encoder.encode(JSON.stringify(body)), contentType: "application/json" };
    }
    const prepared = await prepareSignedRequest(signer, { method, url, ...(payload ? { body: payload } : {}) });
    const response = await fetch(url, { method, headers: prepared.headers, body: prepared.body, tls } as RequestInit);
    return readResponse<T>(response);
  };

  return {
    apiUrl: bundle.api_url,
    clientId: bundle.client_id,
    get: async (path) => readResponse(await fetch(urlOf(path), { tls } as RequestInit)),
    post: (path, body, options) => signed("POST", path, body, options),
    delete: (path) => signed("DELETE", path),
    stream: (path, init = {}) => fetch(urlOf(path), { ...init, tls } as RequestInit),
  };
}
