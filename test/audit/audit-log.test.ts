/** The audit trail (src/audit/audit-log.ts): 0600, fail-closed `record`, never-throwing `note`, the recent window. */
import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditUnavailable, createAuditLog, defaultAuditPath, openAuditLog } from "../../src/audit/audit-log.ts";
import { scratchDir } from "../support/users.ts";

describe("the file", () => {
  test("created 0600 in a 0700 directory; an existing file is tightened to 0600", () => {
    const dir = scratchDir(null, "audit");
    const path = join(dir, "state", "audit.jsonl");
    const log = openAuditLog(path);
    log.record({ event: "x" });
    log.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
    const loose = join(dir, "loose.jsonl");
    writeFileSync(loose, "");
    chmodSync(loose, 0o644);
    openAuditLog(loose).close();
    expect(statSync(loose).mode & 0o777).toBe(0o600);
  });

  test("one JSON line per record, with its time", () => {
    const path = join(scratchDir(null, "audit"), "audit.jsonl");
    const log = openAuditLog(path);
    log.record({ event: "a", n: 1 });
    log.note({ event: "b", s: "x" });
    log.close();
    const lines = readFileSync(path, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines).toMatchObject([{ event: "a", n: 1 }, { event: "b", s: "x" }]);
    for (const line of lines) expect(Date.parse(line.time)).toBeGreaterThan(0);
  });
});

describe("fail-closed (SPEC §5)", () => {
  const failing = () => {
    const failures: [string, string][] = [];
    const log = createAuditLog(null, () => {
      throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    }, () => {}, { onFailure: (event, cause) => failures.push([event, cause]) });
    return { log, failures };
  };

  test("record() throws AuditUnavailable naming the cause, so the caller does not act", () => {
    const { log } = failing();
    expect(() => log.record({ event: "command" })).toThrow(AuditUnavailable);
    expect(() => log.record({ event: "command" })).toThrow(/ENOSPC/);
  });

  test("note() never throws: the failure is reported and the caller goes on", () => {
    const { log, failures } = failing();
    expect(log.note({ event: "job_finished" })).toBe(false);
    expect(failures).toEqual([["job_finished", "ENOSPC"]]);
  });

  test("control: a working sink records, and note() says so", () => {
    const lines: string[] = [];
    const log = createAuditLog(null, (line) => void lines.push(line), () => {});
    log.record({ event: "a" });
    expect(log.note({ event: "b" })).toBe(true);
    expect(lines).toHaveLength(2);
  });

  test("a closed log refuses records (fail-closed) and notes without throwing", () => {
    const log = createAuditLog(null, () => {}, () => {});
    log.close();
    expect(() => log.record({ event: "a" })).toThrow(AuditUnavailable);
    expect(log.note({ event: "b" })).toBe(false);
  });
});

test("recent(): newest first, bounded, filtered; what failed to be written is not shown", () => {
  let fail = false;
  const log = createAuditLog(null, () => {
    if (fail) throw new Error("EIO");
  }, () => {}, { recentCapacity: 3 });
  for (const n of [1, 2, 3, 4]) log.record({ event: "e", n, child_id: n % 2 ? "odd" : "even" });
  fail = true;
  log.note({ event: "e", n: 5 });
  expect(log.recent(10).map((r) => r.n)).toEqual([4, 3, 2]);
  expect(log.recent(10, (r) => r.child_id === "odd").map((r) => r.n)).toEqual([3]);
  expect(log.recent(1).map((r) => r.n)).toEqual([4]);
});

test("the default location: $XDG_STATE_HOME, else ~/.local/state; %LOCALAPPDATA% on Windows", () => {
  expect(defaultAuditPath({ HOME: "/home/a", XDG_STATE_HOME: "/state" }, "linux")).toBe("/state/icecore/audit.jsonl");
  expect(defaultAuditPath({ HOME: "/home/a", XDG_STATE_HOME: "relative" }, "linux")).toBe("/home/a/.local/state/icecore/audit.jsonl");
  expect(defaultAuditPath({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }, "win32")).toBe("C:\\Users\\a\\AppData\\Local\\icecore\\audit.jsonl");
});
