/**
 * A compiled Bun program reads `bunfig.toml` and `.env` from the directory it is started in,
 * unless the build says otherwise (build/compile.ts). A bunfig.toml `preload` there runs its
 * script inside the process before main: code in icecore, before any hardening, with the keys to
 * come. icecore is built not to read either. The attack plants both in the working directory of
 * the compiled executable (running as an unprivileged user); the control shows the same two files
 * do take effect on a Bun program that reads them (the Bun CLI itself).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, BUN } from "../support/paths.ts";
import { asUser, canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

function plant(dir: string): { marker: string } {
  const marker = join(dir, "preload-ran");
  writeFileSync(join(dir, "bunfig.toml"), `preload = ["./preload.js"]\n`);
  writeFileSync(join(dir, "preload.js"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, process.argv.join(" "));\n`);
  writeFileSync(join(dir, ".env"), "ICECORE_PLANTED=from-dotenv\n");
  return { marker };
}

describe("the working directory's bunfig.toml and .env", () => {
  test("control: they do take effect on a Bun program that reads them (a preload runs, .env sets the environment)", () => {
    const dir = scratchDir(owner, "cwd-config-control");
    const { marker } = plant(dir);
    writeFileSync(join(dir, "main.js"), `console.log(process.env.ICECORE_PLANTED ?? "unset");\n`);
    const out = Bun.spawnSync(asUser(owner, [BUN, "main.js"]), { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect(out.stdout.toString().trim()).toBe("from-dotenv");
    expect(existsSync(marker)).toBe(true);
  });

  test("`icecore version` from that directory runs no preload", () => {
    const dir = scratchDir(owner, "cwd-config-version");
    const { marker } = plant(dir);
    const out = Bun.spawnSync(asUser(owner, [BINARY, "version"]), { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect(out.exitCode).toBe(0);
    expect(out.stdout.toString()).toStartWith("icecore ");
    expect(existsSync(marker)).toBe(false);
  });

  test("`icecore run` from that directory runs no preload, and neither it nor its child gets the .env's variables", async () => {
    const dir = scratchDir(owner, "cwd-config-run");
    const { marker } = plant(dir);
    const seen = join(dir, "child-env");
    // The child records what it inherited and exits without connecting: the handoff fails (69).
    const run = startIcecore({ user: owner, dir, child: ["/bin/sh", "-c", `printf %s "\${ICECORE_PLANTED-unset}" > ${seen}`, "sh"] });
    const { code } = await run.exited;
    expect(code).toBe(69);
    expect(run.stderr()).toContain("before taking its bundle");
    expect(readFileSync(seen, "utf8")).toBe("unset");
    expect(existsSync(marker)).toBe(false);
  }, 30_000);
});
