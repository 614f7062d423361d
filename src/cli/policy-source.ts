import { loadPolicy, PolicyError } from "../commands/index.ts";
import type { Catalogue } from "../commands/types.ts";
import { CliError, EXIT } from "./exit-codes.ts";

/**
 * The catalogue for a command line: built-ins, or a policy file that extends or replaces them.
 * A refused policy is exit 78 naming every rule it broke, on one line (SPEC §2, §6).
 */
export function loadCatalogue(command: string, policyFile: string | undefined): Catalogue {
  try {
    return loadPolicy(policyFile);
  } catch (error) {
    if (error instanceof PolicyError) {
      throw new CliError(EXIT.CONFIG, `${command}: policy ${policyFile} refused: ${error.lines().join("; ")}`);
    }
    throw new CliError(EXIT.CONFIG, `${command}: cannot load policy ${policyFile}: ${(error as Error).message.split("\n")[0]}`);
  }
}
