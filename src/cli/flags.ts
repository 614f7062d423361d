import arg from "arg";
import * as v from "valibot";
import { CliError, EXIT } from "./exit-codes.ts";

/** A command's long options: each takes a string (once, or `multiple` times) or is a boolean switch. */
export type FlagOptions = Readonly<Record<string, { readonly type: "string" | "boolean"; readonly multiple?: boolean }>>;

type RawValue = string | boolean | string[];

/** Split `[options] -- <child...>`: everything after the first bare `--` belongs to the child. */
export function splitChildCommand(argv: readonly string[]): { own: string[]; child: string[] | null } {
  const at = argv.indexOf("--");
  return at === -1 ? { own: [...argv], child: null } : { own: argv.slice(0, at), child: argv.slice(at + 1) };
}

/** arg's errors, in the words icecore's CLI has always used (node:util parseArgs's, README). */
function usageMessage(error: unknown): string {
  if (!(error instanceof arg.ArgError)) return (error as Error).message.split("\n")[0]!;
  const option = error.message.slice(error.message.lastIndexOf(" ") + 1);
  if (error.code === "ARG_UNKNOWN_OPTION") return `Unknown option '${option}'`;
  if (error.code === "ARG_MISSING_REQUIRED_LONGARG") return `Option '${option}' needs a value (write ${option}=<value> for one starting with '-')`;
  return error.message;
}

/**
 * The shape of a command line (unknown options, missing values, stray arguments), parsed with
 * `arg`: the values as given, the positionals, and the options in the order given (for flags
 * whose meaning depends on their neighbour: connect's --args). node:util's parseArgs did this
 * before; loading node:util cost ≈ 0.9 ms of every start (docs/performance.md).
 */
export function parseFlagShape(
  command: string,
  argv: readonly string[],
  options: FlagOptions,
  allowPositionals = false,
): { values: Record<string, RawValue>; positionals: string[]; order: { name: string; value: string | undefined }[] } {
  const order: { name: string; value: string | undefined }[] = [];
  const spec: arg.Spec = {};
  for (const [name, option] of Object.entries(options)) {
    if (option.type === "boolean") {
      spec[`--${name}`] = arg.flag(() => (order.push({ name, value: undefined }), true));
      continue;
    }
    const take = (value: string) => (order.push({ name, value }), value);
    spec[`--${name}`] = option.multiple ? [take] : take;
  }
  const usage = (message: string) => new CliError(EXIT.USAGE, `${command}: ${message} (see 'icecore help')`);
  for (const word of argv) {
    // arg ignores a value given to a switch (--debug=no); refuse it, as a typo would otherwise pass.
    const [name, value] = word.startsWith("--") ? word.slice(2).split(/=(.*)/s, 2) : [];
    if (value !== undefined && options[name!]?.type === "boolean") throw usage(`Option '--${name}' does not take an argument`);
  }
  let parsed: arg.Result<arg.Spec>;
  try {
    parsed = arg(spec, { argv: [...argv], permissive: false });
  } catch (error) {
    throw usage(usageMessage(error));
  }
  const { _: positionals, ...given } = parsed;
  if (!allowPositionals && positionals.length > 0) throw usage(`Unexpected argument '${positionals[0]}'`);
  const values: Record<string, RawValue> = {};
  for (const [key, value] of Object.entries(given)) if (value !== undefined) values[key.slice(2)] = value as RawValue;
  return { values, positionals, order };
}

/** The command line's shape (parseFlagShape), then valibot for meaning. */
export function parseFlags<TSchema extends v.GenericSchema>(
  command: string,
  argv: string[],
  options: FlagOptions,
  schema: TSchema,
  allowPositionals = false,
): { values: v.InferOutput<TSchema>; positionals: string[]; order: { name: string; value: string | undefined }[] } {
  const { values, positionals, order } = parseFlagShape(command, argv, options, allowPositionals);
  const result = v.safeParse(schema, values);
  if (!result.success) {
    const issue = result.issues[0]!;
    const flag = v.getDotPath(issue);
    const message = issue.input === undefined ? "is required" : issue.message;
    throw new CliError(EXIT.USAGE, `${command}: ${flag ? `--${flag}: ` : ""}${message}`);
  }
  return { values: result.output, positionals, order };
}
