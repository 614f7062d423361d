/**
 * The two ancestry questions of the handoff (SPEC §4), asked the same way on every OS; the OS
 * files supply how to read a process's parent.
 */
import { ServerNotTrusted, type UserId } from "./platform.ts";

/** Deeper than any real process tree; a loop in what the OS reports cannot spin forever. */
const MAX_ANCESTRY_DEPTH = 128;

/**
 * Walks the parent chain from `pid`: is `ancestorPid` on it (or `pid` itself)? `parentOf` returns
 * null for a process that is gone. `confirm` is asked once the ancestor is reached (macOS checks
 * there that the pid still names the process the kernel identified).
 */
export function isSelfOrDescendant(pid: number, ancestorPid: number, parentOf: (pid: number) => number | null, confirm: () => boolean = () => true): boolean {
  for (let depth = 0; depth < MAX_ANCESTRY_DEPTH; depth++) {
    if (pid === ancestorPid) return confirm();
    if (pid <= 1) return false;
    const parent = parentOf(pid);
    if (parent === null) return false;
    pid = parent;
  }
  return false;
}

/**
 * SPEC §4 mutual check, client side: the endpoint's server runs as this user and is an ancestor
 * of this process. A pid in our own parent chain cannot be a recycled one: a process cannot
 * become an ancestor later. (This process itself passes: a test may read its own endpoint.)
 */
export function trustServer(server: { pid: number; uid: UserId }, me: UserId, name: string, isOurAncestor: boolean): void {
  if (server.uid !== me) throw new ServerNotTrusted(`the server of ${name} runs as uid ${server.uid}, not as this user (${me})`);
  if (!isOurAncestor) throw new ServerNotTrusted(`the server of ${name} (pid ${server.pid}) is not an ancestor of this process`);
}
