/** SPEC §10: `icecore version --json` names version, commit, target and Bun version. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { BINARY, BUN, ROOT } from "../support/paths.ts";

function json(argv: string[]) {
  const result = Bun.spawnSync(argv, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(result.stderr.toString()).toBe("");
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout.toString());
}

const head = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
const commit = head.exitCode === 0 ? head.stdout.toString().trim() : "unknown";

describe("icecore version --json", () => {
  test("the compiled executable carries the commit and the target it was built for", () => {
    const info = json([BINARY, "version", "--json"]);
    expect(Object.keys(info)).toEqual(["version", "commit", "target", "bun"]);
    expect(info).toMatchObject({ version: packageJson.version, target: `${process.platform}-${process.arch}`, bun: Bun.version });
    // Built from this checkout; "-dirty" when tracked files differed from the commit at build time.
    expect(info.commit).toMatch(commit === "unknown" ? /^unknown$/ : new RegExp(`^${commit}(-dirty)?$`));
  });

  test("from the sources: the commit from git, the target 'source'", () => {
    expect(json([BUN, join(ROOT, "src/cli/main.ts"), "version", "--json"])).toEqual({ version: packageJson.version, commit, target: "source", bun: Bun.version });
  });

  test("anything but --json is a usage error (64)", () => {
    const result = Bun.spawnSync([BINARY, "version", "--yaml"], { stdout: "pipe", stderr: "pipe" });
    expect(result.exitCode).toBe(64);
    expect(result.stderr.toString()).toBe("icecore: version: unexpected '--yaml' (usage: icecore version [--json])\n");
  });
});
