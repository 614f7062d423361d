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
 * A path param is validated against its roots and replaced by the REAL path it names
 * (resolveUnderRoots): that, not the literal, is the element the tool gets.
 */
import { lstatSync, realpathSync } from "node:fs";
import { posix } from "node:path";
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

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === "/" ? "/" : root + "/");
}

/** A `roots` entry: as written in the policy, and its real path (resolved at load when it existed). */
interface PathRoot {
  readonly written: string;
  readonly realAtLoad: string | null;
}

/**
 * Issue 12 item 7: the real path `value` names, or null when it must be refused.
 *
 * The value must be under a root as written. From that root's real path, every component below it
 * is checked with lstat: a symlink is followed only when its target exists and resolves under one
 * of the roots, so a dangling `root/x -> /etc/cron.d/evil` (which `touch` would create) or a
 * `root/x -> /etc` is refused. A missing component ends the walk: the rest is what the tool may
 * create, inside a real directory under the root. Anything lstat cannot answer (a file where a
 * directory is needed, EACCES, ELOOP) is refused rather than guessed.
 *
 * The components of a root itself are the policy author's: a root that is a symlink is resolved
 * once, at load (or at first use, if it did not exist then).
 */
export function resolveUnderRoots(value: string, roots: readonly PathRoot[]): string | null {
  const realRoots = roots.map((r) => r.realAtLoad ?? realpathOrNull(r.written)).filter((r): r is string => r !== null);
  for (const root of roots) {
    if (!isUnder(value, root.written)) continue;
    const base = root.realAtLoad ?? realpathOrNull(root.written);
    if (base === null) continue;
    const rest = value === root.written ? "" : value.slice(root.written === "/" ? 1 : root.written.length + 1);
    const resolved = walkBelow(base, rest === "" ? [] : rest.split("/"), realRoots);
    if (resolved !== null) return resolved;
  }
  return null;
}

function walkBelow(base: string, components: readonly string[], realRoots: readonly string[]): string | null {
  let current = base;
  for (const [i, name] of components.entries()) {
    const next = current === "/" ? `/${name}` : `${current}/${name}`;
    let st;
    try {
      st = lstatSync(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") return null;
      return posix.join(next, ...components.slice(i + 1));
    }
    if (st.isSymbolicLink()) {
      const target = realpathOrNull(next); // null: dangling, a loop, or unreadable
      if (target === null || !realRoots.some((r) => isUnder(target, r))) return null;
      current = target;
    } else {
      current = next;
    }
  }
  return current;
}

function pathSchema(p: PathParam) {
  // Roots are resolved once, at load. The value handed to the tool is the REAL path that was
  // validated (symlinks already followed), not the literal: the tool then never re-reads a symlink
  // icecore checked, so swapping that link after validation changes nothing. (A directory the
  // caller can write to along the real path remains a race no path check can close; the README
  // says so.)
  const roots: PathRoot[] = p.roots.map((r) => {
    const written = posix.normalize(r).replace(/(.)\/$/, "$1");
    return { written, realAtLoad: realpathOrNull(written) };
  });
  const shown = roots.map((r) => r.written).join(" or ");
  const normalized = documented(
    v.check((s: string) => s.startsWith("/") && posix.normalize(s) === s && (s === "/" || !s.endsWith("/")), "must be an absolute, normalized path (no '.', '..', '//' or trailing '/')"),
    { pattern: "^/" },
  );
  const underRoots = documented(
    v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
      const real = resolveUnderRoots(dataset.value, roots);
      if (real !== null) return real;
      addIssue({ message: `must be under ${shown} (a symlink on the way must exist and resolve inside)` });
      return NEVER;
    }),
    { description: `a path under ${shown}` },
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
