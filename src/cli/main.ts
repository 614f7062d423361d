#!/usr/bin/env bun
// First, before anything can load @peculiar/x509: tsyringe needs the Reflect polyfill at import
// time, and the bytecode (CommonJS) bundle does not keep src/pki/x509.ts's import order.
import "reflect-metadata";
import { CliError, EXIT } from "./exit-codes.ts";
import { USAGE } from "./usage.ts";

const debug = process.argv.includes("--debug");

async function dispatch(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return (await import("./run-command.ts")).runCommand(rest);
    case "connect":
      return (await import("./connect-command.ts")).connectCommand(rest);
    case "commands":
      return (await import("./commands-command.ts")).commandsCommand(rest);
    case "policy":
      return (await import("./commands-command.ts")).policyCommand(rest);
    case "service":
      return (await import("./service-command.ts")).serviceCommand(rest);
    case "version":
    case "--version":
      return (await import("./version-command.ts")).versionCommand(rest);
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + "\n");
      return EXIT.OK;
    case undefined:
      throw new CliError(EXIT.USAGE, "a command is required (see 'icecore help')");
    default:
      throw new CliError(EXIT.USAGE, `unknown command '${command}' (see 'icecore help')`);
  }
}

/** SPEC §2: every failure is one line saying what went wrong and what to do; a stack only with --debug. */
function fail(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`icecore: ${error.message}\n`);
    return error.status;
  }
  const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
  process.stderr.write(`icecore: internal error: ${message} (rerun with --debug for details)\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(error.stack + "\n");
  return EXIT.SOFTWARE;
}

const args = process.argv.slice(2).filter((arg, i, all) => arg !== "--debug" || all.indexOf("--") !== -1 && i > all.indexOf("--"));
// No top-level await: bytecode compilation emits CommonJS (build/compile.ts).
dispatch(args).then(
  (status) => process.exit(status),
  (error: unknown) => process.exit(fail(error)),
);
