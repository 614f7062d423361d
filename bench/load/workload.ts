/**
 * What a load child sends. A workload is an export of some module (usually the measurement that
 * uses it), named on the load child's command line as `<module path>#<export name>`, so a new
 * measurement can bring its own requests (say, signed POSTs) in its own file.
 */

/** What the child knows about the server: bundle v1's fields (the baseline gets the same shape). */
export interface LoadTarget {
  apiUrl: string;
  caCert: string;
  clientCert: string;
  clientKey: string;
  /** The whole bundle as received (icecore) or as given on stdin (baseline), for workloads that need more (client_id, server_key). */
  bundle: Record<string, unknown>;
}

export interface RequestSpec {
  method: string;
  /** Path and query, e.g. "/v1/health". */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export interface ProbeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Workload {
  /** One line for the report, e.g. "GET /v1/health". */
  describe: string;
  /** The status every request must get to count as done. */
  expectStatus: number;
  /** Called once before the run; returns the maker of each request (it may sign, encrypt…). */
  prepare(target: LoadTarget): Promise<() => RequestSpec | Promise<RequestSpec>>;
  /** Checks one full response before the load starts; returns what is wrong, or null. */
  check?(response: ProbeResponse): string | null;
}

/** Resolve `<module path>#<export>` to a Workload (module paths relative to the bench directory). */
export async function loadWorkload(ref: string, benchDir: string): Promise<Workload> {
  const hash = ref.lastIndexOf("#");
  if (hash <= 0) throw new Error(`workload "${ref}" is not <module>#<export>`);
  const path = ref.slice(0, hash);
  const name = ref.slice(hash + 1);
  const module = (await import(path.startsWith("/") ? path : `${benchDir}/${path}`)) as Record<string, unknown>;
  const workload = module[name] as Workload | undefined;
  if (!workload || typeof workload.prepare !== "function") throw new Error(`${path} exports no workload named "${name}"`);
  return workload;
}
