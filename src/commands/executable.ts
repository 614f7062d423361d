/**
 * SPEC §6: "executable (absolute path resolved once at load)". Resolved means two things here:
 *   - a bare name (built-ins only) is searched in FIXED_PATH, never in the PATH icecore was
 *     started with;
 *   - the result is reduced to its REAL path (every symlink followed) at load, and that real path
 *     is what is checked by the deny rules and what is spawned, ever after. A symlink swapped
 *     after load (`/opt/tools/report -> /usr/bin/true` re-pointed at a shell) changes nothing
 *     (docs/policy-trust-model.md).
 * The path as configured is kept too: the program gets it as argv[0], because some programs choose
 * what they do by the name they were started under (`unxz -> xz`, `view -> vim`).
 */
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { posix } from "node:path";

/** The only directories searched for built-in tools, and the PATH every command runs with. */
export const FIXED_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ResolvedExecutable {
  /** The path as configured, or as found in FIXED_PATH: the program's argv[0]. */
  path: string | null;
  /** Its real path at load: what the deny rules identify and what is executed. */
  realPath: string | null;
  reason: string | null;
}

function realExecutable(path: string): string | null {
  try {
    const real = realpathSync(path);
    if (!statSync(real).isFile()) return null;
    accessSync(real, constants.X_OK);
    return real;
  } catch {
    return null;
  }
}

/** An absolute path is checked as is; a bare name (built-ins only) is searched in `searchPath`. */
export function resolveExecutable(executable: string, searchPath: string = FIXED_PATH): ResolvedExecutable {
  if (executable.startsWith("/")) {
    const real = realExecutable(executable);
    return real ? { path: executable, realPath: real, reason: null } : { path: null, realPath: null, reason: `${executable} is missing or not executable` };
  }
  if (executable.includes("/")) return { path: null, realPath: null, reason: `${executable} is not an absolute path` };
  for (const dir of searchPath.split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = posix.join(dir, executable);
    const real = realExecutable(candidate);
    if (real) return { path: candidate, realPath: real, reason: null };
  }
  return { path: null, realPath: null, reason: `${executable} was not found in ${searchPath}` };
}
