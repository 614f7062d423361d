/**
 * The reference child's view of the Core API: pins the bundle's CA for the server (and only it),
 * presents the client certificate. SPEC §5.
 */
import type { Bundle } from "../handoff/bundle.ts";

export interface CoreResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CoreClient {
  readonly apiUrl: string;
  readonly clientId: string;
  get<T = unknown>(path: string): Promise<CoreResponse<T>>;
}

export function createCoreClient(bundle: Bundle): CoreClient {
  const tls = { ca: bundle.ca_cert, cert: bundle.client_cert, key: bundle.client_key, rejectUnauthorized: true };
  const request = async <T>(method: string, path: string, init: RequestInit = {}): Promise<CoreResponse<T>> => {
    const response = await fetch(new URL(path, bundle.api_url), { ...init, method, tls } as RequestInit);
    const type = response.headers.get("content-type") ?? "";
    const body = (type.includes("json") ? await response.json() : await response.text()) as T;
    return { status: response.status, headers: response.headers, body };
  };
  return {
    apiUrl: bundle.api_url,
    clientId: bundle.client_id,
    get: (path) => request("GET", path),
  };
}
