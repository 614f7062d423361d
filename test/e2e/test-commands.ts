/**
 * Policy commands the e2e tests give icecore (all run fixtures under test/fixtures/commands), and
 * the policy file that carries them, readable by the unprivileged user icecore runs as.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";

/** `test.record`: writes its args to <markers>/<name>; a refused request leaves no file (signature tests). */
export function recordCommand(markers: string) {
  return {
    description: "records its argv to a file (test fixture)",
    executable: BUN,
    argv: [join(FIXTURES, "commands/record-argv.ts"), "{outfile}", "{value}"],
    params: { outfile: { type: "path", roots: [markers] }, value: { type: "string", pattern: "[a-z_]+", maxLength: 32 } },
    timeout_ms: 10000,
  };
}

/** A silent command that ends only when `file` exists (or after 120 s). */
export function waitForFileCommand(file: string, long: boolean) {
  return {
    description: "stays silent until a file exists (test fixture)",
    executable: BUN,
    argv: [join(FIXTURES, "commands/wait-for-file.ts"), file, "120000"],
    long,
    timeout_ms: 120_000,
  };
}

/** Issue 12 item 9: prints a line, stays silent this long, prints another. */
export const SILENCE_S = 20;

export const silentCommand = {
  description: "prints a line, stays silent, prints another (test fixture)",
  executable: BUN,
  argv: [join(FIXTURES, "commands/silent.ts"), String(SILENCE_S)],
  long: true,
  timeout_ms: 120_000,
};

/** <dir>/policy.json extending the built-ins with `commands`; world-readable (the run's user reads it). */
export function writePolicy(dir: string, commands: Record<string, unknown>): string {
  const policy = join(dir, "policy.json");
  writeFileSync(policy, JSON.stringify({ mode: "extend", commands }));
  chmodSync(policy, 0o644);
  return policy;
}
