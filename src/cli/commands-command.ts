import * as v from "valibot";
import { parseFlags } from "./flags.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadCatalogue } from "./policy-source.ts";
import { describeCommands, PolicyError, loadPolicy } from "../commands/index.ts";

/** `icecore commands [--policy <file>]`: the allowed commands and their args schemas, as JSON. */
export async function commandsCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("commands", argv, { policy: { type: "string" } }, v.object({ policy: v.optional(v.string()) }));
  process.stdout.write(JSON.stringify(describeCommands(loadCatalogue("commands", values.policy)), null, 2) + "\n");
  return EXIT.OK;
}

/** `icecore policy check <file>`: exit 0, or 78 with one line per violation (SPEC §2). */
export async function policyCommand(argv: string[]): Promise<number> {
  const [sub, file, ...rest] = argv;
  if (sub !== "check" || file === undefined || rest.length > 0) throw new CliError(EXIT.USAGE, "policy: usage: icecore policy check <file>");
  try {
    const catalogue = loadPolicy(file);
    process.stdout.write(`policy ${file}: ok (${catalogue.size} commands)\n`);
    return EXIT.OK;
  } catch (error) {
    if (error instanceof PolicyError) {
      for (const line of error.lines()) process.stderr.write(`icecore: policy ${file}: ${line}\n`);
      return EXIT.CONFIG;
    }
    throw new CliError(EXIT.CONFIG, `policy: cannot load ${file}: ${(error as Error).message.split("\n")[0]}`);
  }
}
