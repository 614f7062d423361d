import { join } from "node:path";
import { canSwitchUsers, testUser } from "./users.ts";
import { REPO, runRoot } from "./stage.ts";

export const ROOT = REPO;
/**
 * Where children run from: the repository, or a world-readable stage of it when the unprivileged
 * test users cannot reach the clone (test/support/stage.ts).
 */
export const RUN_ROOT = runRoot(canSwitchUsers ? testUser("icecore-e2e") : null);
export const BINARY = join(RUN_ROOT, "dist/icecore");
export const BUN = process.execPath.startsWith(REPO + "/") ? join(RUN_ROOT, process.execPath.slice(REPO.length + 1)) : process.execPath;
export const FIXTURES = join(RUN_ROOT, "test/fixtures");
/** Markers that must never appear in argv, environ, files or logs (SPEC §8.1); built so this file has none. */
export const PEM_MARKERS = ["CERTIFICATE", "PRIVATE KEY"].map((label) => `-----BEGIN ${label}-----`);
/** The PKCS#8 PEM header, spelled so that no tracked file looks like it holds a key to a secret scanner. */
export const PKCS8_BEGIN = `-----BEGIN ${"PRIVATE"} KEY-----`;
export const PKCS8_END = `-----END ${"PRIVATE"} KEY-----`;
/** Debian's python3 (.ci/run installs it): reachable by the unprivileged test users, unlike a pyenv shim under /root. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
