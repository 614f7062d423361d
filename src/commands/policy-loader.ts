/**
 * SPEC §6: `--policy <file>` replaces or extends the built-in catalogue. Loading is all or
 * nothing: a policy with any violation is refused whole (the CLI prints every violation and exits
 * 78), because running with "the parts that passed" would run a catalogue nobody wrote.
 *
 * Also `describeCommands`, the JSON behind `icecore commands` and `GET /v1/commands`: its args
 * JSON Schema is generated from the SAME valibot schema that validates requests (SPEC §1), so the
 * published contract cannot drift from the enforced one.
 */
import { readFileSync, statSync } from "node:fs";
import { toJsonSchema, type JsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { documentedCheck, issuePointer } from "./argv-builder.ts";
import { builtinCatalogue, compileCommand, sortedCommands } from "./catalogue.ts";
import { FIXED_PATH, resolveExecutable } from "./executable.ts";
import { checkCommand, type Violation } from "./deny-rules.ts";
import { PolicySchema } from "./policy-schema.ts";
import type { Catalogue, CommandSpec } from "./types.ts";

export type { Violation } from "./deny-rules.ts";

/** A refused policy. `violations` holds every problem found; exit status 78 (EX_CONFIG). */
export class PolicyError extends Error {
  readonly exitCode = 78;
  constructor(
    readonly file: string,
    readonly violations: Violation[],
  ) {
    super(`policy ${file} refused: ${violations.length} violation(s); first: ${violations[0] ? formatViolation(violations[0]) : "none"}`);
    this.name = "PolicyError";
  }

  /** One line per violation, for `icecore policy check` and `run --policy`. */
  lines(): string[] {
    return this.violations.map(formatViolation);
  }
}

export function formatViolation(x: Violation): string {
  return `${x.rule}: ${x.command}${x.path ? ` (${x.path})` : ""}: ${x.message}`;
}

/** A policy larger than this is a mistake (a log file passed as --policy), not a catalogue. */
const MAX_POLICY_BYTES = 1024 * 1024;

export interface LoadOptions {
  platform?: NodeJS.Platform;
  searchPath?: string;
}


function readPolicy(file: string): unknown {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new PolicyError(file, [{ rule: "policy_unreadable", command: "(policy)", message: `${file} is not a regular file` }]);
    if (st.size > MAX_POLICY_BYTES) throw new PolicyError(file, [{ rule: "policy_unreadable", command: "(policy)", message: `${file} is larger than ${MAX_POLICY_BYTES} bytes` }]);
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof PolicyError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new PolicyError(file, [{ rule: "policy_unreadable", command: "(policy)", message: `cannot read ${file} (${code})` }]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PolicyError(file, [{ rule: "policy_json", command: "(policy)", message: `${file} is not valid JSON: ${(err as Error).message}` }]);
  }
}

/**
 * valibot's default messages ("Invalid key: Expected never but received \"bogus\"") said in
 * words a policy author reads; the schema's own messages are kept as they are.
 */
export function policyIssueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.expected === "never") return "is not a known field here (a typo?)";
  if (issue.received === "undefined") return "is required";
  if (issue.message.startsWith("Invalid type:")) return `must be of type ${issue.expected}, not ${issue.received}`;
  return issue.message;
}

/** Validate an already-parsed policy value; returns the catalogue or throws PolicyError. */
export function compilePolicy(value: unknown, file = "(policy)", opts: LoadOptions = {}): Catalogue {
  const parsed = v.safeParse(PolicySchema, value);
  if (!parsed.success) {
    throw new PolicyError(
      file,
      parsed.issues.map((issue) => {
        const path = issuePointer(issue);
        const m = /^\/commands\/([^/]+)/.exec(path);
        return { rule: "policy_schema", command: m ? m[1]!.replaceAll("~1", "/").replaceAll("~0", "~") : "(policy)", message: policyIssueMessage(issue), path: path || "/" };
      }),
    );
  }
  const policy = parsed.output;
  const searchPath = opts.searchPath ?? FIXED_PATH;
  // Each executable is resolved to its real path ONCE: the rules judge that file and the catalogue
  // spawns that file, so nothing can change between the check and the run (docs/policy-trust-model.md).
  const resolved = new Map(Object.entries(policy.commands).map(([name, def]) => [name, resolveExecutable(def.executable, searchPath)]));
  const violations: Violation[] = [];
  for (const [name, def] of Object.entries(policy.commands)) violations.push(...checkCommand(name, def, undefined, resolved.get(name)));
  if (violations.length) throw new PolicyError(file, violations);

  const catalogue = policy.mode === "extend" ? builtinCatalogue(opts) : new Map<string, CommandSpec>();
  // In "extend" mode a policy entry with a built-in's name replaces that built-in (to tune a timeout, say).
  for (const [name, def] of Object.entries(policy.commands)) {
    catalogue.set(name, compileCommand(name, def, "policy", searchPath, resolved.get(name)));
  }
  return catalogue;
}

/**
 * The effective catalogue: the built-ins when `file` is undefined, else the policy applied to them.
 * Throws PolicyError (exit 78) carrying every violation.
 */
export function loadPolicy(file: string | undefined, opts: LoadOptions = {}): Catalogue {
  if (file === undefined) return builtinCatalogue(opts);
  return compilePolicy(readPolicy(file), file, opts);
}

/** JSON Schema (2020-12, as OpenAPI 3.1 uses) of a command's `args` object. */
export function argsJsonSchema(command: CommandSpec): JsonSchema {
  const schema = toJsonSchema(command.argsSchema, {
    target: "draft-2020-12",
    errorMode: "throw",
    overrideAction: documentedCheck as never,
  }) as JsonSchema & { $schema?: string };
  delete schema.$schema; // embedded in responses and OpenAPI, where the dialect is implied
  return schema;
}

export interface CommandDescription {
  name: string;
  description: string;
  elevated: boolean;
  long: boolean;
  available: boolean;
  unavailable_reason?: string;
  timeout_ms: number;
  max_output_bytes: number;
  args: JsonSchema;
}

/** `icecore commands` and `GET /v1/commands`: `{ "commands": [...] }`, sorted by name. */
export function describeCommands(catalogue: Catalogue): { commands: CommandDescription[] } {
  return {
    commands: sortedCommands(catalogue).map((c) => ({
      name: c.name,
      description: c.description,
      elevated: c.elevate,
      long: c.long,
      available: c.available,
      ...(c.available ? {} : { unavailable_reason: c.unavailableReason ?? "unavailable" }),
      timeout_ms: c.timeoutMs,
      max_output_bytes: c.maxOutputBytes,
      args: argsJsonSchema(c),
    })),
  };
}
