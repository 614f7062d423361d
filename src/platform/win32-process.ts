/**
 * Windows processes: handles, creation times and the parent chain. Windows keeps a process's
 * parent pid as a number that is never updated, so once a parent exits its pid can be reused by
 * anyone; a parent is real only if it was created before its child (SPEC §4 Windows: "parent
 * chain checked with creation times, so a recycled pid cannot pass").
 */
import {
  INVALID_HANDLE_VALUE,
  PROCESS_QUERY_LIMITED_INFORMATION,
  SYNCHRONIZE,
  TH32CS_SNAPPROCESS,
  WAIT_TIMEOUT,
  fail,
  isValidHandle,
  kernel32,
  parseProcessEntry,
  processEntryBuffer,
} from "./win32-ffi.ts";
import { isSelfOrDescendant } from "./ancestry.ts";

/** What the ancestry walk needs to know about processes; the live one reads the system, tests give tables. */
export interface ProcessTable {
  /** The parent pid recorded when `pid` was created, or null when `pid` is not running. */
  parentOf(pid: number): number | null;
  /** The creation time (FILETIME) of the process now holding `pid`, or null when none is. */
  createdAt(pid: number): bigint | null;
}

/**
 * Is `ancestorPid` the process `pid` (created at `created`) or one of its ancestors? Each step up
 * must reach a process created no later than the one below it; a later one holds a recycled pid,
 * which means the real parent is gone and the chain is broken (false). Equal times pass: creation
 * times have the system clock's granularity, and a parent can start its child within one tick.
 */
export function isSelfOrDescendantIn(table: ProcessTable, pid: number, created: bigint, ancestorPid: number): boolean {
  let childCreated = created;
  // The walk is the one every OS uses (ancestry.ts); Windows' part is what counts as a parent.
  const realParentOf = (child: number): number | null => {
    const parent = table.parentOf(child);
    // pid 0 (Idle) and 4 (System) end every chain; a process cannot be its own parent.
    if (parent === null || parent === 0 || parent === child) return null;
    const parentCreated = table.createdAt(parent);
    if (parentCreated === null || parentCreated > childCreated) return null;
    childCreated = parentCreated;
    return parent;
  };
  return isSelfOrDescendant(pid, ancestorPid, realParentOf);
}

/** OpenProcess, or null when the process is gone or not ours to open. */
export function openProcess(pid: number, access = PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE): number | null {
  const handle = kernel32().OpenProcess(access, 0, pid);
  return isValidHandle(handle) ? handle : null;
}

export function closeHandle(handle: number): void {
  kernel32().CloseHandle(handle);
}

export function creationTime(process: number): bigint {
  const times = new BigUint64Array(4);
  if (!kernel32().GetProcessTimes(process, times.subarray(0, 1), times.subarray(1, 2), times.subarray(2, 3), times.subarray(3, 4))) {
    fail("GetProcessTimes");
  }
  return times[0]!;
}

export function systemTimeNow(): bigint {
  const now = new BigUint64Array(1);
  kernel32().GetSystemTimeAsFileTime(now);
  return now[0]!;
}

/** Is the process behind `process` (a handle with SYNCHRONIZE) still running? */
export function isRunning(process: number): boolean {
  return kernel32().WaitForSingleObject(process, 0) === WAIT_TIMEOUT;
}

export function processIdOf(process: number): number {
  return kernel32().GetProcessId(process);
}

export function imagePath(process: number): string | null {
  const buffer = new Uint16Array(32768);
  const size = new Uint32Array([buffer.length]);
  if (!kernel32().QueryFullProcessImageNameW(process, 0, buffer, size)) return null;
  return Buffer.from(buffer.buffer, 0, size[0]! * 2).toString("utf16le");
}

/** One CreateToolhelp32Snapshot: every running pid with the parent pid it was created with. */
export function parentPids(): Map<number, number> {
  const k = kernel32();
  const snapshot = k.CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snapshot === INVALID_HANDLE_VALUE || typeof snapshot !== "number") fail("CreateToolhelp32Snapshot");
  const parents = new Map<number, number>();
  try {
    const entry = processEntryBuffer();
    for (let ok = k.Process32FirstW(snapshot, entry); ok; ok = k.Process32NextW(snapshot, entry)) {
      const { pid, parentPid } = parseProcessEntry(entry);
      parents.set(pid, parentPid);
    }
  } finally {
    k.CloseHandle(snapshot);
  }
  return parents;
}

/** The live process table: one snapshot for parents, a short-lived handle per creation time. */
export function liveProcessTable(): ProcessTable {
  const parents = parentPids();
  return {
    parentOf: (pid) => parents.get(pid) ?? null,
    createdAt(pid) {
      const handle = openProcess(pid, PROCESS_QUERY_LIMITED_INFORMATION);
      if (handle === null) return null;
      try {
        return creationTime(handle);
      } catch {
        return null;
      } finally {
        closeHandle(handle);
      }
    },
  };
}

/** Is this process `ancestorPid` or a descendant of it? (The client side of the SPEC §4 mutual check.) */
export function selfIsDescendantOf(ancestorPid: number): boolean {
  const self = kernel32().GetCurrentProcess() as number;
  return isSelfOrDescendantIn(liveProcessTable(), kernel32().GetCurrentProcessId(), creationTime(self), ancestorPid);
}
