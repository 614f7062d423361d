/**
 * Windows: `\\.\pipe\icecore-<32 hex>` endpoints (SPEC §4 Windows), the peer named by
 * GetNamedPipeClientProcessId and held by a process handle, its user the SID of its process
 * token, ancestry from a Toolhelp snapshot checked with creation times. SPEC §4.1, §4.3, §7.
 * Everything through bun:ffi on kernel32/advapi32 (win32-*.ts).
 */
import {
  JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
  JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
  JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
  JOB_EXTENDED_LIMIT_SIZE,
  SEM_FAILCRITICALERRORS,
  SEM_NOGPFAULTERRORBOX,
  SEM_NOOPENFILEERRORBOX,
  WER_FAULT_REPORTING_FLAG_NOHEAP,
  Win32Error,
  fail,
  isValidHandle,
  jobExtendedLimit,
  kernel32,
  lastError,
  wer,
} from "./win32-ffi.ts";
import { closeHandle, creationTime, imagePath, isRunning, isSelfOrDescendantIn, liveProcessTable, openProcess, processIdOf, selfIsDescendantOf, systemTimeNow } from "./win32-process.ts";
import { processIsElevated, processSddl, processUserSid, setKernelObjectDacl } from "./win32-security.ts";
import { createPipe, listenPipe, receiveFromPipe, type PipeClient } from "./win32-pipe.ts";
import { PeerUnidentifiable, ServerNotTrusted, endpointToken, type Peer, type PeerCredentials, type Platform } from "./platform.ts";

export const PIPE_PREFIX = "\\\\.\\pipe\\icecore-";
const NAME_PATTERN = /^\\\\\.\\pipe\\icecore-[0-9a-f]{32}$/;

export function pipeName(token: string = endpointToken()): string {
  return `${PIPE_PREFIX}${token}`;
}

export function isPipeName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

let ownSid: string | undefined;

/** icecore's user: the SID of this process's token (compared with === to a peer's). */
export function currentUserSid(): string {
  ownSid ??= processUserSid(kernel32().GetCurrentProcess() as number);
  return ownSid;
}

/** The client's pid from the pipe, its process opened at once, its user from that process's token. */
function identifyClient(pipe: number): PipeClient {
  const k = kernel32();
  const cell = new Uint32Array(1);
  if (!k.GetNamedPipeClientProcessId(pipe, cell)) throw new PeerUnidentifiable(`GetNamedPipeClientProcessId failed (Windows error ${lastError()})`);
  const pid = cell[0]!;
  const seenAt = systemTimeNow();
  const process = openProcess(pid);
  if (process === null) throw new PeerUnidentifiable(`the process of client pid ${pid} cannot be opened (Windows error ${lastError()}): gone, or not this user's`);
  try {
    const uid = processUserSid(process);
    return { creds: { pid, uid }, process, seenAt };
  } catch (error) {
    closeHandle(process);
    throw new PeerUnidentifiable(`the token of client pid ${pid} cannot be read: ${(error as Error).message}`);
  }
}

/**
 * A connected client, pinned by its process handle: while icecore holds it, the process object
 * (and so its pid) cannot be reused. The process must have been created before the connection
 * was seen, or the pid was recycled between the client's connect and OpenProcess.
 */
class WindowsPeer implements Peer {
  readonly exe: string | null;
  readonly creds: PeerCredentials;
  private readonly created: bigint;
  private process: number | null;

  constructor(client: PipeClient) {
    this.creds = client.creds;
    this.process = client.process;
    try {
      this.created = creationTime(client.process);
      if (this.created > client.seenAt) throw new PeerUnidentifiable(`pid ${client.creds.pid} was created after it connected: a recycled pid`);
      if (!isRunning(client.process)) throw new PeerUnidentifiable(`peer pid ${client.creds.pid} is gone`);
    } catch (error) {
      this.release();
      throw error instanceof PeerUnidentifiable ? error : new PeerUnidentifiable((error as Error).message);
    }
    this.exe = imagePath(client.process);
  }

  isSelfOrDescendantOf(ancestorPid: number): boolean {
    return isSelfOrDescendantIn(liveProcessTable(), this.creds.pid, this.created, ancestorPid);
  }

  stillSame(): boolean {
    return this.process !== null && isRunning(this.process) && processIdOf(this.process) === this.creds.pid;
  }

  release(): void {
    if (this.process !== null) closeHandle(this.process);
    this.process = null;
  }
}

/**
 * SPEC §4 mutual check, client side: the pipe's server process runs as this user and is an
 * ancestor of this process, each step up the chain created before the one below it.
 */
function checkServer(pipe: number, name: string): void {
  const cell = new Uint32Array(1);
  if (!kernel32().GetNamedPipeServerProcessId(pipe, cell)) throw new ServerNotTrusted(`the server of ${name} cannot be named (Windows error ${lastError()})`);
  const serverPid = cell[0]!;
  const server = openProcess(serverPid);
  if (server === null) throw new ServerNotTrusted(`the server of ${name} (pid ${serverPid}) cannot be opened (Windows error ${lastError()})`);
  let sid: string;
  try {
    sid = processUserSid(server);
  } finally {
    closeHandle(server);
  }
  const me = currentUserSid();
  if (sid !== me) throw new ServerNotTrusted(`the server of ${name} runs as ${sid}, not as this user (${me})`);
  if (!selfIsDescendantOf(serverPid)) throw new ServerNotTrusted(`the server of ${name} (pid ${serverPid}) is not an ancestor of this process`);
}

let job: number | null = null;
let hardened = false;

/**
 * Every process icecore starts inherits this job (no breakaway allowed), and the job kills them
 * all when its last handle closes, that is when icecore exits or is killed (SPEC §7 no orphans).
 * The handle is never closed and never inherited.
 */
function enterKillOnCloseJob(): void {
  if (job !== null) return;
  const k = kernel32();
  const created = k.CreateJobObjectW(null, null);
  if (!isValidHandle(created)) fail("CreateJobObjectW");
  const limits = jobExtendedLimit(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION);
  if (!k.SetInformationJobObject(created, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS, limits, JOB_EXTENDED_LIMIT_SIZE)) {
    const code = lastError();
    k.CloseHandle(created);
    throw new Win32Error("SetInformationJobObject", code);
  }
  if (!k.AssignProcessToJobObject(created, k.GetCurrentProcess())) {
    const code = lastError();
    k.CloseHandle(created);
    throw new Win32Error("AssignProcessToJobObject", code);
  }
  job = created;
}

export const windowsPlatform: Platform = {
  os: "win32",
  canIdentifyPeers: true,
  currentUid: currentUserSid,
  // A UAC-elevated or service (SYSTEM) token is the Windows counterpart of uid 0 (SPEC §7).
  isPrivileged: () => processIsElevated(kernel32().GetCurrentProcess() as number),
  endpoints: {
    listen(options) {
      const name = pipeName();
      const pipe = createPipe(name, currentUserSid());
      return listenPipe(
        name,
        pipe,
        { identify: identifyClient, pin: (client) => new WindowsPeer(client), dispose: (client) => closeHandle(client.process) },
        options,
      );
    },
    isEndpointName: isPipeName,
    receive: (name, options) => receiveFromPipe(name, (pipe) => checkServer(pipe, name), options),
  },
  hardening: {
    /**
     * SPEC §7 on Windows. No error dialogs and no heap in Windows Error Reporting's crash reports
     * (SetErrorMode, WerSetFlags NOHEAP); the process DACL closed to other processes of this user
     * (no PROCESS_VM_READ, so no ReadProcessMemory or MiniDumpWriteDump); children tied to
     * icecore by a kill-on-close job. docs/windows.md says what each does not cover.
     */
    harden() {
      if (hardened) return;
      const k = kernel32();
      const mode = SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX;
      k.SetErrorMode(k.SetErrorMode(mode) | mode);
      const report = wer();
      if (report !== null) {
        const result = report.WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP);
        if (result < 0) throw new Error(`WerSetFlags failed (HRESULT 0x${(result >>> 0).toString(16)})`);
      }
      setKernelObjectDacl(k.GetCurrentProcess() as number, processSddl(currentUserSid()));
      enterKillOnCloseJob();
      hardened = true;
    },
    tracerPid() {
      const k = kernel32();
      const remote = new Int32Array(1);
      const debugged = k.IsDebuggerPresent() !== 0 || (k.CheckRemoteDebuggerPresent(k.GetCurrentProcess(), remote) !== 0 && remote[0] !== 0);
      // Windows says that a debugger is attached, not which process it is: 0 stands for "unnamed".
      return debugged ? 0 : null;
    },
    attachBeforeHardenRisk: () =>
      "on Windows any process of the same user can open icecore with full access until icecore replaces its process DACL at start, and keep that handle",
    // The kill-on-close job from harden() already ends every descendant with icecore.
    orphanGuard: () => [],
  },
};
