/**
 * The console's static files (SPEC §9), embedded as text: `with { type: "text" }` makes Bun
 * inline each file into the compiled executable, and read it from the source tree under
 * `bun src/cli/main.ts`, so the page works offline and needs no build step. `icecore run` passes
 * this map to the Core (lazily: it is imported when the API is first served).
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

import type { ConsoleAsset } from "../api/routes/console.ts";

const JS = "text/javascript; charset=utf-8";

/**
 * File name → file, as the Core's console route looks them up (src/api/routes/console.ts):
 * `GET /` serves `/index.html`, `GET /console/<file>` serves `/<file>`. That route sends them with
 * its CONSOLE_CSP (script, style and connections to the page's own origin only).
 */
export const CONSOLE_ASSETS: ReadonlyMap<string, ConsoleAsset> = new Map([
  ["/index.html", { body: indexHtml as unknown as string, contentType: "text/html; charset=utf-8" }],
  ["/console.css", { body: consoleCss, contentType: "text/css; charset=utf-8" }],
  ["/console.js", { body: consoleJs as string, contentType: JS }],
  ["/api.js", { body: apiJs as string, contentType: JS }],
  ["/element.js", { body: elementJs as string, contentType: JS }],
  ["/form-model.js", { body: formModelJs as string, contentType: JS }],
  ["/form-view.js", { body: formViewJs as string, contentType: JS }],
  ["/time-format.js", { body: timeFormatJs as string, contentType: JS }],
]);
