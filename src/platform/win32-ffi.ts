/**
 * The Win32 calls icecore makes, through bun:ffi (SPEC §4: kernel32/advapi32), with the struct
 * layouts and constants they need. Libraries are opened on first use, so importing this module
 * on Linux or macOS (index.ts, the pure tests) is harmless. Layouts are x64 (SPEC §1 ships
 * windows-x64 only); offsets are from the Windows SDK headers named beside each.
 */
import { dlopen, FFIType, toArrayBuffer } from "bun:ffi";

const { i32, u32, i64, i64_fast, ptr, bool, void: none } = FFIType;
/** HANDLE, HLOCAL, PSID…: pointer-sized, returned as a number (handles and user-space addresses fit in 2^53; pseudo-handles are -1, -2). */
const handle = i64_fast;

function openKernel32() {
  return dlopen("kernel32.dll", {
    CreateNamedPipeW: { args: [ptr, u32, u32, u32, u32, u32, u32, ptr], returns: handle },
    ConnectNamedPipe: { args: [i64, ptr], returns: i32 },
    DisconnectNamedPipe: { args: [i64], returns: i32 },
    GetNamedPipeClientProcessId: { args: [i64, ptr], returns: i32 },
    GetNamedPipeServerProcessId: { args: [i64, ptr], returns: i32 },
    CreateFileW: { args: [ptr, u32, u32, ptr, u32, u32, i64], returns: handle },
    ReadFile: { args: [i64, ptr, u32, ptr, ptr], returns: i32 },
    WriteFile: { args: [i64, ptr, u32, ptr, ptr], returns: i32 },
    PeekNamedPipe: { args: [i64, ptr, u32, ptr, ptr, ptr], returns: i32 },
    FlushFileBuffers: { args: [i64], returns: i32 },
    CancelIoEx: { args: [i64, ptr], returns: i32 },
    GetOverlappedResult: { args: [i64, ptr, ptr, i32], returns: i32 },
    CloseHandle: { args: [i64], returns: i32 },
    CreateEventW: { args: [ptr, i32, i32, ptr], returns: handle },
    WaitForSingleObject: { args: [i64, u32], returns: u32 },
    GetLastError: { args: [], returns: u32 },
    OpenProcess: { args: [u32, i32, u32], returns: handle },
    GetProcessId: { args: [i64], returns: u32 },
    GetProcessTimes: { args: [i64, ptr, ptr, ptr, ptr], returns: i32 },
    QueryFullProcessImageNameW: { args: [i64, u32, ptr, ptr], returns: i32 },
    CreateToolhelp32Snapshot: { args: [u32, u32], returns: handle },
    Process32FirstW: { args: [i64, ptr], returns: i32 },
    Process32NextW: { args: [i64, ptr], returns: i32 },
    GetCurrentProcess: { args: [], returns: handle },
    GetCurrentProcessId: { args: [], returns: u32 },
    GetSystemTimeAsFileTime: { args: [ptr], returns: none },
    SetErrorMode: { args: [u32], returns: u32 },
    IsDebuggerPresent: { args: [], returns: i32 },
    CheckRemoteDebuggerPresent: { args: [i64, ptr], returns: i32 },
    CreateJobObjectW: { args: [ptr, ptr], returns: handle },
    SetInformationJobObject: { args: [i64, i32, ptr, u32], returns: i32 },
    AssignProcessToJobObject: { args: [i64, i64], returns: i32 },
    IsProcessInJob: { args: [i64, i64, ptr], returns: i32 },
    LocalFree: { args: [i64], returns: handle },
    lstrlenW: { args: [i64], returns: i32 },
  }).symbols;
}

function openAdvapi32() {
  return dlopen("advapi32.dll", {
    OpenProcessToken: { args: [i64, u32, ptr], returns: i32 },
    GetTokenInformation: { args: [i64, i32, ptr, u32, ptr], returns: i32 },
    ConvertSidToStringSidW: { args: [i64, ptr], returns: i32 },
    ConvertStringSecurityDescriptorToSecurityDescriptorW: { args: [ptr, u32, ptr, ptr], returns: i32 },
    ConvertSecurityDescriptorToStringSecurityDescriptorW: { args: [i64, u32, u32, ptr, ptr], returns: i32 },
    GetSecurityInfo: { args: [i64, i32, u32, ptr, ptr, ptr, ptr, ptr], returns: u32 },
    SetKernelObjectSecurity: { args: [i64, u32, i64], returns: i32 },
  }).symbols;
}

/** Windows Error Reporting's per-process switch lives in kernel32 (werapi.h); opened apart, as an optional symbol. */
function openWer() {
  return dlopen("kernel32.dll", {
    WerSetFlags: { args: [u32], returns: i32 },
  }).symbols;
}

type Kernel32 = ReturnType<typeof openKernel32>;
type Advapi32 = ReturnType<typeof openAdvapi32>;
type Wer = ReturnType<typeof openWer>;
let kernel32Cache: Kernel32 | undefined;
let advapi32Cache: Advapi32 | undefined;
let werCache: Wer | null | undefined;

export function kernel32(): Kernel32 {
  kernel32Cache ??= openKernel32();
  return kernel32Cache;
}

export function advapi32(): Advapi32 {
  advapi32Cache ??= openAdvapi32();
  return advapi32Cache;
}

/** null where kernel32 has no WerSetFlags (Windows without WER, old Wine). */
export function wer(): Wer | null {
  if (werCache === undefined) {
    try {
      werCache = openWer();
    } catch {
      werCache = null;
    }
  }
  return werCache;
}

// winerror.h
export const ERROR_FILE_NOT_FOUND = 2;
export const ERROR_BROKEN_PIPE = 109;
export const ERROR_INSUFFICIENT_BUFFER = 122;
export const ERROR_PIPE_BUSY = 231;
export const ERROR_NO_DATA = 232;
export const ERROR_PIPE_NOT_CONNECTED = 233;
export const ERROR_PIPE_CONNECTED = 535;
export const ERROR_IO_INCOMPLETE = 996;
export const ERROR_IO_PENDING = 997;

// winbase.h / winnt.h: pipes and files
export const PIPE_ACCESS_OUTBOUND = 0x00000002;
export const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000;
export const FILE_FLAG_OVERLAPPED = 0x40000000;
export const PIPE_TYPE_BYTE = 0x00000000;
export const PIPE_READMODE_BYTE = 0x00000000;
export const PIPE_WAIT = 0x00000000;
export const PIPE_REJECT_REMOTE_CLIENTS = 0x00000008;
export const GENERIC_READ = 0x80000000;
export const OPEN_EXISTING = 3;
/** CreateFileW dwFlagsAndAttributes: the server may not impersonate this client beyond Anonymous. */
export const SECURITY_SQOS_PRESENT = 0x00100000;
export const SECURITY_ANONYMOUS = 0x00000000;

// Processes, tokens, synchronisation
export const PROCESS_TERMINATE = 0x0001;
export const PROCESS_VM_READ = 0x0010;
export const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
export const SYNCHRONIZE = 0x00100000;
export const TOKEN_QUERY = 0x0008;
export const TOKEN_USER_CLASS = 1; // TOKEN_INFORMATION_CLASS TokenUser
export const TOKEN_ELEVATION_CLASS = 20; // TokenElevation
export const TH32CS_SNAPPROCESS = 0x00000002;
export const WAIT_OBJECT_0 = 0;
export const WAIT_TIMEOUT = 0x102;
export const INVALID_HANDLE_VALUE = -1;

// SetErrorMode (errhandlingapi.h)
export const SEM_FAILCRITICALERRORS = 0x0001;
export const SEM_NOGPFAULTERRORBOX = 0x0002;
export const SEM_NOOPENFILEERRORBOX = 0x8000;
// WerSetFlags (werapi.h): leave the heap out of any report WER still makes.
export const WER_FAULT_REPORTING_FLAG_NOHEAP = 1;

// Jobs (winnt.h)
export const JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9;
export const JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400;
export const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000;

// Security descriptors (winnt.h, sddl.h, accctrl.h)
export const SDDL_REVISION_1 = 1;
export const SE_KERNEL_OBJECT = 6;
export const OWNER_SECURITY_INFORMATION = 0x00000001;
export const DACL_SECURITY_INFORMATION = 0x00000004;
export const PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000;

export class Win32Error extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
  ) {
    super(`${call} failed (Windows error ${code})`);
    this.name = "Win32Error";
  }
}

/** GetLastError right after a failed call: nothing may run in between (bun:ffi makes no Win32 call of its own here). */
export function lastError(): number {
  return kernel32().GetLastError();
}

export function fail(call: string): never {
  throw new Win32Error(call, lastError());
}

export function isValidHandle(h: number | bigint): h is number {
  return typeof h === "number" && h !== 0 && h !== INVALID_HANDLE_VALUE;
}

/** A NUL-terminated UTF-16LE string, as every *W function takes it. */
export function wide(text: string): Buffer {
  return Buffer.from(text + "\0", "utf16le");
}

/** The UTF-16LE string at `address` (NUL-terminated), e.g. what ConvertSidToStringSidW allocated. */
export function readWide(address: number): string {
  const length = kernel32().lstrlenW(address);
  if (length <= 0) return "";
  return Buffer.from(toArrayBuffer(address, 0, length * 2)).toString("utf16le");
}

/** Read a string a Win32 call allocated with LocalAlloc, then free it. */
export function takeLocalWide(address: number): string {
  try {
    return readWide(address);
  } finally {
    kernel32().LocalFree(address);
  }
}

export function pointerAt(cell: BigUint64Array, index = 0): number {
  return Number(cell[index]!);
}

/** OVERLAPPED (minwinbase.h): Internal, InternalHigh, Offset/OffsetHigh (or Pointer), hEvent: 32 bytes on x64. */
export const OVERLAPPED_SIZE = 32;
export const OVERLAPPED_HEVENT = 24;

export function overlapped(event: number): Uint8Array {
  const bytes = new Uint8Array(OVERLAPPED_SIZE);
  new DataView(bytes.buffer).setBigInt64(OVERLAPPED_HEVENT, BigInt(event), true);
  return bytes;
}

/** SECURITY_ATTRIBUTES (minwinbase.h): nLength, lpSecurityDescriptor at 8, bInheritHandle at 16: 24 bytes on x64. */
export const SECURITY_ATTRIBUTES_SIZE = 24;

export function securityAttributes(descriptor: number): Uint8Array {
  const bytes = new Uint8Array(SECURITY_ATTRIBUTES_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SECURITY_ATTRIBUTES_SIZE, true);
  view.setBigUint64(8, BigInt(descriptor), true);
  view.setUint32(16, 0, true); // never inherited by a child
  return bytes;
}

/**
 * PROCESSENTRY32W (tlhelp32.h) on x64: dwSize 0, cntUsage 4, th32ProcessID 8, (pad) th32DefaultHeapID
 * 16, th32ModuleID 24, cntThreads 28, th32ParentProcessID 32, pcPriClassBase 36, dwFlags 40,
 * szExeFile[MAX_PATH] 44–563, padded to 568.
 */
export const PROCESSENTRY32W_SIZE = 568;
const PE_PID = 8;
const PE_PARENT = 32;
const PE_EXE = 44;
const MAX_PATH = 260;

export function processEntryBuffer(): Uint8Array {
  const bytes = new Uint8Array(PROCESSENTRY32W_SIZE);
  new DataView(bytes.buffer).setUint32(0, PROCESSENTRY32W_SIZE, true);
  return bytes;
}

export interface ProcessEntry {
  pid: number;
  parentPid: number;
  exeFile: string;
}

export function parseProcessEntry(bytes: Uint8Array): ProcessEntry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, PROCESSENTRY32W_SIZE);
  const name = Buffer.from(bytes.buffer, bytes.byteOffset + PE_EXE, MAX_PATH * 2).toString("utf16le");
  const nul = name.indexOf("\0");
  return { pid: view.getUint32(PE_PID, true), parentPid: view.getUint32(PE_PARENT, true), exeFile: nul === -1 ? name : name.slice(0, nul) };
}

/**
 * JOBOBJECT_EXTENDED_LIMIT_INFORMATION (winnt.h) on x64: BasicLimitInformation (64 bytes, LimitFlags
 * at 16), IoInfo (48), ProcessMemoryLimit, JobMemoryLimit, PeakProcessMemoryUsed, PeakJobMemoryUsed:
 * 144 bytes.
 */
export const JOB_EXTENDED_LIMIT_SIZE = 144;
const JOB_LIMIT_FLAGS = 16;

export function jobExtendedLimit(limitFlags: number): Uint8Array {
  const bytes = new Uint8Array(JOB_EXTENDED_LIMIT_SIZE);
  new DataView(bytes.buffer).setUint32(JOB_LIMIT_FLAGS, limitFlags, true);
  return bytes;
}
