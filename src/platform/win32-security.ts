/**
 * Windows identities and security descriptors: a process's token user SID (what `uid` is on
 * Windows), token elevation, and the SDDL of the handoff pipe and of icecore's own process.
 */
import {
  DACL_SECURITY_INFORMATION,
  OWNER_SECURITY_INFORMATION,
  PROCESS_QUERY_LIMITED_INFORMATION,
  PROCESS_TERMINATE,
  PROTECTED_DACL_SECURITY_INFORMATION,
  SDDL_REVISION_1,
  SE_KERNEL_OBJECT,
  SYNCHRONIZE,
  TOKEN_ELEVATION_CLASS,
  TOKEN_QUERY,
  TOKEN_USER_CLASS,
  ERROR_INSUFFICIENT_BUFFER,
  Win32Error,
  advapi32,
  fail,
  kernel32,
  lastError,
  pointerAt,
  takeLocalWide,
  wide,
} from "./win32-ffi.ts";

const SID_PATTERN = /^S-1-\d+(-\d+)+$/;

export function isSid(text: string): boolean {
  return SID_PATTERN.test(text);
}

function withToken<T>(process: number, use: (token: number) => T): T {
  const cell = new BigUint64Array(1);
  if (!advapi32().OpenProcessToken(process, TOKEN_QUERY, cell)) fail("OpenProcessToken");
  const token = pointerAt(cell);
  try {
    return use(token);
  } finally {
    kernel32().CloseHandle(token);
  }
}

function tokenInformation(token: number, infoClass: number): Uint8Array {
  const needed = new Uint32Array(1);
  let buffer = new Uint8Array(64);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (advapi32().GetTokenInformation(token, infoClass, buffer, buffer.byteLength, needed)) return buffer;
    if (lastError() !== ERROR_INSUFFICIENT_BUFFER) fail("GetTokenInformation");
    buffer = new Uint8Array(needed[0]!);
  }
  throw new Win32Error("GetTokenInformation", ERROR_INSUFFICIENT_BUFFER);
}

/** The user SID ("S-1-5-21-…") of the token of the process behind `process` (a handle with PROCESS_QUERY_LIMITED_INFORMATION). */
export function processUserSid(process: number): string {
  return withToken(process, (token) => {
    const info = tokenInformation(token, TOKEN_USER_CLASS);
    // TOKEN_USER = { SID_AND_ATTRIBUTES User = { PSID Sid; DWORD Attributes } }: Sid at 0 points into `info`.
    const sid = Number(new DataView(info.buffer).getBigUint64(0, true));
    const text = new BigUint64Array(1);
    if (!advapi32().ConvertSidToStringSidW(sid, text)) fail("ConvertSidToStringSidW");
    return takeLocalWide(pointerAt(text));
  });
}

/** TokenElevation: is this a full administrator token (UAC elevated, or a service account)? */
export function processIsElevated(process: number): boolean {
  return withToken(process, (token) => new DataView(tokenInformation(token, TOKEN_ELEVATION_CLASS).buffer).getUint32(0, true) !== 0);
}

/**
 * SPEC §4 Windows: the handoff pipe's descriptor. Owner: icecore's user. DACL protected (nothing
 * inherited) with one ACE: GENERIC_READ for icecore's user SID, which is all a client needs to
 * read its bundle. No Everyone, no Anonymous, no NETWORK, no OWNER RIGHTS (whoever owns the pipe
 * object is already us); no FILE_CREATE_PIPE_INSTANCE for anyone, so no second instance can be
 * added even by this user. Remote clients are refused by PIPE_REJECT_REMOTE_CLIENTS besides.
 */
export function pipeSddl(userSid: string): string {
  if (!isSid(userSid)) throw new RangeError(`not a SID: ${userSid}`);
  return `O:${userSid}D:P(A;;GR;;;${userSid})`;
}

/** Process rights icecore's own user keeps on icecore: see its name and state, wait for it, end it. Not PROCESS_VM_READ. */
export const PROCESS_RIGHTS_FOR_USER = SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_TERMINATE;

/**
 * SPEC §7 on Windows (the analogue of PR_SET_DUMPABLE 0): icecore's process DACL grants its own
 * user only PROCESS_RIGHTS_FOR_USER, so another process of that user can no longer open it with
 * PROCESS_VM_READ (ReadProcessMemory, MiniDumpWriteDump). The OWNER RIGHTS ACE takes away the
 * owner's implicit READ_CONTROL and WRITE_DAC, so that process cannot rewrite the DACL either.
 * SYSTEM keeps full access. Holders of SeDebugPrivilege (elevated administrators) bypass DACLs.
 */
export function processSddl(userSid: string): string {
  if (!isSid(userSid)) throw new RangeError(`not a SID: ${userSid}`);
  const rights = `0x${PROCESS_RIGHTS_FOR_USER.toString(16)}`;
  return `D:P(A;;${rights};;;${userSid})(A;;${rights};;;OW)(A;;GA;;;SY)`;
}

/** Runs `use` with a self-relative security descriptor built from `sddl`, freed afterwards. */
export function withSecurityDescriptor<T>(sddl: string, use: (descriptor: number) => T): T {
  const cell = new BigUint64Array(1);
  if (!advapi32().ConvertStringSecurityDescriptorToSecurityDescriptorW(wide(sddl), SDDL_REVISION_1, cell, null)) {
    fail("ConvertStringSecurityDescriptorToSecurityDescriptorW");
  }
  const descriptor = pointerAt(cell);
  try {
    return use(descriptor);
  } finally {
    kernel32().LocalFree(descriptor);
  }
}

/** Replace the DACL of a kernel object (icecore's own process) with the one `sddl` describes, protected. */
export function setKernelObjectDacl(object: number, sddl: string): void {
  withSecurityDescriptor(sddl, (descriptor) => {
    if (!advapi32().SetKernelObjectSecurity(object, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, descriptor)) {
      fail("SetKernelObjectSecurity");
    }
  });
}

/** The owner and DACL of a kernel object (a pipe, a process) as SDDL, read back from the kernel. */
export function kernelObjectSddl(object: number): string {
  const info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
  const cell = new BigUint64Array(1);
  const code = advapi32().GetSecurityInfo(object, SE_KERNEL_OBJECT, info, null, null, null, null, cell);
  if (code !== 0) throw new Win32Error("GetSecurityInfo", code);
  const descriptor = pointerAt(cell);
  try {
    const text = new BigUint64Array(1);
    if (!advapi32().ConvertSecurityDescriptorToStringSecurityDescriptorW(descriptor, SDDL_REVISION_1, info, text, null)) {
      fail("ConvertSecurityDescriptorToStringSecurityDescriptorW");
    }
    return takeLocalWide(pointerAt(text));
  } finally {
    kernel32().LocalFree(descriptor);
  }
}

export interface Ace {
  type: string;
  flags: string;
  rights: string;
  sid: string;
}

/** The DACL's ACEs of an SDDL string ("D:P(A;;GR;;;S-1-…)(…)"), and its flags: enough to check who is granted what. */
export function parseDacl(sddl: string): { flags: string; aces: Ace[] } | null {
  const match = /D:([A-Z]*)((?:\([^)]*\))*)/.exec(sddl);
  if (!match) return null;
  const aces = [...match[2]!.matchAll(/\(([^)]*)\)/g)].map((m) => {
    const [type = "", flags = "", rights = "", , , sid = ""] = m[1]!.split(";");
    return { type, flags, rights, sid };
  });
  return { flags: match[1]!, aces };
}

/** The owner SID of an SDDL string, or null. */
export function sddlOwner(sddl: string): string | null {
  return /O:(S-1-\d+(?:-\d+)+|[A-Z]{2})/.exec(sddl)?.[1] ?? null;
}
