/**
 * SPEC §8.1 and §7 while a run is live: no private key or certificate PEM in any process's argv
 * or environment, in any file written during the run, or in any log line; icecore is not
 * dumpable (its /proc environ is closed even to its own user) and cannot leave a core file.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { PEM_MARKERS } from "../support/paths.ts";
import { asUser, canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { fixtureChild, startIcecore } from "../support/icecore-process.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

function containsPem(bytes: Buffer | string): string | null {
  const text = typeof bytes === "string" ? bytes : bytes.toString("latin1");
  return PEM_MARKERS.find((m) => text.includes(m)) ?? null;
}

function scanProc(): { scanned: number; hits: string[] } {
  const hits: string[] = [];
  let scanned = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    for (const file of ["cmdline", "environ"]) {
      try {
        const marker = containsPem(readFileSync(`/proc/${entry}/${file}`));
        scanned++;
        if (marker) hits.push(`/proc/${entry}/${file}: ${marker}`);
      } catch {
        // Gone, or not ours to read.
      }
    }
  }
  return { scanned, hits };
}

/**
 * Regular files written since `since` wherever the run could write: every file owned by the user
 * icecore and its child run as (they can create no other), on every local file system and in the
 * memory-backed ones (/tmp, /dev/shm, /run). Files of other users, such as whatever else the
 * machine runs, are not the run's (issue: the scan must pass on a machine where other work runs).
 */
function filesWrittenSince(since: string, uid: number): string[] {
  const found = Bun.spawnSync(
    ["find", "/", "/tmp", "/dev/shm", "/run", "/var/tmp", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", "-type", "f", "-user", String(uid), "-newer", since, "-size", "-20M", "-print"],
    { stdout: "pipe", stderr: "ignore" },
  );
  return [...new Set(found.stdout.toString().split("\n").filter(Boolean))];
}

test("no PEM in argv, environ, files written during the run, or logs; icecore is undumpable", async () => {
  const stampDir = scratchDir(null, "stamp");
  const stamp = join(stampDir, "stamp");
  writeFileSync(stamp, "");
  const past = new Date(Date.now() - 1000);
  utimesSync(stamp, past, past);

  const run = startIcecore({ user: owner, child: fixtureChild("--hold-file", "release") });
  const ready = await run.waitFor("api_ready");
  expect(String(ready.url)).toStartWith("https://127.0.0.1:");
  for (let i = 0; i < 200 && run.fixtureReports().length === 0; i++) await Bun.sleep(10);
  expect(run.fixtureReports()[0]).toMatchObject({ received: true, has_key: true });

  // The child now holds its key in memory, icecore holds the rest: the run is live.
  const proc = scanProc();
  expect(proc.scanned).toBeGreaterThan(20);
  expect(proc.hits).toEqual([]);

  const files = filesWrittenSince(stamp, owner?.uid ?? process.getuid!());
  const fileHits = files.filter((path) => {
    try {
      return statSync(path).isFile() && containsPem(readFileSync(path)) !== null;
    } catch {
      return false;
    }
  });
  expect(fileHits).toEqual([]);
  expect(files).toContain(run.auditPath);

  // SPEC §7: PR_SET_DUMPABLE 0 makes /proc/<pid>/environ root-owned, so even icecore's own user
  // cannot read it; RLIMIT_CORE 0 means no core file can hold a key.
  const icecorePid = run.proc.pid;
  const limits = readFileSync(`/proc/${icecorePid}/limits`, "latin1");
  expect(limits).toMatch(/Max core file size\s+0\s+0/);
  if (owner !== null) {
    const peek = Bun.spawnSync(asUser(owner, ["cat", `/proc/${icecorePid}/environ`]), { stdout: "pipe", stderr: "pipe" });
    expect(peek.exitCode).not.toBe(0);
    expect(peek.stderr.toString()).toContain("Permission denied");
  }
  expect(statSync(`/proc/${icecorePid}/environ`).uid).toBe(0);

  writeFileSync(join(run.dir, "release"), "");
  expect((await run.exited).code).toBe(0);
  expect(containsPem(run.stdout())).toBeNull();
  expect(containsPem(run.stderr())).toBeNull();
  expect(containsPem(readFileSync(run.auditPath))).toBeNull();
  // Every log line is a JSON event with the SPEC §2 fields.
  for (const event of run.events) {
    expect(typeof event.ts).toBe("string");
    expect(typeof event.uptime_ms).toBe("number");
  }
  const names = run.events.map((e) => e.event);
  for (const expected of ["certs_minted", "handoff_listening", "child_spawned", "handoff_delivered", "handoff_closed", "api_ready", "child_exited", "shutdown"]) {
    expect(names).toContain(expected);
  }
}, 60_000);
