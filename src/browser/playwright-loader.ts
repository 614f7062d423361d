/**
 * Loads playwright-core so that it also works inside the compiled executable (SPEC §1: one file,
 * nothing else installed). playwright-core reads two of its own JSON files at run time with a
 * computed `require(join(__dirname, "..", "package.json"))` (and `browsers.json` for its browser
 * registry). `bun build --compile` cannot see a computed path, so it embeds neither, and the
 * executable looks for them under the BUILD machine's node_modules (oven-sh/bun#18749; checked
 * here with node_modules hidden: "Cannot find module …/playwright-core/package.json").
 *
 * Fix: import both files statically (so they are embedded) and answer those two requires from
 * memory, through Node's documented resolver hook (`Module._resolveFilename`, which Bun honours)
 * and a pre-filled module cache entry. Nothing else is touched; from sources the answer is the
 * same file's content. Pinned with playwright-core 1.65.1 (test/browser checks the compiled path).
 */
import Module from "node:module";
import packageJson from "playwright-core/package.json" with { type: "json" };
// Not in the package's `exports`, hence the relative path (the bundler embeds it as JSON).
import browsersJson from "../../node_modules/playwright-core/browsers.json" with { type: "json" };

type PlaywrightCore = typeof import("playwright-core");

interface ModuleInternals {
  _resolveFilename(request: string, ...rest: unknown[]): string;
  _cache: Record<string, unknown>;
  new (id: string): { filename: string; loaded: boolean; exports: unknown };
}

const EMBEDDED: Record<string, unknown> = { "package.json": packageJson, "browsers.json": browsersJson };
const OWN_JSON = /[\\/]playwright-core[\\/](package|browsers)\.json$/;

let loading: Promise<PlaywrightCore> | null = null;

function answerOwnJsonFromMemory(): void {
  const internals = Module as unknown as ModuleInternals;
  const resolve = internals._resolveFilename;
  internals._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    const own = typeof request === "string" ? OWN_JSON.exec(request) : null;
    if (own === null) return resolve.call(this, request, ...rest);
    if (internals._cache[request] === undefined) {
      const module = new internals(request);
      module.filename = request;
      module.exports = EMBEDDED[`${own[1]}.json`];
      module.loaded = true;
      internals._cache[request] = module;
    }
    return request;
  };
}

/** playwright-core, loaded once, on first use (it is large: off every other command's start-up path). */
export function loadPlaywright(): Promise<PlaywrightCore> {
  if (loading === null) {
    answerOwnJsonFromMemory();
    loading = import("playwright-core");
  }
  return loading;
}
