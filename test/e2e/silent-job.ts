/** The silent job of issue 12 item 9, shared by attack-silent-job.test.ts and its control. */
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";

export const SILENCE_S = 20;

export const silentCommand = {
  description: "prints a line, stays silent, prints another (test fixture)",
  executable: BUN,
  argv: [join(FIXTURES, "commands/silent.ts"), String(SILENCE_S)],
  long: true,
  timeout_ms: 120_000,
};
