/**
 * SPEC §6: the policy file (JSON, `--policy`) that replaces or extends the built-in catalogue.
 *
 * Every object is strict: a misspelt field (`timeout` for `timeout_ms`, `allowLeadingDashes`) is
 * refused instead of being silently ignored, because a silently ignored safety field is worse than
 * a policy that does not load. The structural rules live here; the security rules that need the
 * whole command (which executable, which argv literal, which placeholder) live in deny-rules.ts so
 * each refusal carries a stable rule name.
 */
import * as v from "valibot";

/** Upper bounds keep a hostile or mistaken policy from asking icecore for unbounded resources. */
export const LIMITS = {
  nameLength: 64,
  descriptionLength: 500,
  pathLength: 4096,
  argvElements: 256,
  argvElementLength: 4096,
  stringMaxLength: 65536,
  /** Used when a string param gives no maxLength: every string argument is bounded (SPEC §6). */
  defaultStringMaxLength: 1024,
  enumValues: 256,
  arrayMaxItems: 256,
  pathRoots: 16,
  envAllow: 64,
  /** SPEC §6: max_output_bytes defaults to 1 MiB. */
  defaultMaxOutputBytes: 1024 * 1024,
  maxOutputBytes: 64 * 1024 * 1024,
  /** Defaults: a request waits for a sync command, so it is short; a long job may take a while. */
  defaultTimeoutMs: 30_000,
  defaultLongTimeoutMs: 60 * 60 * 1000,
  maxTimeoutMs: 24 * 60 * 60 * 1000,
} as const;

/** `disk.mount`: lowercase dotted segments; also safe as one URL path segment. */
export const COMMAND_NAME_RE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;
/** A param name is what appears between the braces of a `{param}` placeholder. */
export const PARAM_NAME_RE = /^[a-z_][a-z0-9_]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const noNul = v.check((s: string) => !s.includes("\0"), "must not contain NUL");

const Description = v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(LIMITS.descriptionLength));

/** An absolute, NUL-free path (for `roots`). Relative executables are a deny rule, not a schema error. */
const AbsolutePath = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(LIMITS.pathLength),
  noNul,
  v.check((s) => s.startsWith("/"), "must be an absolute path"),
);

const PositiveInt = (max: number) => v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max));
const SafeInt = v.pipe(v.number(), v.safeInteger());

/** A pattern must compile as an ECMAScript regex; icecore anchors it (whole-value match). */
const Pattern = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(1024),
  v.check((s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  }, "must be a valid regular expression"),
);

export const StringParamSchema = v.pipe(
  v.strictObject({
    type: v.literal("string"),
    description: v.optional(Description),
    pattern: v.optional(Pattern),
    enum: v.optional(
      v.pipe(
        v.array(v.pipe(v.string(), v.maxLength(LIMITS.argvElementLength), noNul)),
        v.minLength(1, "enum must list at least one value"),
        v.maxLength(LIMITS.enumValues),
      ),
    ),
    maxLength: v.optional(PositiveInt(LIMITS.stringMaxLength), LIMITS.defaultStringMaxLength),
    allowLeadingDash: v.optional(v.boolean(), false),
  }),
);

export const IntegerParamSchema = v.pipe(
  v.strictObject({
    type: v.literal("integer"),
    description: v.optional(Description),
    // Defaults to 0, not MIN_SAFE_INTEGER: a negative number is an argv element starting with
    // `-`, which a tool may read as an option. A policy that wants negatives says so with `min`.
    min: v.optional(SafeInt, 0),
    max: v.optional(SafeInt, Number.MAX_SAFE_INTEGER),
  }),
  v.check((p) => p.min <= p.max, "min must not exceed max"),
);

export const BooleanParamSchema = v.strictObject({
  type: v.literal("boolean"),
  description: v.optional(Description),
});

export const PathParamSchema = v.strictObject({
  type: v.literal("path"),
  description: v.optional(Description),
  roots: v.pipe(v.array(AbsolutePath), v.minLength(1, "roots must name at least one directory"), v.maxLength(LIMITS.pathRoots)),
  maxLength: v.optional(PositiveInt(LIMITS.pathLength), LIMITS.pathLength),
});

export const ArrayParamSchema = v.pipe(
  v.strictObject({
    type: v.literal("array"),
    description: v.optional(Description),
    items: StringParamSchema,
    // Defaults to 1: an empty array would silently drop the operand (e.g. `apt-get install --`).
    minItems: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(LIMITS.arrayMaxItems)), 1),
    maxItems: PositiveInt(LIMITS.arrayMaxItems),
  }),
  v.check((p) => p.minItems <= p.maxItems, "minItems must not exceed maxItems"),
);

export const ParamSchema = v.variant("type", [StringParamSchema, IntegerParamSchema, BooleanParamSchema, PathParamSchema, ArrayParamSchema]);

export const CommandDefinitionSchema = v.strictObject({
  description: Description,
  executable: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(LIMITS.pathLength), noNul),
  argv: v.pipe(
    v.array(v.pipe(v.string(), v.maxLength(LIMITS.argvElementLength), noNul)),
    v.maxLength(LIMITS.argvElements),
  ),
  params: v.optional(
    v.record(v.pipe(v.string(), v.regex(PARAM_NAME_RE, "param names are lowercase letters, digits and _"), v.maxLength(LIMITS.nameLength)), ParamSchema),
    {},
  ),
  timeout_ms: v.optional(PositiveInt(LIMITS.maxTimeoutMs)),
  max_output_bytes: v.optional(PositiveInt(LIMITS.maxOutputBytes), LIMITS.defaultMaxOutputBytes),
  long: v.optional(v.boolean(), false),
  elevate: v.optional(v.boolean(), false),
  env_allow: v.optional(
    v.pipe(v.array(v.pipe(v.string(), v.regex(ENV_NAME_RE, "must be an environment variable name"))), v.maxLength(LIMITS.envAllow)),
    [],
  ),
});

export const PolicySchema = v.strictObject({
  // Required, not defaulted: whether the built-ins stay must be the author's explicit choice.
  mode: v.picklist(["extend", "replace"], 'mode must be "extend" or "replace"'),
  commands: v.record(
    v.pipe(
      v.string(),
      v.maxLength(LIMITS.nameLength),
      v.regex(COMMAND_NAME_RE, "command names are lowercase dotted words, like disk.mount"),
    ),
    CommandDefinitionSchema,
  ),
});

export type StringParam = v.InferOutput<typeof StringParamSchema>;
export type IntegerParam = v.InferOutput<typeof IntegerParamSchema>;
export type BooleanParam = v.InferOutput<typeof BooleanParamSchema>;
export type PathParam = v.InferOutput<typeof PathParamSchema>;
export type ArrayParam = v.InferOutput<typeof ArrayParamSchema>;
export type ParamDefinition = v.InferOutput<typeof ParamSchema>;
export type CommandDefinition = v.InferOutput<typeof CommandDefinitionSchema>;
/** What a definition looks like before defaults are applied (how built-ins are written). */
export type CommandDefinitionInput = v.InferInput<typeof CommandDefinitionSchema>;
export type Policy = v.InferOutput<typeof PolicySchema>;
