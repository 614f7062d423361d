/**
 * SPEC §4.2: the child's environment is icecore's, untouched: every variable icecore was started
 * with reaches the child byte for byte, through Linux's orphan guard (setpriv execs the child),
 * including variables a shell would drop (a name with '-') or rewrite (IFS, OPTIND, PWD), a
 * multi-line value and an empty one. The compiled executable runs as an unprivileged user; the
 * child (python3, which leaves its environment alone) writes what it got and exits without
 * connecting, so the handoff ends with 69.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { BINARY, SYSTEM_PYTHON } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

test("the child gets exactly the environment icecore was started with", async () => {
  const dir = scratchDir(owner, "child-env");
  const out = join(dir, "child-env.json");
  const env: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: dir,
    // Not the C locale: python3 would add LC_CTYPE to its own environment then (PEP 538).
    LANG: "C.UTF-8",
    "ICECORE_TEST_A-B": "dash in the name",
    ICECORE_TEST_MULTI: "line one\nline two",
    ICECORE_TEST_EMPTY: "",
    IFS: "x y",
    OPTIND: "5",
    PWD: "/nonexistent",
  };
  const script = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))";
  const run = startIcecore({
    user: owner,
    dir,
    launcher: { argv: (args) => [BINARY, ...args], path: (p) => p, env },
    child: [SYSTEM_PYTHON, "-c", script, out],
  });
  const { code } = await run.exited;
  expect(code).toBe(69);
  expect(JSON.parse(await Bun.file(out).text())).toEqual(env);
}, 30_000);
