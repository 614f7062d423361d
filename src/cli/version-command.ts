import { dirname } from "node:path";
import { CliError, EXIT } from "./exit-codes.ts";
import { BUILD, VERSION } from "../version.ts";

/**
 * SPEC §10: `icecore version --json` names version, commit, target and Bun version. A compiled
 * executable carries its commit and target from the build; from sources the commit is asked of
 * git (the working tree may differ from it) and the target is "source".
 */
export function versionCommand(argv: string[]): number {
  if (argv.length === 0) {
    process.stdout.write(`icecore ${VERSION} (bun ${Bun.version}, ${process.platform}-${process.arch})\n`);
    return EXIT.OK;
  }
  if (argv.length > 1 || argv[0] !== "--json") throw new CliError(EXIT.USAGE, `version: unexpected '${argv.find((a) => a !== "--json") ?? argv[1]}' (usage: icecore version [--json])`);
  const info = { version: VERSION, commit: BUILD.commit ?? sourceCommit(), target: BUILD.target ?? "source", bun: Bun.version };
  process.stdout.write(JSON.stringify(info) + "\n");
  return EXIT.OK;
}

function sourceCommit(): string {
  try {
    const head = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: dirname(Bun.main), stdout: "pipe", stderr: "ignore" });
    return head.exitCode === 0 ? head.stdout.toString().trim() : "unknown";
  } catch {
    return "unknown";
  }
}
