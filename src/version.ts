import packageJson from "../package.json" with { type: "json" };

export const VERSION: string = packageJson.version;

// Replaced by `bun build --define` (build/compile.ts); undeclared when running from sources.
declare const ICECORE_BUILD_COMMIT: string | undefined;
declare const ICECORE_BUILD_TARGET: string | undefined;

/** The commit and target a compiled executable was built from; null when running from sources. */
export const BUILD: { commit: string | null; target: string | null } = {
  commit: typeof ICECORE_BUILD_COMMIT === "string" ? ICECORE_BUILD_COMMIT : null,
  target: typeof ICECORE_BUILD_TARGET === "string" ? ICECORE_BUILD_TARGET : null,
};
