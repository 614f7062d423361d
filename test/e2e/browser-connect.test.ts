/**
 * SPEC §9 with the real `icecore connect --browser`: `icecore run --browser --headless` (what
 * `npm start -- --browser` runs) as the unprivileged test user, Chromium with its sandbox. While
 * the console is up: no PEM in any process's argv or environment, the profile is fresh, private
 * and holds no key, no file written during the run holds one, and the child's private key — found
 * in the child's own memory (the control) — is in no Chromium process. Closing Chromium ends the
 * child and the run with it (0); a killed Chromium ends them with 69, or is restarted under
 * `--on-child-exit restart`; a renewal swaps the console's certificate; a missing Chromium is one
 * line and 69, before any key exists. The console's use end to end: browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, PEM_MARKERS } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { isAlive, prefixLauncher, startIcecore, type RunningIcecore } from "../support/icecore-process.ts";
import { pemBlocksInMemory, scanProcessMemory } from "../support/process-memory.ts";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { descendantsOf } from "../../src/platform/loopback-peer.ts";
import { REPO } from "../support/stage.ts";
import { VERSION } from "../../src/version.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;
const isRoot = process.getuid?.() === 0;
const chromiumPath = (() => {
  try {
    return findChromium();
  } catch {
    return null;
  }
})();

/** What the transcript says about the browser: `chromium <path> (pid N, …)` and `profile <dir> (…)`. */
async function browserOf(run: RunningIcecore, nth = 1) {
  await run.waitForOutput("console ready:", 60_000, nth);
  const lines = run.stdout().split("\n");
  const at = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).at(nth - 1)!;
  const pid = Number(/\(pid (\d+),/.exec(at("  chromium "))![1]);
  const profile = /^ {2}profile (\S+) /.exec(at("  profile "))![1]!;
  return { pid, profile, ready: at("  console ready:"), chromium: at("  chromium ") };
}

/** Chromium's processes: the browser and everything under it (zygotes, GPU, network, renderers). */
function chromiumProcesses(browserPid: number): number[] {
  return [browserPid, ...descendantsOf(browserPid)];
}

const pemBody = (pem: string) => pem.split("\n").filter((l) => l && !l.startsWith("-----"));

/** The key as it could sit in memory: a base64 line of its PEM, the raw scalar d, d in base64 and base64url. */
function keyNeedles(pem: string): Record<string, Uint8Array> {
  const jwk = createPrivateKey(pem).export({ format: "jwk" }) as { d: string };
  const d = Buffer.from(jwk.d, "base64url");
  const enc = new TextEncoder();
  return { "pem-line": enc.encode(pemBody(pem)[1]!), "d-raw": new Uint8Array(d), "d-b64url": enc.encode(jwk.d), "d-b64": enc.encode(d.toString("base64")) };
}

function pemIn(bytes: Buffer | string): string | null {
  const text = typeof bytes === "string" ? bytes : bytes.toString("latin1");
  return PEM_MARKERS.find((m) => text.includes(m)) ?? null;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

describe.skipIf(chromiumPath === null)("icecore run --browser --headless (the real connect --browser)", () => {
  const stamp = join(scratchDir(null, "browser-stamp"), "stamp");
  let run: RunningIcecore;
  let browser: Awaited<ReturnType<typeof browserOf>>;
  let childPid: number;
  let keys: string[] = [];

  beforeAll(async () => {
    writeFileSync(stamp, "");
    const past = new Date(Date.now() - 1000);
    utimesSync(stamp, past, past);
    run = startIcecore({ user: owner, scope: "run", args: ["--browser", "--headless"] });
    childPid = Number((await run.waitFor("child_spawned", 30_000)).pid);
    browser = await browserOf(run);
  }, 90_000);

  afterAll(async () => {
    if (run && run.proc.exitCode === null) run.proc.kill("SIGTERM");
    await run?.exited;
    if (browser && isAlive(browser.pid)) process.kill(browser.pid, "SIGKILL");
  }, 30_000);

  test("the console shows the Core's version, opened by a child whose certificate was renewed first; Chromium keeps its sandbox", async () => {
    expect(browser.ready).toContain(`console ready: icecore v${VERSION} at https://127.0.0.1:`);
    const delivered = await run.waitFor("handoff_delivered");
    const renewed = /renewed: client_id ([0-9a-f]{64})/.exec(run.stdout())![1];
    expect(renewed).not.toBe(delivered.client_id);
    const info = run.events.find((e) => e.event === "request" && e.path === "/v1/info" && e.status === 200);
    expect(info?.client_id).toBe(renewed);
    if (owner !== null) {
      expect(browser.chromium).toContain("sandbox on");
      // The renderers really are sandboxed: seccomp filter and their own user namespace.
      const renderers = chromiumProcesses(browser.pid).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("--type=renderer");
        } catch {
          return false;
        }
      });
      expect(renderers.length).toBeGreaterThan(0);
      for (const pid of renderers) expect(readFileSync(`/proc/${pid}/status`, "latin1")).toMatch(/^Seccomp:\s+2$/m);
    }
  });

  test("no PEM in the argv or environment of any process, Chromium's included", () => {
    const pids = chromiumProcesses(browser.pid);
    expect(pids.length).toBeGreaterThan(3);
    const hits: string[] = [];
    let scanned = 0;
    for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      for (const file of ["cmdline", "environ"]) {
        try {
          const marker = pemIn(readFileSync(`/proc/${entry}/${file}`));
          scanned++;
          if (marker) hits.push(`/proc/${entry}/${file}: ${marker}`);
        } catch {
          // gone, or not readable
        }
      }
    }
    expect(scanned).toBeGreaterThan(2 * pids.length);
    expect(hits).toEqual([]);
  });

  test.skipIf(!isRoot)("the child's private key (found in its own memory: the control) is in no Chromium process's memory", () => {
    // The child generated its key and never showed it: read it out of the child's memory, as root.
    keys = pemBlocksInMemory(childPid, "PRIVATE KEY").filter((pem) => {
      try {
        createPrivateKey(pem);
        return true;
      } catch {
        return false;
      }
    });
    expect(keys.length).toBeGreaterThan(0);
    // One of them is the key of the certificate in use now (the last renewed client_id).
    const current = [...run.stdout().matchAll(/renewed: client_id ([0-9a-f]{64})/g)].at(-1)![1];
    const certs = pemBlocksInMemory(childPid, "CERTIFICATE").flatMap((pem) => {
      try {
        return [new X509Certificate(pem)];
      } catch {
        return []; // a stale, partly overwritten copy
      }
    });
    const cert = certs.find((c) => createHash("sha256").update(c.raw).digest("hex") === current);
    expect(cert).toBeDefined();
    const spki = (key: KeyObject) => key.export({ format: "der", type: "spki" }).toString("hex");
    expect(keys.map((pem) => spki(createPublicKey(pem)))).toContain(spki(cert!.publicKey));
    for (const pem of keys) {
      const needles = keyNeedles(pem);
      const own = scanProcessMemory(childPid, needles);
      expect(own.hits["pem-line"]! + own.hits["d-raw"]!).toBeGreaterThan(0);
      for (const pid of chromiumProcesses(browser.pid)) {
        const scan = scanProcessMemory(pid, needles);
        if (scan.error) continue; // exited meanwhile
        expect(scan.bytesRead).toBeGreaterThan(0);
        expect({ pid, hits: scan.hits }).toEqual({ pid, hits: { "pem-line": 0, "d-raw": 0, "d-b64url": 0, "d-b64": 0 } });
      }
    }
  }, 120_000);

  test("the profile is fresh and private (0700, the child's user) and holds no PEM or key", () => {
    const stat = statSync(browser.profile);
    expect(stat.mode & 0o777).toBe(0o700);
    expect(stat.uid).toBe(owner?.uid ?? process.getuid!());
    expect(stat.birthtimeMs || stat.ctimeMs).toBeGreaterThan(statSync(stamp).mtimeMs);
    const lines = keys.map((pem) => pemBody(pem)[1]!);
    let files = 0;
    for (const file of walk(browser.profile)) {
      let text: string;
      try {
        text = readFileSync(file, "latin1");
      } catch {
        continue;
      }
      files++;
      expect(pemIn(text)).toBeNull();
      for (const line of lines) expect(text).not.toContain(line);
    }
    expect(files).toBeGreaterThan(0);
  });

  test("no file written during the run holds a PEM", () => {
    const uid = owner?.uid ?? process.getuid!();
    const found = Bun.spawnSync(
      ["find", "/", "/tmp", "/dev/shm", "/run", "/var/tmp", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", "-type", "f", "-user", String(uid), "-newer", stamp, "-size", "-20M", "-print"],
      { stdout: "pipe", stderr: "ignore" },
    );
    const files = [...new Set(found.stdout.toString().split("\n").filter(Boolean))];
    expect(files.some((f) => f.startsWith(browser.profile + "/"))).toBe(true);
    const hits = files.filter((path) => {
      try {
        return pemIn(readFileSync(path)) !== null;
      } catch {
        return false;
      }
    });
    expect(hits).toEqual([]);
  });

  test("closing Chromium (SIGTERM: its clean shutdown) ends the child with 0 and the run with it; the profile is removed", async () => {
    process.kill(browser.pid, "SIGTERM");
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.stdout()).toMatch(/icecore connect: (Chromium|the console page) was closed; done/);
    expect(run.events.find((e) => e.event === "child_exited")).toMatchObject({ status: 0 });
    expect(existsSync(browser.profile)).toBe(false);
    expect(Bun.spawnSync(["pgrep", "-f", browser.profile]).stdout.toString()).toBe("");
  });
});

describe.skipIf(chromiumPath === null)("when Chromium dies, or the certificate rotates", () => {
  test("a killed Chromium ends the child with 69 and one line; the run ends with 69", async () => {
    const run = startIcecore({ user: owner, args: ["--browser", "--headless"] });
    const browser = await browserOf(run);
    process.kill(browser.pid, "SIGKILL");
    const { code } = await run.exited;
    expect(code).toBe(69);
    expect(run.errors).toEqual(["icecore: connect: Chromium ended unexpectedly (signal SIGKILL); the console was closed"]);
    expect(run.events.find((e) => e.event === "child_exited")).toMatchObject({ status: 69 });
    expect(existsSync(browser.profile)).toBe(false);
  }, 90_000);

  test("--on-child-exit restart: a new child opens a new console; SIGTERM then ends everything", async () => {
    const run = startIcecore({ user: owner, args: ["--browser", "--headless", "--on-child-exit", "restart"] });
    const first = await browserOf(run, 1);
    process.kill(first.pid, "SIGTERM");
    const second = await browserOf(run, 2);
    expect(second.pid).not.toBe(first.pid);
    expect(second.profile).not.toBe(first.profile);
    const delivered = run.events.filter((e) => e.event === "handoff_delivered");
    expect(delivered).toHaveLength(2);
    expect(delivered[0]!.child_id).not.toBe(delivered[1]!.child_id);
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
    for (const b of [first, second]) {
      expect(existsSync(b.profile)).toBe(false);
      expect(Bun.spawnSync(["pgrep", "-f", b.profile]).stdout.toString()).toBe("");
    }
  }, 120_000);

  test("on rotate the child renews and the console goes on with the new certificate, without a reload", async () => {
    // 10 s certificates: `rotate` comes at 2/3 of that.
    const run = startIcecore({ user: owner, args: ["--browser", "--headless", "--cert-ttl", "10s"] });
    await browserOf(run);
    const renewedIds = () => [...run.stdout().matchAll(/renewed: client_id ([0-9a-f]{64})/g)].map((m) => m[1]!);
    const first = renewedIds()[0]!;
    // The Core retires the first renewed certificate when its successor signs ("superseded"); the
    // page hears it on its event stream and reads /v1/info again, signed with the new key.
    const after = await run.waitFor((e) => e.event === "request" && e.path === "/v1/info" && e.status === 200 && e.client_id !== first && e.client_id !== null, 30_000);
    await run.waitForOutput("renewed: client_id", 30_000, 2);
    expect(renewedIds()[1]).toBe(String(after.client_id));
    const renewals = run.events.filter((e) => e.event === "request" && e.path === "/v1/identity/renew");
    expect(renewals.map((r) => r.status)).toEqual([200, 200]);
    // One page load only: the console was never reloaded.
    expect(run.events.filter((e) => e.event === "request" && e.path === "/")).toHaveLength(1);
    run.proc.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
  }, 90_000);
});

describe("without Chromium, or with flags that do not fit", () => {
  const scratch = scratchDir(null, "browser-cli");
  const base = ["--audit-log", join(scratch, "audit.jsonl"), ...(isRoot ? ["--allow-root"] : [])];
  const icecore = (args: string[], env: Record<string, string> = {}) => {
    const r = Bun.spawnSync([BINARY, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env }, timeout: 20_000 });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  const HINT = "install it (Debian/Ubuntu: sudo apt-get install chromium) or pass --chromium <path>";

  test("run --browser with no Chromium on PATH: one line saying how to install it, 69, before any key exists", () => {
    const r = icecore(["run", "--browser", "--headless", ...base], { PATH: "/nonexistent" });
    expect(r.code).toBe(69);
    expect(r.stderr).toBe(`icecore: run: Chromium was not found on PATH (looked for chromium, chromium-browser); ${HINT}\n`);
    expect(existsSync(join(scratch, "audit.jsonl"))).toBe(false); // stopped before the run began
  });

  test("run --browser --chromium <not an executable>: one line, 69", () => {
    const r = icecore(["run", "--browser", "--chromium", "/nonexistent/chromium", ...base]);
    expect(r.code).toBe(69);
    expect(r.stderr).toBe(`icecore: run: --chromium /nonexistent/chromium is not an executable file; ${HINT}\n`);
  });

  test("connect --browser with no Chromium: one line, 69, without taking the bundle", () => {
    const r = icecore(["connect", "--pipe-name", "icecore-none", "--browser"], { PATH: "/nonexistent" });
    expect(r.code).toBe(69);
    expect(r.stderr).toBe(`icecore: connect: Chromium was not found on PATH (looked for chromium, chromium-browser); ${HINT}\n`);
  });

  test.each([
    [["run", "--browser", "--", "/bin/true"], /^icecore: run: --browser chooses the child/],
    [["run", "--headless"], /^icecore: run: --headless needs --browser$/],
    [["connect", "--pipe-name", "x", "--browser", "--exec", "system.info"], /^icecore: connect: --exec cannot be combined with --browser/],
    [["connect", "--pipe-name", "x", "--chromium", "/usr/bin/chromium"], /^icecore: connect: --chromium needs --browser$/],
  ])("usage %j: 64 and one line", (args, pattern) => {
    const r = icecore([...(args as string[]), ...(args[0] === "run" ? base : [])]);
    expect(r.code).toBe(64);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(pattern as RegExp);
  });
});

describe.skipIf(chromiumPath === null || !isRoot || Bun.which("unshare") === null)("the compiled executable carries what it needs", () => {
  test("connect --browser works with the build machine's node_modules hidden (playwright-core's own files are embedded)", async () => {
    // A private mount namespace where node_modules is an empty tmpfs: as on a machine with only the executable.
    const hidden = ["unshare", "-m", "--", "sh", "-c", `mount -t tmpfs none '${join(REPO, "node_modules")}' && exec "$0" "$@"`];
    const run = startIcecore({ launcher: prefixLauncher(hidden, BINARY), args: ["--browser", "--headless"] });
    const browser = await browserOf(run);
    expect(browser.ready).toContain(`icecore v${VERSION}`);
    process.kill(browser.pid, "SIGTERM");
    expect((await run.exited).code).toBe(0);
  }, 90_000);
});
