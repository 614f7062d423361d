/**
 * docs/playwright-split.md: in the compiled executable playwright-core is a second embedded
 * module (src/browser/playwright-core-entry.ts), not part of the Core's module, which every start
 * of every command maps. Read from the executable itself: `bun build --compile` stores each
 * bundled module's source as a NUL-terminated text that starts with Bun's CommonJS header (the
 * bytecode beside it is not searched). That `connect --browser` still loads it from there, with
 * no node_modules on the machine: browser-connect.test.ts ("the compiled executable carries what
 * it needs"); from sources: console-browser.test.ts and browser.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BINARY } from "../support/paths.ts";

/** Every bundled module's source embedded in `executable`. */
function embeddedModules(executable: string): string[] {
  const bytes = readFileSync(executable);
  const header = /^\/\/ @bun(?: @bytecode)? @bun-cjs\n\(function\(exports, require, module, __filename, __dirname\) \{/;
  const modules: string[] = [];
  for (let at = bytes.indexOf("// @bun"); at !== -1; at = bytes.indexOf("// @bun", at + 1)) {
    const end = bytes.indexOf(0, at);
    const text = bytes.toString("latin1", at, end === -1 ? bytes.length : end);
    if (header.test(text)) modules.push(text);
  }
  return modules;
}

// From src/cli/main.ts: only the Core's module has it.
const CORE_MARKER = "a command is required (see 'icecore help')";
// Strings of playwright-core's own code (src/browser names one of them, in a comment only, which
// the minifier drops).
const PLAYWRIGHT_MARKERS = ["PLAYWRIGHT_BROWSERS_PATH", "socksClientCertificatesInterceptor", "chromium-headless-shell"];

describe("the compiled executable keeps playwright-core out of the Core's module", () => {
  const modules = embeddedModules(BINARY);
  const core = modules.filter((source) => source.includes(CORE_MARKER));

  test("exactly one embedded module is the Core's, and it holds none of playwright-core's code", () => {
    expect(core).toHaveLength(1);
    expect(PLAYWRIGHT_MARKERS.filter((marker) => core[0]!.includes(marker))).toEqual([]);
    // The loader finds the second module by the path build/compile.ts gave it.
    expect(core[0]).toContain("browser/playwright-core-entry.js");
  });

  test("control: playwright-core is still in the same executable, as its own module", () => {
    const playwright = modules.filter((source) => !source.includes(CORE_MARKER) && PLAYWRIGHT_MARKERS.every((marker) => source.includes(marker)));
    expect(playwright).toHaveLength(1);
    // The bulk moved: playwright-core's module is several times the Core's.
    expect(playwright[0]!.length).toBeGreaterThan(3 * core[0]!.length);
  });
});
