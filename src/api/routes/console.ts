/**
 * SPEC §9 the console: GET / is its page, GET /console/<file> its script and style, all served by
 * the Core from memory (no external source, works offline), under a CSP without 'unsafe-inline'.
 */
import { Hono } from "hono";
import { CHECK_PROBLEMS, problem, documented } from "../route-docs.ts";
import { problemResponse, problems } from "../problem.ts";

export interface ConsoleAsset {
  body: string;
  contentType: string;
}

/** The page may load its own script and style and talk to its own origin; nothing else. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function consoleRoutes({ assets }: { assets: ReadonlyMap<string, ConsoleAsset> }) {
  const serve = (path: string) => {
    const asset = assets.get(path);
    return asset ? new Response(asset.body, { status: 200, headers: { "Content-Type": asset.contentType, "Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-store" } }) : null;
  };
  return new Hono()
    .get(
      "/",
      documented({
        operationId: "console",
        summary: "The console page",
        tags: ["console"],
        responses: { "200": { description: "HTML", content: { "text/html": { schema: { type: "string" } } } }, ...CHECK_PROBLEMS, "404": problem("no console in this build") },
      }, (c) => serve("/index.html") ?? problemResponse(c, problems.notFound())),
    )
    .get(
      "/console/:file",
      documented({
        operationId: "consoleAsset",
        summary: "The console's script and style",
        tags: ["console"],
        responses: { "200": { description: "a script or stylesheet", content: { "text/javascript": { schema: { type: "string" } }, "text/css": { schema: { type: "string" } } } }, "404": problem("no such file"), ...CHECK_PROBLEMS },
      }, (c) => serve(`/${c.req.param("file")}`) ?? problemResponse(c, problems.notFound())),
    );
}
