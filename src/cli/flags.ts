import { parseArgs, type ParseArgsConfig } from "node:util";
import * as v from "valibot";
import { CliError, EXIT } from "./exit-codes.ts";

/** Split `[options] -- <child...>`: everything after the first bare `--` belongs to the child. */
export function splitChildCommand(argv: readonly string[]): { own: string[]; child: string[] | null } {
  const at = argv.indexOf("--");
  return at === -1 ? { own: [...argv], child: null } : { own: argv.slice(0, at), child: argv.slice(at + 1) };
}

/** node:util parseArgs for shape (unknown flags, missing values), then valibot for meaning. */
export function parseFlags<TSchema extends v.GenericSchema>(
  command: string,
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  schema: TSchema,
  allowPositionals = false,
): { values: v.InferOutput<TSchema>; positionals: string[]; order: { name: string; value: string | undefined }[] } {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; strict: true; allowPositionals: boolean; tokens: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals, tokens: true });
  } catch (error) {
    throw new CliError(EXIT.USAGE, `${command}: ${(error as Error).message.split("\n")[0]} (see 'icecore help')`);
  }
  const result = v.safeParse(schema, parsed.values);
  if (!result.success) {
    const issue = result.issues[0]!;
    const flag = v.getDotPath(issue);
    const message = issue.input === undefined ? "is required" : issue.message;
    throw new CliError(EXIT.USAGE, `${command}: ${flag ? `--${flag}: ` : ""}${message}`);
  }
  // The options in the order given, for flags whose meaning depends on their neighbour (connect's --args).
  const order = parsed.tokens.flatMap((token) => (token.kind === "option" ? [{ name: token.name, value: token.value }] : []));
  return { values: result.output, positionals: parsed.positionals, order };
}
