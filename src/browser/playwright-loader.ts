/**
 * Loads playwright-core on first use, from the compiled executable's second entrypoint or, from
 * sources, from its module (docs/playwright-split.md). It is large (4 MB of JavaScript), so it is
 * off every other command's start-up path: in the executable it is not even part of the Core's
 * bundle, only of `playwright-core-entry.ts`'s, which `build/compile.ts` embeds beside it
 * (SPEC §1: still one file; nothing is extracted to disk).
 */
import { dirname, join } from "node:path";
import type { PlaywrightCore } from "./playwright-core-entry.ts";

// Replaced by `bun build --define` (build/compile.ts): the entry's path inside the executable,
// relative to the Core's own embedded module. Undeclared when running from sources.
declare const ICECORE_PLAYWRIGHT_ENTRY: string | undefined;

type Entry = typeof import("./playwright-core-entry.ts");

let loading: Promise<PlaywrightCore> | null = null;

/**
 * Where the entry is. Compiled: beside the Core's module in the executable's embedded file system
 * (`Bun.main`, e.g. /$bunfs/root/icecore-linux-x64 or B:\~BUN\root\icecore-windows-x64.exe).
 * From sources: the TypeScript module. Never a string literal in `import()`: the bundler would
 * then pull the module, and playwright-core with it, back into the Core's bundle.
 */
function entrySpecifier(): string {
  if (typeof ICECORE_PLAYWRIGHT_ENTRY === "string") return join(dirname(Bun.main), ICECORE_PLAYWRIGHT_ENTRY);
  return join(import.meta.dir, "playwright-core-entry.ts");
}

/** playwright-core, loaded once, on first use. */
export function loadPlaywright(): Promise<PlaywrightCore> {
  if (loading === null) {
    const specifier = entrySpecifier();
    loading = (import(specifier) as Promise<Entry>).then((entry) => entry.importPlaywrightCore());
  }
  return loading;
}
