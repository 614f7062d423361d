/** A policy for the console tests (extends the built-ins), shared by the page tests, the e2e tests and the screenshot. */
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";

/** Every parameter kind the form knows, and a long command whose second line waits for the test. */
export function demoPolicy(gate: string) {
  return {
    mode: "extend",
    commands: {
      "demo.form": {
        description: "Prints its arguments (every parameter type)",
        executable: "/usr/bin/printf",
        argv: ["%s\\n", "{mode}", "{count}", "{verbose}", "{names}", "{label}"],
        params: {
          mode: { type: "string", enum: ["fast", "thorough"], description: "How hard to try" },
          count: { type: "integer", min: 1, max: 10, description: "Repetitions" },
          verbose: { type: "boolean", description: "Say more" },
          names: { type: "array", items: { type: "string", pattern: "[a-z][a-z0-9-]*", maxLength: 16 }, maxItems: 3, description: "Package-like names" },
          label: { type: "string", pattern: "[a-z]+", maxLength: 12 },
        },
      },
      "demo.gated": {
        description: "Prints a line, waits for the test's gate, prints another (long-running job)",
        executable: BUN,
        argv: [join(FIXTURES, "commands/gated-lines.ts"), gate],
        params: {},
        long: true,
        timeout_ms: 60_000,
      },
    },
  };
}
