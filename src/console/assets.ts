/**
 * The console's static files (SPEC §9), embedded as text: `with { type: "text" }` makes Bun
 * inline each file into the compiled executable, and read it from the source tree under
 * `bun src/cli/main.ts`, so the page works offline and needs no build step. The lead's routes
 * serve `/` → index.html and `/console/<file>` → the rest, with CONSOLE_CSP.
 *
 * TypeScript types a `.js` import as the module it is; with Bun's text attribute it is the file's
 * source, hence the @ts-expect-error on each script (a wrong import path still fails at build).
 */
import indexHtml from "./index.html" with { type: "text" };
import consoleCss from "./console.css" with { type: "text" };
// @ts-expect-error -- Bun's `type: "text"` import gives the source text, not the module
import consoleJs from "./console.js" with { type: "text" };
// @ts-expect-error -- as above
import apiJs from "./api.js" with { type: "text" };
// @ts-expect-error -- as above
import elementJs from "./element.js" with { type: "text" };
// @ts-expect-error -- as above
import formModelJs from "./form-model.js" with { type: "text" };
// @ts-expect-error -- as above
import formViewJs from "./form-view.js" with { type: "text" };
// @ts-expect-error -- as above
import timeFormatJs from "./time-format.js" with { type: "text" };

export interface ConsoleAsset {
  body: string;
  contentType: string;
}

const JS = "text/javascript; charset=utf-8";

/** What the console page may load: its own script, style and connections; nothing else. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** URL path → file. `/` is the page; everything it loads is under `/console/`. */
export const CONSOLE_ASSETS: ReadonlyMap<string, ConsoleAsset> = new Map([
  ["/", { body: indexHtml as unknown as string, contentType: "text/html; charset=utf-8" }],
  ["/console/console.css", { body: consoleCss, contentType: "text/css; charset=utf-8" }],
  ["/console/console.js", { body: consoleJs as string, contentType: JS }],
  ["/console/api.js", { body: apiJs as string, contentType: JS }],
  ["/console/element.js", { body: elementJs as string, contentType: JS }],
  ["/console/form-model.js", { body: formModelJs as string, contentType: JS }],
  ["/console/form-view.js", { body: formViewJs as string, contentType: JS }],
  ["/console/time-format.js", { body: timeFormatJs as string, contentType: JS }],
]);
