/**
 * SPEC §9: the browser child drives the system's Chromium (Debian's `chromium`), found on PATH or
 * named with `--chromium`; never a browser downloaded by Playwright.
 */
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute } from "node:path";

/** Names tried on PATH, in order: Debian's package installs `chromium`; others ship the second. */
export const CHROMIUM_NAMES = ["chromium", "chromium-browser"] as const;

/** sysexits EX_UNAVAILABLE: "a support program ... does not exist". */
export const CHROMIUM_MISSING_STATUS = 69;

export class ChromiumNotFound extends Error {
  readonly status = CHROMIUM_MISSING_STATUS;
  constructor(message: string) {
    super(message);
    this.name = "ChromiumNotFound";
  }
}

const INSTALL_HINT = "install it (Debian/Ubuntu: sudo apt-get install chromium) or pass --chromium <path>";

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of the Chromium to drive, or a ChromiumNotFound whose message is one line saying what to do. */
export function findChromium(explicit?: string, path = process.env.PATH ?? ""): string {
  if (explicit !== undefined) {
    if (!isAbsolute(explicit)) throw new ChromiumNotFound(`--chromium must be an absolute path, got ${JSON.stringify(explicit)}`);
    if (!isExecutableFile(explicit)) throw new ChromiumNotFound(`--chromium ${explicit} is not an executable file; ${INSTALL_HINT}`);
    return explicit;
  }
  for (const name of CHROMIUM_NAMES) {
    const found = Bun.which(name, { PATH: path });
    if (found !== null && isExecutableFile(found)) return found;
  }
  throw new ChromiumNotFound(`Chromium was not found on PATH (looked for ${CHROMIUM_NAMES.join(", ")}); ${INSTALL_HINT}`);
}
