import { ProblemError } from "../problem.ts";

/** The Host values the API answers to (SPEC §5): loopback names with the API's own port. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `[::1]:${port}`, `localhost:${port}`]);
}

/**
 * SPEC §5: any other Host is a DNS-rebinding attempt or a misdirected request → 421. Bun builds
 * request.url from Host even for an absolute-form request line, so Host is the one authority to
 * check (checked 2026-11-23, Bun 1.4.5). Null when `host` is one of `allowed`.
 */
export function hostRefusal(host: string | undefined, allowed: ReadonlySet<string>): ProblemError | null {
  if (host !== undefined && allowed.has(host.toLowerCase())) return null;
  return new ProblemError(421, "misdirected_request", "Misdirected Request", "the Host header does not name this API");
}
