/**
 * SPEC §6: request args are validated with the command's valibot schema, then turned into an argv
 * ARRAY: literals as written, each `{param}` placeholder replaced by exactly one element (an array
 * param by one element per item). Nothing is ever joined, split, quoted or given to a shell, so a
 * value like `; rm -rf /` is one harmless argument, and the schema decides which values exist.
 *
 * String rules, in this order (valibot runs with `abortPipeEarly`, so a 1 MB string is refused by
 * the length check before any pattern runs over it):
 *   maxLength -> no NUL (cannot be passed through execve) -> well-formed UTF-16 (a lone surrogate
 *   would reach the tool as U+FFFD, i.e. not the validated value) -> no leading `-` unless
 *   `allowLeadingDash` (option injection) -> enum -> pattern (anchored: whole-value match).
 */
import { realpathSync } from "node:fs";
import { dirname, posix } from "node:path";
import * as v from "valibot";
import { refusals, type ArgIssue } from "./errors.ts";
import { jsonPointer } from "../json-pointer.ts";
import type { ArrayParam, IntegerParam, ParamDefinition, PathParam, StringParam } from "./policy-schema.ts";
import type { ArgsSchema, ArgValue, ArgValues, ArgvPart, CommandSpec } from "./types.ts";

/**
 * JSON Schema contributions of our `check` actions (to-json-schema cannot read a predicate). The
 * route publishing the schema looks actions up here, so the published schema says what the check
 * enforces instead of silently omitting it.
 */
export const checkJsonSchema = new WeakMap<object, Record<string, unknown>>();

/**
 * For @valibot/to-json-schema's `overrideAction`: what our checks add to the generated schema.
 * Used wherever a schema is published (GET /v1/commands, the OpenAPI document), so both say the
 * same as what is enforced.
 */
export function documentedCheck({ valibotAction, jsonSchema }: { valibotAction: object; jsonSchema: Record<string, unknown> }): Record<string, unknown> | undefined {
  const extra = checkJsonSchema.get(valibotAction);
  return extra ? { ...jsonSchema, ...extra } : undefined;
}

function documented<T extends object>(action: T, json: Record<string, unknown>): T {
  checkJsonSchema.set(action, json);
  return action;
}

// NUL and lone surrogates cannot be expressed usefully in JSON Schema; they are refused, not published.
const noNul = documented(v.check((s: string) => !s.includes("\0"), "must not contain NUL"), {});
const wellFormed = documented(
  v.check((s: string) => s.isWellFormed(), "must be well-formed Unicode (no lone surrogates)"),
  {},
);
const noLeadingDash = documented(v.check((s: string) => !s.startsWith("-"), 'must not begin with "-"'), {
  not: { pattern: "^-" },
});

/** Anchor a policy pattern: JSON Schema `pattern` is a search, icecore requires a whole match. */
export function anchoredPattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

/** valibot's variadic `pipe` types cannot follow a pipe assembled at run time; the items are valibot's own. */
const dynamicPipe = v.pipe as unknown as <T>(...items: unknown[]) => v.GenericSchema<unknown, T>;

function withDescription(entries: unknown[], description: string | undefined): unknown[] {
  return description ? [...entries, v.description(description)] : entries;
}

function stringSchema(p: StringParam) {
  const items: unknown[] = [];
  if (p.enum) {
    // Membership first: an enum bounds length by itself, and picklist publishes `enum`.
    items.push(v.picklist(p.enum, `must be one of: ${p.enum.join(", ")}`));
  } else {
    items.push(v.string("must be a string"), v.maxLength(p.maxLength, `must be at most ${p.maxLength} characters`), noNul, wellFormed);
    if (!p.allowLeadingDash) items.push(noLeadingDash);
  }
  if (p.pattern !== undefined) {
    items.push(v.regex(anchoredPattern(p.pattern), "does not match the allowed pattern"));
  }
  return dynamicPipe<string>(...withDescription(items, p.description));
}

function integerSchema(p: IntegerParam) {
  return dynamicPipe<number>(
    ...withDescription(
      [
        v.number("must be an integer"),
        v.integer("must be an integer"),
        v.minValue(p.min, `must be at least ${p.min}`),
        v.maxValue(p.max, `must be at most ${p.max}`),
      ],
      p.description,
    ),
  );
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The realpath of `path`, or of its nearest existing ancestor with the missing tail appended. */
function realpathAllowMissing(path: string): string {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = realpathSync(head);
      return tail.length ? posix.join(real, ...tail.reverse()) : real;
    } catch {
      const parent = dirname(head);
      if (parent === head) return path;
      tail.push(head.slice(parent === "/" ? 1 : parent.length + 1));
      head = parent;
    }
  }
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === "/" ? "/" : root + "/");
}

function pathSchema(p: PathParam) {
  // Roots are resolved once, at load: a value must be under a root both as written and after
  // resolving symlinks, so `/srv/data/link -> /etc` cannot lead outside. (A symlink created after
  // validation is a race icecore cannot close without opening the file itself; the README says so.)
  const roots = p.roots.map((r) => posix.normalize(r).replace(/(.)\/$/, "$1"));
  const realRoots = roots.map(realOrSelf);
  const normalized = documented(
    v.check((s: string) => s.startsWith("/") && posix.normalize(s) === s && (s === "/" || !s.endsWith("/")), "must be an absolute, normalized path (no '.', '..', '//' or trailing '/')"),
    { pattern: "^/" },
  );
  const underRoots = documented(
    v.check((s: string) => {
      if (!roots.some((r) => isUnder(s, r))) return false;
      const real = realpathAllowMissing(s);
      return realRoots.some((r) => isUnder(real, r));
    }, `must be under ${roots.join(" or ")}`),
    { description: `a path under ${roots.join(" or ")}` },
  );
  return dynamicPipe<string>(
    ...withDescription(
      [v.string("must be a string"), v.maxLength(p.maxLength, `must be at most ${p.maxLength} characters`), noNul, wellFormed, normalized, underRoots],
      p.description,
    ),
  );
}

function arraySchema(p: ArrayParam) {
  return dynamicPipe<string[]>(
    ...withDescription(
      [
        v.array(stringSchema(p.items), "must be an array"),
        v.minLength(p.minItems, `must have at least ${p.minItems} item(s)`),
        v.maxLength(p.maxItems, `must have at most ${p.maxItems} items`),
      ],
      p.description,
    ),
  );
}

export function paramSchema(p: ParamDefinition): v.GenericSchema<unknown, ArgValue> {
  switch (p.type) {
    case "string":
      return stringSchema(p);
    case "integer":
      return integerSchema(p);
    case "boolean":
      return p.description ? v.pipe(v.boolean("must be true or false"), v.description(p.description)) : v.boolean("must be true or false");
    case "path":
      return pathSchema(p);
    case "array":
      return arraySchema(p);
  }
}

/** The `args` object schema of a command: every param required, nothing else allowed. */
export function buildArgsSchema(params: Readonly<Record<string, ParamDefinition>>): ArgsSchema {
  const entries: Record<string, v.GenericSchema<unknown, ArgValue>> = {};
  for (const [name, p] of Object.entries(params)) entries[name] = paramSchema(p);
  return v.strictObject(entries) as unknown as ArgsSchema;
}

/** RFC 6901 JSON Pointer of a valibot issue's path, under `prefix` (e.g. "/args"). */
export function issuePointer(issue: v.BaseIssue<unknown>, prefix = ""): string {
  return prefix + jsonPointer((issue.path ?? []).map((item) => String((item as { key: unknown }).key)));
}

/** valibot's messages for strict objects say "Expected never"; a person reads these instead. */
export function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.type === "strict_object") {
    if (!issue.path?.length) return "must be a JSON object";
    if (issue.expected === "never") return "is not a parameter of this command";
    return "is required";
  }
  return issue.message;
}

/** Every issue (at most 50) as a JSON Pointer and a sentence. */
export function argIssues(issues: readonly v.BaseIssue<unknown>[], prefix = ""): ArgIssue[] {
  return issues.slice(0, 50).map((i) => ({ path: issuePointer(i, prefix), message: issueMessage(i) }));
}

/** Validate `args` against the command's schema; `validation_failed` with every issue. */
export function validateArgs(command: CommandSpec, args: unknown): ArgValues {
  const result = v.safeParse(command.argsSchema, args, { abortPipeEarly: true });
  if (result.success) return result.output;
  throw refusals.invalidArgs(argIssues(result.issues, "/args"));
}

/** Pre-split an argv template (done once, at load). */
export function compileArgv(template: readonly string[], placeholderName: (el: string) => string | null): ArgvPart[] {
  return template.map((el) => {
    const name = placeholderName(el);
    return name === null ? { kind: "literal", value: el } : { kind: "param", name };
  });
}

/** The argv AFTER the executable: one element per literal, one per scalar placeholder, N per array. */
export function buildArgv(command: CommandSpec, values: ArgValues): string[] {
  const out: string[] = [];
  for (const part of command.argv) {
    if (part.kind === "literal") {
      out.push(part.value);
      continue;
    }
    const value = values[part.name];
    if (value === undefined) throw new Error(`internal: no value for {${part.name}}`); // schema makes every param required
    if (typeof value === "string") out.push(value);
    else if (typeof value === "number") out.push(String(value));
    else if (typeof value === "boolean") out.push(value ? "true" : "false");
    else out.push(...value);
  }
  return out;
}
