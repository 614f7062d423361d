/**
 * SPEC §8.4: injection corpora through the real routes to a real recorder program. For every
 * payload the outcome is one of exactly two: the program ran and recorded EXACTLY the validated
 * value as one argv element, or the request was refused with 422 and the program never ran (its
 * output file, the marker, is absent). Shell payloads that would create files prove nothing ran
 * beyond the argv: those files never appear.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, catalogueOf, readJson, RECORDER, tempDir, testApp, removeScratch, type TestApp } from "./helpers.ts";

afterAll(removeScratch);

const dir = tempDir();
const OUT = join(dir, "recorded.json");
const PWN = join(dir, "pwned");
const root = join(dir, "root");
mkdirSync(join(root, "sub"), { recursive: true });
writeFileSync(join(root, "sub", "file.txt"), "x");
symlinkSync("/etc", join(root, "escape"));
// Issue 12 item 7: symlinks inside the root whose targets are missing or outside it.
const outside = join(dir, "outside");
mkdirSync(outside);
symlinkSync(join(outside, "created-by-touch"), join(root, "dangling-out")); // target missing, outside
symlinkSync(join(root, "sub", "not-yet"), join(root, "dangling-in")); // target missing, inside
symlinkSync(join(root, "sub"), join(root, "inlink")); // directory inside: fine
symlinkSync(join(root, "sub", "file.txt"), join(root, "filelink")); // file inside: fine
symlinkSync(join(outside, "hop"), join(root, "via-outside")); // outside hop that leads back inside
symlinkSync(join(root, "sub", "file.txt"), join(outside, "hop"));
symlinkSync(join(root, "loop"), join(root, "loop"));

const rec = (params: Record<string, unknown>, argvTail: string[], extra: Record<string, unknown> = {}) => ({
  description: "record argv",
  executable: BUN,
  argv: [RECORDER, OUT, "--", ...argvTail],
  params,
  ...extra,
});

const catalogue = catalogueOf({
  "t.free": rec({ text: { type: "string", maxLength: 4096 } }, ["{text}"]),
  "t.dash": rec({ text: { type: "string", maxLength: 4096, allowLeadingDash: true } }, ["{text}"]),
  "t.strict": rec({ name: { type: "string", pattern: "[a-z0-9][a-z0-9._-]*", maxLength: 64 } }, ["{name}"]),
  "t.enum": rec({ mode: { type: "string", enum: ["fast", "slow"] } }, ["{mode}"]),
  "t.path": rec({ file: { type: "path", roots: [root] } }, ["{file}"]),
  "t.list": rec({ items: { type: "array", items: { type: "string", maxLength: 64 }, maxItems: 8 } }, ["{items}", "end"]),
  "t.num": rec({ n: { type: "integer", min: 0, max: 100 } }, ["{n}"]),
  "t.flag": rec({ on: { type: "boolean" } }, ["{on}"]),
  "t.env": rec({}, [], { env_allow: ["ICECORE_TEST_ALLOWED", "ICECORE_TEST_UNSET"] }),
});
const t = await testApp({ catalogue, dir, env: { ICECORE_TEST_ALLOWED: "yes", ICECORE_TEST_SECRET: "must-not-leak", HOME: "/root", LD_PRELOAD: "/evil.so" } });



/** Send one request; return the recorded argv tail after "--", or null when refused (422, or 413 for a body over 64 KiB). */
async function attempt(name: string, args: unknown): Promise<{ status: number; argv: string[] | null; body: Record<string, unknown> }> {
  rmSync(OUT, { force: true });
  const res = await t.post(name, { args });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status === 422) {
    expect(existsSync(OUT)).toBe(false); // the recorder never ran
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(body.code).toBe("validation_failed");
    expect(Array.isArray(body.issues) && body.issues.length > 0).toBe(true);
    return { status: 422, argv: null, body };
  }
  if (res.status === 413) {
    expect(existsSync(OUT)).toBe(false);
    expect(body.code).toBe("payload_too_large");
    return { status: 413, argv: null, body };
  }
  expect(res.status).toBe(200);
  expect(body.exit_code).toBe(0);
  const recorded = readJson<{ argv: string[] }>(OUT).argv;
  expect(recorded[0]).toBe("--");
  return { status: 200, argv: recorded.slice(1), body };
}

const ONE_MB = "A".repeat(1024 * 1024);
const CORPUS: string[] = [
  `; touch ${PWN}`,
  `a | touch ${PWN}`,
  `a && touch ${PWN} &`,
  `$(touch ${PWN})`,
  `\`touch ${PWN}\``,
  `a > ${PWN}`,
  `< /etc/passwd`,
  "${IFS}$HOME",
  "'",
  '"',
  "\\",
  "* ? [a] ~ {x} {}",
  "{text}",
  "a\nb",
  "a\r\nb",
  "line1\n--option",
  "a\u0000b",
  "\u0000",
  "../../etc/passwd",
  "/etc/passwd",
  "-rf",
  "--help",
  "--",
  "-",
  " -x",
  ONE_MB,
  "\u202Egnp.exe",
  "a\u200Bb\u200C\u200D\u2060",
  "\uFEFFbom",
  "%00",
  "a%00b",
  "\ud800",
  "\udc00x",
  "é 日本 🙂",
  "\u001b[31mred",
  "",
  " ",
  "\t",
];

function mustRefuseFree(s: string): boolean {
  return s.includes("\u0000") || s.startsWith("-") || s.length > 4096 || !s.isWellFormed();
}

describe("free-text param (no pattern): exact or refused", () => {
  test.each(CORPUS.map((s) => [JSON.stringify(s).slice(0, 60), s]))("%s", async (_label, s) => {
    const r = await attempt("t.free", { text: s });
    if (mustRefuseFree(s)) {
      expect([413, 422]).toContain(r.status);
    } else {
      expect(r.status).toBe(200);
      expect(r.argv).toEqual([s]);
    }
  });

  test("a 60 KB string (under the body limit) is refused by its length, cheaply", async () => {
    const started = performance.now();
    const r = await attempt("t.free", { text: "A".repeat(60_000) });
    expect(r.status).toBe(422);
    expect(r.body.issues).toEqual([{ path: "/args/text", message: "must be at most 4096 characters" }]);
    expect(performance.now() - started).toBeLessThan(500);
  });

  test("no shell ever ran", () => {
    expect(existsSync(PWN)).toBe(false);
  });
});

describe("allowLeadingDash lets '-' values through, still as one element after --", () => {
  test.each(["-rf", "--help", "--", "-c", "--output=/etc/shadow"])("%s", async (s) => {
    const r = await attempt("t.dash", { text: s });
    expect(r.argv).toEqual([s]);
  });
});

describe("pattern param: only whole matches", () => {
  test.each(CORPUS.map((s) => [JSON.stringify(s).slice(0, 60), s]))("%s", async (_label, s) => {
    const r = await attempt("t.strict", { name: s });
    expect([413, 422]).toContain(r.status);
  });
  test.each(["pkg", "lib-foo2.0", "a_b"])("accepts %s exactly", async (s) => {
    expect((await attempt("t.strict", { name: s })).argv).toEqual([s]);
  });
  test("a match embedded in a longer value is not a match", async () => {
    expect((await attempt("t.strict", { name: "ok\n; rm -rf /" })).status).toBe(422);
  });
});

describe("enum param", () => {
  test("members pass, anything else is refused", async () => {
    expect((await attempt("t.enum", { mode: "fast" })).argv).toEqual(["fast"]);
    for (const s of ["FAST", "fast ", "fast\u0000", "-fast", "fas", ONE_MB]) expect([413, 422]).toContain((await attempt("t.enum", { mode: s })).status);
  });
});

describe("path param: under the root, as written and after symlinks", () => {
  test.each([
    [join(root, "sub", "file.txt"), true],
    [join(root, "sub", "new-file"), true],
    [root, true],
    [join(root, "sub", "..", "..", "etc", "passwd"), false],
    [`${root}/../etc/passwd`, false],
    [`${root}/./sub`, false],
    [`${root}//sub`, false],
    [`${root}/sub/`, false],
    [join(root, "escape", "passwd"), false],
    [join(root, "escape"), false],
    [`${root}-sibling/x`, false],
    ["../../etc/passwd", false],
    ["sub/file.txt", false],
    ["/etc/passwd", false],
    [`${root}/sub/a\u0000b`, false],
    [`-${root}`, false],
    [join(root, "dangling-out"), false],
    [join(root, "dangling-in"), false],
    [join(root, "dangling-out", "x"), false],
    [join(root, "loop"), false],
    [join(root, "sub", "file.txt", "x"), false],
  ])("%s -> accepted=%p", async (p, accepted) => {
    const r = await attempt("t.path", { file: p });
    if (accepted) expect(r.argv).toEqual([p]);
    else expect(r.status).toBe(422);
  });

  test.each([
    [join(root, "inlink", "file.txt"), join(root, "sub", "file.txt")],
    [join(root, "inlink", "new-file"), join(root, "sub", "new-file")],
    [join(root, "filelink"), join(root, "sub", "file.txt")],
    [join(root, "via-outside"), join(root, "sub", "file.txt")],
    [join(root, "sub", "missing-dir", "new-file"), join(root, "sub", "missing-dir", "new-file")],
  ])("%s passes a symlink that resolves inside: the tool gets the real path %s", async (p, real) => {
    expect((await attempt("t.path", { file: p })).argv).toEqual([real]);
  });
});

describe("path param through a real touch (docs/policy-trust-model.md: a dangling symlink must not create a file outside)", () => {
  const cat = catalogueOf({
    "t.touch": { description: "touch a file", executable: "/usr/bin/touch", argv: ["--", "{file}"], params: { file: { type: "path", roots: [root] } } },
  });
  let tt: TestApp;
  beforeAll(async () => {
    tt = await testApp({ catalogue: cat, dir });
  });
  test("refused with 422; nothing is created outside the root", async () => {
    const res = await tt.post("t.touch", { args: { file: join(root, "dangling-out") } });
    expect(res.status).toBe(422);
    expect(existsSync(join(outside, "created-by-touch"))).toBe(false);
  });
  test("control: a new file inside the root is created", async () => {
    const res = await tt.post("t.touch", { args: { file: join(root, "sub", "touched") } });
    expect(res.status).toBe(200);
    expect(existsSync(join(root, "sub", "touched"))).toBe(true);
  });
});

describe("array param: N validated elements, each its own argv element", () => {
  test("items are expanded in order, each exactly", async () => {
    const items = ["a b", "$(x)", ";", "é", "x\ny", "", "{items}", "end"];
    expect((await attempt("t.list", { items })).argv).toEqual([...items, "end"]);
  });
  test.each([
    ["too many", Array.from({ length: 9 }, (_, i) => `v${i}`)],
    ["very long array", Array.from({ length: 10_000 }, () => "x")],
    ["empty (minItems defaults to 1)", []],
    ["an item with a leading dash", ["ok", "-o"]],
    ["an item with NUL", ["a\u0000"]],
    ["a too-long item", ["x".repeat(65)]],
    ["a nested array", [["a"]]],
    ["a number", [1]],
    ["not an array", "a b c"],
  ])("%s is refused", async (_label, items) => {
    expect((await attempt("t.list", { items })).status).toBe(422);
  });
});

describe("integer and boolean params", () => {
  test.each([
    [0, "0"],
    [100, "100"],
    [42, "42"],
  ])("%p -> %s", async (n, s) => {
    expect((await attempt("t.num", { n })).argv).toEqual([s]);
  });
  test.each([-1, 101, 1.5, "5", "0x10", 1e21, null, true, [1], { n: 1 }].map((n) => [n]))("%p is refused", async (n) => {
    expect((await attempt("t.num", { n })).status).toBe(422);
  });
  test("booleans become one element, true/false", async () => {
    expect((await attempt("t.flag", { on: true })).argv).toEqual(["true"]);
    expect((await attempt("t.flag", { on: false })).argv).toEqual(["false"]);
    for (const on of ["true", 1, null]) expect((await attempt("t.flag", { on })).status).toBe(422);
  });
});

describe("body and args shape", () => {
  test.each([
    ["unknown arg", { text: "x", extra: "y" }],
    ["missing arg", {}],
    ["args is an array", ["x"]],
    ["args is a string", "x"],
    ["args is null", null],
    ["text is an object", { text: { toString: "x" } }],
    ["text is null", { text: null }],
  ])("%s -> 422", async (_label, args) => {
    expect((await attempt("t.free", args)).status).toBe(422);
  });

  test("__proto__ as an arg name is refused, not merged", async () => {
    rmSync(OUT, { force: true });
    const res = await t.postRaw("t.free", '{"args":{"__proto__":{"text":"x"}}}');
    expect(res.status).toBe(422);
    expect(existsSync(OUT)).toBe(false);
  });

  test("unknown top-level body fields are refused", async () => {
    rmSync(OUT, { force: true });
    const res = await t.post("t.free", { args: { text: "x" }, argv: ["/bin/sh"] });
    expect(res.status).toBe(422);
    expect(existsSync(OUT)).toBe(false);
  });

  test("issue paths are JSON Pointers and messages do not echo the value", async () => {
    const r = await attempt("t.list", { items: ["ok", "-secret-value"] });
    expect(r.body.issues).toEqual([{ path: "/args/items/1", message: 'must not begin with "-"' }]);
    expect(JSON.stringify(r.body)).not.toContain("secret-value");
  });
});

describe("the environment the program gets", () => {
  test("PATH and LANG fixed, only allow-listed variables added, cwd /, stdin at EOF", async () => {
    rmSync(OUT, { force: true });
    const res = await t.post("t.env", { args: {} });
    expect(res.status).toBe(200);
    const recorded = readJson<{ env: Record<string, string>; cwd: string; stdin_eof: boolean }>(OUT);
    expect(recorded.env).toEqual({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LANG: "C.UTF-8",
      ICECORE_TEST_ALLOWED: "yes",
    });
    expect(recorded.cwd).toBe("/");
    expect(recorded.stdin_eof).toBe(true);
  });
});
