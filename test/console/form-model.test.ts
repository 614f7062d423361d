/**
 * The console's form generation (src/console/form-model.js), against the JSON Schemas that
 * GET /v1/commands really publishes: built here from a policy with every param type, through
 * the same code the API uses (describeCommands), not hand-written fixtures.
 */
import { describe, expect, test } from "bun:test";
import { compilePolicy, describeCommands } from "../../src/commands/policy-loader.ts";
import { argsFromValues, constraintHints, fieldErrors, formModel, parsePointer } from "../../src/console/form-model.js";
import { formatDuration, formatRelative, formatUptime } from "../../src/console/time-format.js";

const policy = {
  mode: "replace",
  commands: {
    "demo.all": {
      description: "every param type",
      executable: "/usr/bin/printf",
      argv: ["%s\\n", "{mode}", "{count}", "{verbose}", "{dir}", "{names}", "{label}"],
      params: {
        mode: { type: "string", enum: ["fast", "slow"], description: "speed" },
        count: { type: "integer", min: 1, max: 10 },
        verbose: { type: "boolean", description: "say more" },
        dir: { type: "path", roots: ["/tmp"] },
        names: { type: "array", items: { type: "string", pattern: "[a-z]+", maxLength: 8 }, maxItems: 3 },
        label: { type: "string", pattern: "[a-z]+", maxLength: 10 },
      },
    },
  },
};
const listing = describeCommands(compilePolicy(policy));
const schema = listing.commands.find((c) => c.name === "demo.all")!.args;

describe("schema → form model", () => {
  const model = formModel(schema);
  const field = (name: string) => model.fields.find((f) => f.name === name)!;

  test("every param type maps to its input kind, in schema order, all required", () => {
    expect(model.fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["mode", "enum", true],
      ["count", "integer", true],
      ["verbose", "boolean", true],
      ["dir", "string", true],
      ["names", "array", true],
      ["label", "string", true],
    ]);
    expect(model.unsupported).toEqual([]);
  });

  test("constraints are carried: enum options, integer bounds, maxLength, pattern, maxItems, leading dash, description", () => {
    expect(field("mode").options).toEqual(["fast", "slow"]);
    expect(field("mode").description).toBe("speed");
    expect([field("count").minimum, field("count").maximum]).toEqual([1, 10]);
    expect(field("label").maxLength).toBe(10);
    expect(field("label").pattern).toBe("^(?:[a-z]+)$");
    expect(field("label").noLeadingDash).toBe(true);
    expect(field("names").maxItems).toBe(3);
    expect(field("names").minItems).toBe(1);
    expect(field("names").maxLength).toBe(8);
    expect(field("dir").description).toBe("a path under /tmp");
  });

  test("hints say the constraints in words", () => {
    expect(constraintHints(field("count"))).toEqual(["integer from 1 to 10"]);
    expect(constraintHints(field("names"))).toEqual(["1 to 3 items", "at most 8 characters each", "may not start with -", "pattern ^(?:[a-z]+)$"]);
  });

  test("a property the form cannot draw is named, not dropped silently", () => {
    const m = formModel({ type: "object", properties: { ok: { type: "boolean" }, nested: { type: "object" } }, required: [] });
    expect(m.fields.map((f) => f.name)).toEqual(["ok"]);
    expect(m.unsupported).toEqual(["nested"]);
    expect(m.fields[0]!.required).toBe(false);
  });

  test("the built-in catalogue's schemas all map without unsupported fields", () => {
    const builtins = describeCommands(compilePolicy({ mode: "extend", commands: {} }));
    expect(builtins.commands.length).toBeGreaterThan(3);
    for (const c of builtins.commands) expect(formModel(c.args).unsupported).toEqual([]);
  });
});

describe("form values → args", () => {
  const model = formModel(schema);
  test("typed as JSON: integer as a number, boolean as a boolean, array rows without empties", () => {
    const args = argsFromValues(model, { mode: "slow", count: " 7 ", verbose: true, dir: "/tmp/x", names: ["vim", "", "git"], label: "abc" });
    expect(args).toEqual({ mode: "slow", count: 7, verbose: true, dir: "/tmp/x", names: ["vim", "git"], label: "abc" });
  });

  test("an unchecked box is false; text that is no integer is sent as typed (the server's 422 names it)", () => {
    const args = argsFromValues(model, { mode: "fast", count: "1e3", verbose: false, dir: "", names: [], label: "" });
    expect(args.verbose).toBe(false);
    expect(args.count).toBe("1e3");
    expect(args.names).toEqual([]);
    expect(args.dir).toBe("");
  });

  test("empty optional inputs are left out", () => {
    const m = formModel({ type: "object", properties: { q: { type: "string" }, n: { type: "integer" }, xs: { type: "array", items: { type: "string" } } }, required: [] });
    expect(argsFromValues(m, { q: "", n: "", xs: [""] })).toEqual({});
  });

  test("a validated round trip: what the form builds passes the server's own schema", async () => {
    const { validateArgs } = await import("../../src/commands/argv-builder.ts");
    const command = compilePolicy(policy).get("demo.all")!;
    const args = argsFromValues(model, { mode: "fast", count: "3", verbose: true, dir: "/tmp", names: ["abc"], label: "xyz" });
    expect(() => validateArgs(command, args)).not.toThrow();
  });
});

describe("422 issues → fields", () => {
  const model = formModel(schema);
  test("each issue lands on its field by JSON Pointer; array items by index; the rest is general", () => {
    const placed = fieldErrors(model, [
      { path: "/args/count", message: "must be at most 10" },
      { path: "/args/names/1", message: "does not match the pattern" },
      { path: "/args/names", message: "at most 3 items" },
      { path: "/args/unknown", message: "is not allowed" },
      { path: "", message: "the body must be a JSON object" },
    ]);
    expect(placed.byField.get("count")!.messages).toEqual(["must be at most 10"]);
    expect(placed.byField.get("names")!.messages).toEqual(["at most 3 items"]);
    expect([...placed.byField.get("names")!.items]).toEqual([[1, ["does not match the pattern"]]]);
    expect(placed.general).toEqual(["/args/unknown: is not allowed", "the body must be a JSON object"]);
  });

  test("the issues the real validator produces are placed on the right fields", async () => {
    const { validateArgs } = await import("../../src/commands/argv-builder.ts");
    const command = compilePolicy(policy).get("demo.all")!;
    let issues: { path: string; message: string }[] = [];
    try {
      validateArgs(command, argsFromValues(model, { mode: "fast", count: "11", verbose: true, dir: "/tmp", names: ["abc", "BAD"], label: "UPPER" }));
    } catch (error) {
      issues = (error as { details: { issues: typeof issues } }).details.issues;
    }
    const placed = fieldErrors(model, issues);
    expect([...placed.byField.keys()].sort()).toEqual(["count", "label", "names"]);
    expect([...placed.byField.get("names")!.items.keys()]).toEqual([1]);
    expect(placed.general).toEqual([]);
  });

  test("RFC 6901 escapes", () => {
    expect(parsePointer("/args/a~1b/c~0d")).toEqual(["args", "a/b", "c~d"]);
    expect(parsePointer("args")).toBeNull();
    expect(parsePointer("")).toEqual([]);
  });
});

describe("time formats", () => {
  test("durations, relative times and uptime read naturally", () => {
    expect(formatDuration(4.25)).toBe("4.3 ms");
    expect(formatDuration(1234)).toBe("1.2 s");
    expect(formatDuration(65_000)).toBe("1 min 5 s");
    expect(formatDuration(90_061_000)).toBe("1 d 1 h");
    expect(formatRelative(new Date(10_000 + 3_600_000), 10_000)).toBe("in 1 h 0 min");
    expect(formatRelative(new Date(0), 5_000)).toBe("5.0 s ago");
    expect(formatUptime(3_725_000)).toBe("1:02:05");
  });
});
