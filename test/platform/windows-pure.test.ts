/**
 * The Windows platform's logic that runs on any OS: endpoint names, the SDDL it applies, the
 * x64 struct layouts it hands to kernel32, and the parent-chain walk with creation times. What
 * needs Windows itself runs under Wine in test/e2e/windows-wine.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { currentPlatform } from "../../src/platform/index.ts";
import { windowsPlatform, isPipeName, pipeName } from "../../src/platform/windows.ts";
import { isSid, parseDacl, pipeSddl, processSddl, sddlOwner, PROCESS_RIGHTS_FOR_USER } from "../../src/platform/win32-security.ts";
import { isSelfOrDescendantIn, type ProcessTable } from "../../src/platform/win32-process.ts";
import {
  JOB_EXTENDED_LIMIT_SIZE,
  JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
  OVERLAPPED_SIZE,
  PROCESS_VM_READ,
  PROCESSENTRY32W_SIZE,
  SECURITY_ATTRIBUTES_SIZE,
  jobExtendedLimit,
  overlapped,
  parseProcessEntry,
  processEntryBuffer,
  securityAttributes,
  wide,
} from "../../src/platform/win32-ffi.ts";
import { defaultAuditPath } from "../../src/audit/audit-log.ts";

const SID = "S-1-5-21-1004336348-1177238915-682003330-1001";

describe("endpoint names (SPEC §4.1: \\\\.\\pipe\\icecore-<32 hex>)", () => {
  test("a fresh name has the SPEC shape and is accepted; fresh names differ", () => {
    const name = pipeName();
    expect(name).toMatch(/^\\\\\.\\pipe\\icecore-[0-9a-f]{32}$/);
    expect(isPipeName(name)).toBe(true);
    expect(pipeName()).not.toBe(name);
    expect(windowsPlatform.endpoints.isEndpointName(name)).toBe(true);
  });

  test("anything else is refused before connecting", () => {
    const hex = "0123456789abcdef0123456789abcdef";
    for (const bad of [
      `\\\\.\\pipe\\icecore-${hex.toUpperCase()}`,
      `\\\\.\\pipe\\icecore-${hex.slice(1)}`,
      `\\\\.\\pipe\\icecore-${hex}0`,
      `\\\\server\\pipe\\icecore-${hex}`, // a remote pipe
      `\\\\?\\pipe\\icecore-${hex}`,
      `\\\\.\\pipe\\other-${hex}`,
      `\\\\.\\pipe\\icecore-${hex}\\..\\x`,
      `@icecore-${hex}`, // the Linux name
      `C:\\Users\\me\\icecore-${hex}.sock`,
    ]) {
      expect(isPipeName(bad)).toBe(false);
    }
  });

  test("currentPlatform picks this implementation for win32, and it can name peers", () => {
    expect(currentPlatform("win32")).toBe(windowsPlatform);
    expect(windowsPlatform.canIdentifyPeers).toBe(true);
    expect(windowsPlatform.hardening.orphanGuard()).toEqual([]);
  });
});

describe("security descriptors", () => {
  test("the pipe: owner and only grantee is icecore's user SID, read access only, DACL protected", () => {
    const sddl = pipeSddl(SID);
    expect(sddl).toBe(`O:${SID}D:P(A;;GR;;;${SID})`);
    expect(sddlOwner(sddl)).toBe(SID);
    const dacl = parseDacl(sddl)!;
    expect(dacl.flags).toBe("P");
    expect(dacl.aces).toEqual([{ type: "A", flags: "", rights: "GR", sid: SID }]);
  });

  test("a SID that is not a SID cannot smuggle ACEs into the SDDL", () => {
    expect(isSid(SID)).toBe(true);
    for (const bad of [`${SID})(A;;GA;;;WD`, "WD", "", "S-1-", "S-1-5-21-1;x"]) {
      expect(isSid(bad)).toBe(false);
      expect(() => pipeSddl(bad)).toThrow(RangeError);
      expect(() => processSddl(bad)).toThrow(RangeError);
    }
  });

  test("icecore's process: its user and OWNER RIGHTS keep query, wait and terminate, never PROCESS_VM_READ; SYSTEM keeps all", () => {
    const dacl = parseDacl(processSddl(SID))!;
    expect(dacl.flags).toBe("P");
    expect(dacl.aces.map((a) => a.sid)).toEqual([SID, "OW", "SY"]);
    for (const ace of dacl.aces.slice(0, 2)) {
      const rights = Number(ace.rights);
      expect(rights).toBe(PROCESS_RIGHTS_FOR_USER);
      expect(rights & PROCESS_VM_READ).toBe(0);
      expect(rights & 0x00040000 /* WRITE_DAC */).toBe(0);
    }
    expect(dacl.aces[2]!.rights).toBe("GA");
  });

  test("parseDacl reads ACEs from a descriptor Windows wrote back", () => {
    // The form ConvertSecurityDescriptorToStringSecurityDescriptorW gives (PLATFORM-NOTES).
    const dacl = parseDacl("O:S-1-5-21-0-0-0-513D:P(A;;GA;;;OW)(A;OICI;FA;;;WD)")!;
    expect(dacl.aces.map((a) => [a.type, a.rights, a.sid])).toEqual([
      ["A", "GA", "OW"],
      ["A", "FA", "WD"],
    ]);
    expect(parseDacl("O:BA")).toBeNull();
  });
});

describe("x64 struct layouts handed to kernel32", () => {
  test("OVERLAPPED: 32 bytes, hEvent at 24", () => {
    const bytes = overlapped(0x1234);
    expect(bytes.byteLength).toBe(OVERLAPPED_SIZE);
    expect(OVERLAPPED_SIZE).toBe(32);
    const view = new DataView(bytes.buffer);
    expect(view.getBigUint64(24, true)).toBe(0x1234n);
    expect([...bytes.subarray(0, 24)].every((b) => b === 0)).toBe(true);
  });

  test("SECURITY_ATTRIBUTES: 24 bytes, nLength, descriptor at 8, never inherited", () => {
    const bytes = securityAttributes(0x7ff6_1234_5678);
    expect(bytes.byteLength).toBe(SECURITY_ATTRIBUTES_SIZE);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(24);
    expect(view.getBigUint64(8, true)).toBe(0x7ff6_1234_5678n);
    expect(view.getUint32(16, true)).toBe(0);
  });

  test("PROCESSENTRY32W: 568 bytes, dwSize set, pid at 8, parent at 32, exe name at 44", () => {
    const bytes = processEntryBuffer();
    expect(bytes.byteLength).toBe(PROCESSENTRY32W_SIZE);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(568);
    view.setUint32(8, 4242, true);
    view.setUint32(32, 17, true);
    bytes.set(Buffer.from("icecore.exe\0garbage", "utf16le"), 44);
    expect(parseProcessEntry(bytes)).toEqual({ pid: 4242, parentPid: 17, exeFile: "icecore.exe" });
  });

  test("JOBOBJECT_EXTENDED_LIMIT_INFORMATION: 144 bytes, LimitFlags at 16", () => {
    const bytes = jobExtendedLimit(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE);
    expect(bytes.byteLength).toBe(JOB_EXTENDED_LIMIT_SIZE);
    expect(new DataView(bytes.buffer).getUint32(16, true)).toBe(0x2000);
  });

  test("strings go to *W functions as NUL-terminated UTF-16LE", () => {
    expect([...wide("\\\\.\\p")]).toEqual([0x5c, 0, 0x5c, 0, 0x2e, 0, 0x5c, 0, 0x70, 0, 0, 0]);
  });
});

describe("parent chain with creation times (SPEC §4 Windows)", () => {
  /** pid → [parent pid, creation time]; a pid absent from the map is not running. */
  const table = (rows: Record<number, [number, bigint]>): ProcessTable => ({
    parentOf: (pid) => rows[pid]?.[0] ?? null,
    createdAt: (pid) => rows[pid]?.[1] ?? null,
  });
  // icecore 100 started the child 200, which started 300, which started 400; 900 is unrelated.
  const tree = { 100: [1, 10n], 200: [100, 20n], 300: [200, 30n], 400: [300, 40n], 900: [1, 5n] } as Record<number, [number, bigint]>;

  test("the child itself and its descendants pass; others and ancestors do not", () => {
    const t = table(tree);
    expect(isSelfOrDescendantIn(t, 200, 20n, 200)).toBe(true);
    expect(isSelfOrDescendantIn(t, 300, 30n, 200)).toBe(true);
    expect(isSelfOrDescendantIn(t, 400, 40n, 200)).toBe(true);
    expect(isSelfOrDescendantIn(t, 900, 5n, 200)).toBe(false);
    expect(isSelfOrDescendantIn(t, 100, 10n, 200)).toBe(false);
  });

  test("a recycled pid does not pass: the child 200 exited and an unrelated process got its pid", () => {
    // 400's recorded parent is 300; 300's recorded parent is 200, but pid 200 now belongs to a
    // process created at 50, after 300: the real 200 is gone, and so is the chain.
    const t = table({ ...tree, 200: [900, 50n] });
    expect(isSelfOrDescendantIn(t, 400, 40n, 200)).toBe(false);
    // Control: the same walk with the original 200 passes.
    expect(isSelfOrDescendantIn(table(tree), 400, 40n, 200)).toBe(true);
  });

  test("an orphan whose parent is gone does not pass (Windows does not reparent)", () => {
    const rows = { ...tree };
    delete rows[300];
    expect(isSelfOrDescendantIn(table(rows), 400, 40n, 200)).toBe(false);
  });

  test("a parent created in the same clock tick as its child passes", () => {
    expect(isSelfOrDescendantIn(table({ 200: [100, 20n], 300: [200, 20n] }), 300, 20n, 200)).toBe(true);
  });

  test("loops and endless chains end", () => {
    expect(isSelfOrDescendantIn(table({ 5: [5, 1n] }), 5, 1n, 200)).toBe(false);
    expect(isSelfOrDescendantIn(table({ 5: [6, 1n], 6: [5, 1n] }), 5, 1n, 200)).toBe(false);
    const long: Record<number, [number, bigint]> = { 1000: [200, 1n] };
    for (let pid = 1001; pid < 1200; pid++) long[pid] = [pid - 1, 1n];
    expect(isSelfOrDescendantIn(table({ ...long, 200: [1, 1n] }), 1199, 1n, 200)).toBe(false);
    expect(isSelfOrDescendantIn(table({ ...long, 200: [1, 1n] }), 1100, 1n, 200)).toBe(true);
  });
});

describe("the audit log's default place on Windows", () => {
  test("%LOCALAPPDATA%\\icecore\\audit.jsonl, else under %USERPROFILE%", () => {
    expect(defaultAuditPath({ LOCALAPPDATA: "C:\\Users\\me\\AppData\\Local" }, "win32")).toBe("C:\\Users\\me\\AppData\\Local\\icecore\\audit.jsonl");
    expect(defaultAuditPath({ USERPROFILE: "C:\\Users\\me" }, "win32")).toBe("C:\\Users\\me\\AppData\\Local\\icecore\\audit.jsonl");
    expect(defaultAuditPath({ HOME: "/home/me", LOCALAPPDATA: "C:\\x" }, "linux")).toBe("/home/me/.local/state/icecore/audit.jsonl");
  });
});
