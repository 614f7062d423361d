/**
 * playwright-core and what it needs to load inside the compiled executable: the one module of
 * the browser side that `build/compile.ts` compiles as a SECOND entrypoint of the same executable
 * (docs/playwright-split.md). The Core's own bundle, which every start maps, so holds none of
 * playwright-core's 4 MB; `playwright-loader.ts` imports this module by its embedded path on the
 * first browser start. From sources it is imported like any other module.
 *
 * playwright-core reads two of its own JSON files at run time with a computed
 * `require(join(__dirname, "..", "package.json"))` (and `browsers.json` for its browser registry).
 * `bun build --compile` cannot see a computed path, so it embeds neither, and the executable
 * looks for them under the BUILD machine's node_modules (oven-sh/bun#18749; checked here with
 * node_modules hidden: "Cannot find module …/playwright-core/package.json").
 *
 * Fix: import both files statically (so they are embedded, in this entrypoint's bundle) and
 * answer those two requires from memory, through Node's documented resolver hook
 * (`Module._resolveFilename`, which Bun honours) and a pre-filled module cache entry. Nothing
 * else is touched; from sources the answer is the same file's content. Pinned with
 * playwright-core 1.65.1 (test/browser checks the compiled path).
 */
import Module from "node:module";
import packageJson from "playwright-core/package.json" with { type: "json" };
// Not in the package's `exports`, hence the relative path (the bundler embeds it as JSON).
import browsersJson from "../../node_modules/playwright-core/browsers.json" with { type: "json" };

export type PlaywrightCore = typeof import("playwright-core");

interface ModuleInternals {
  _resolveFilename(request: string, ...rest: unknown[]): string;
  _cache: Record<string, unknown>;
  new (id: string): { filename: string; loaded: boolean; exports: unknown };
}

const EMBEDDED: Record<string, unknown> = { "package.json": packageJson, "browsers.json": browsersJson };
const OWN_JSON = /[\\/]playwright-core[\\/](package|browsers)\.json$/;

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

/** Installs the JSON answers, then evaluates playwright-core (call once: playwright-loader.ts). */
export function importPlaywrightCore(): Promise<PlaywrightCore> {
  answerOwnJsonFromMemory();
  return import("playwright-core");
}
