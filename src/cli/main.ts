#!/usr/bin/env bun
import { CliError, EXIT } from "./exit-codes.ts";
import { HELP, USAGE } from "./usage.ts";

const debug = process.argv.includes("--debug");

/** `icecore <command> --help` (or -h), before the child's own arguments. */
function wantsHelp(rest: string[]): boolean {
  const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  return own.includes("--help") || own.includes("-h");
}

async function dispatch(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && HELP[command] !== undefined && wantsHelp(rest)) {
    process.stdout.write(HELP[command] + "\n");
    return EXIT.OK;
  }
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
    case "-h": {
      const topic = rest[0];
      if (topic !== undefined && HELP[topic] === undefined) throw new CliError(EXIT.USAGE, `help: no command '${topic}' (see 'icecore help')`);
      process.stdout.write((topic ? HELP[topic] : USAGE) + "\n");
      return EXIT.OK;
    }
    case undefined:
      throw new CliError(EXIT.USAGE, "a command is required (see 'icecore help')");
    default:
      throw new CliError(EXIT.USAGE, `unknown command '${command}' (see 'icecore help')`);
  }
}

/** `--log-format json` (or `=json`) among icecore's own arguments: fatal errors are JSON too. */
function jsonLogs(argv: string[]): boolean {
  const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  return own.some((arg, i) => arg === "--log-format=json" || (arg === "--log-format" && own[i + 1] === "json"));
}

/** SPEC §2: every failure is one line saying what went wrong and what to do; a stack only with --debug. */
function fail(error: unknown, json: boolean): number {
  const status = error instanceof CliError ? error.status : EXIT.SOFTWARE;
  const message =
    error instanceof CliError
      ? error.message
      : `internal error: ${error instanceof Error ? error.message.split("\n")[0] : String(error)} (rerun with --debug for details)`;
  if (json) process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), uptime_ms: Number(performance.now().toFixed(3)), event: "fatal", status, error: message }) + "\n");
  else process.stderr.write(`icecore: ${message}\n`);
  if (debug && !(error instanceof CliError) && error instanceof Error && error.stack) process.stderr.write(error.stack + "\n");
  return status;
}

const args = process.argv.slice(2).filter((arg, i, all) => arg !== "--debug" || all.indexOf("--") !== -1 && i > all.indexOf("--"));
// No top-level await: bytecode compilation emits CommonJS (build/compile.ts).
dispatch(args).then(
  (status) => process.exit(status),
  (error: unknown) => process.exit(fail(error, jsonLogs(args))),
);
