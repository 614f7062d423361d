/**
 * The compiled form of a command (SPEC §6), shared by the catalogue, the loader, the argv builder,
 * the executor and the routes. A `CommandSpec` is immutable after load: the executable path is
 * resolved once, the argv template is pre-split into literals and placeholders, and the args
 * schema is built once from the params and used both to validate requests and to publish the
 * JSON Schema (one source of truth).
 */
import type * as v from "valibot";
import type { ParamDefinition } from "./policy-schema.ts";

/** A validated argument: integers are numbers, arrays are arrays of validated strings. */
export type ArgValue = string | number | boolean | readonly string[];
export type ArgValues = Readonly<Record<string, ArgValue>>;

export type ArgsSchema = v.GenericSchema<unknown, Record<string, ArgValue>>;

export type ArgvPart = { readonly kind: "literal"; readonly value: string } | { readonly kind: "param"; readonly name: string };

export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  readonly source: "builtin" | "policy";
  /** REAL path resolved at load, and what is executed; null for in-process commands (system.info). */
  readonly executable: string | null;
  /** The path as configured: the program's argv[0] (executable.ts says why). */
  readonly argv0: string | null;
  readonly argv: readonly ArgvPart[];
  readonly params: Readonly<Record<string, ParamDefinition>>;
  readonly argsSchema: ArgsSchema;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly long: boolean;
  readonly elevate: boolean;
  readonly envAllow: readonly string[];
  /** False when the tool is missing on this machine: listed, but a call answers 503. */
  readonly available: boolean;
  readonly unavailableReason: string | null;
  /** In-process implementation (no subprocess at all): returns the JSON value printed as stdout. */
  readonly inProcess?: () => unknown;
}

export type Catalogue = ReadonlyMap<string, CommandSpec>;

/** `--elevate-with` (SPEC §2). */
export type ElevateWith = "none" | "sudo" | "pkexec";

/** The answer to a synchronous command (SPEC §5), plus why it stopped when it did not exit by itself. */
export interface RunResult {
  /** null when the process was ended by a signal (see `signal`). */
  exit_code: number | null;
  stdout: string;
  stderr: string;
  duration_ms: number;
  /** True when stdout or stderr went over max_output_bytes; the rest was read and discarded. */
  truncated: boolean;
  /** True when icecore ended the command at its timeout_ms. */
  timed_out: boolean;
  /** The signal that ended the process, e.g. "SIGTERM", else null. */
  signal: string | null;
}
