/**
 * The handoff endpoint on Windows (SPEC §4): one named-pipe instance, outbound, first instance
 * of its name, remote clients rejected, a DACL for icecore's user alone. Each connected client
 * is named by GetNamedPipeClientProcessId and its process opened, and held, before a byte is
 * written. Nothing here blocks the event loop: connect and write are overlapped and their
 * events are polled on a 1 ms timer (PLATFORM-NOTES, "Named pipes through bun:ffi under Wine").
 *
 * One instance makes SPEC §4.4 hold by construction: while a client is connected, any other
 * gets ERROR_PIPE_BUSY from the kernel; after delivery the handle is closed and the name is gone.
 */
import { readUntilClose } from "./posix-read.ts";
import {
  ERROR_BROKEN_PIPE,
  ERROR_FILE_NOT_FOUND,
  ERROR_IO_INCOMPLETE,
  ERROR_IO_PENDING,
  ERROR_NO_DATA,
  ERROR_PIPE_BUSY,
  ERROR_PIPE_CONNECTED,
  ERROR_PIPE_NOT_CONNECTED,
  FILE_FLAG_FIRST_PIPE_INSTANCE,
  FILE_FLAG_OVERLAPPED,
  GENERIC_READ,
  OPEN_EXISTING,
  PIPE_ACCESS_OUTBOUND,
  PIPE_READMODE_BYTE,
  PIPE_REJECT_REMOTE_CLIENTS,
  PIPE_TYPE_BYTE,
  PIPE_WAIT,
  SECURITY_ANONYMOUS,
  SECURITY_SQOS_PRESENT,
  WAIT_OBJECT_0,
  Win32Error,
  isValidHandle,
  kernel32,
  lastError,
  overlapped,
  securityAttributes,
  wide,
} from "./win32-ffi.ts";
import { pipeSddl, withSecurityDescriptor } from "./win32-security.ts";
import { EndpointBusy, EndpointNotReady, type EndpointOptions, type LocalListener, type Peer, type PeerCredentials, type PendingConnection, type ReceiveOptions } from "./platform.ts";

/** How often a pending connect, write or read is looked at. */
const POLL_MS = 1;

/**
 * Out-buffer 0: the pipe buffers nothing, so an overlapped write completes only once the client
 * has read the bytes. The FlushFileBuffers that follows (required before DisconnectNamedPipe,
 * which discards unread data) then has nothing to wait for and cannot block the event loop.
 */
const OUT_BUFFER_BYTES = 0;

export interface PipeClient {
  /** The kernel's answer for the connected client: pid, and the user SID of its process token. */
  creds: PeerCredentials;
  /** A process handle to the client, opened right after the connection was seen. The peer takes it over. */
  process: number;
  /** System time (FILETIME) when the connection was seen: the client process must have been created before it. */
  seenAt: bigint;
}

export interface PipePeerSource {
  /** Name and open the process of a just-connected client. Throws (with a reason) when it cannot. */
  identify(pipe: number): PipeClient;
  /** Pin the identified client as a Peer, which takes over its process handle. */
  pin(client: PipeClient): Peer;
  /** Close a client's process handle that no peer took over. */
  dispose(client: PipeClient): void;
}

/** An overlapped operation on `handle` whose completion is polled; its OVERLAPPED stays referenced until it ends. */
class Pending {
  readonly event: number;
  readonly overlapped: Uint8Array;

  constructor() {
    const event = kernel32().CreateEventW(null, 1, 0, null);
    if (!isValidHandle(event)) throw new Win32Error("CreateEventW", lastError());
    this.event = event;
    this.overlapped = overlapped(event);
  }

  done(): boolean {
    return kernel32().WaitForSingleObject(this.event, 0) === WAIT_OBJECT_0;
  }

  /** Bytes moved by the finished operation, or the Windows error it ended with. */
  result(handle: number): { ok: true; bytes: number } | { ok: false; code: number } {
    const bytes = new Uint32Array(1);
    if (kernel32().GetOverlappedResult(handle, this.overlapped, bytes, 0)) return { ok: true, bytes: bytes[0]! };
    return { ok: false, code: lastError() };
  }

  /** Cancel what is in flight and wait for the kernel to let go of the OVERLAPPED (and the buffer). */
  cancel(handle: number): void {
    const k = kernel32();
    if (k.CancelIoEx(handle, this.overlapped)) k.GetOverlappedResult(handle, this.overlapped, new Uint32Array(1), 1);
  }

  close(): void {
    kernel32().CloseHandle(this.event);
  }
}

export function createPipe(name: string, userSid: string): number {
  return withSecurityDescriptor(pipeSddl(userSid), (descriptor) => {
    const pipe = kernel32().CreateNamedPipeW(
      wide(name),
      PIPE_ACCESS_OUTBOUND | FILE_FLAG_FIRST_PIPE_INSTANCE | FILE_FLAG_OVERLAPPED,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
      1,
      OUT_BUFFER_BYTES,
      0,
      0,
      securityAttributes(descriptor),
    );
    // FILE_FLAG_FIRST_PIPE_INSTANCE: on Windows a name someone already holds fails here (SPEC §4.4:
    // abort, never reuse). Wine 8 ignores the flag (docs/windows.md).
    if (!isValidHandle(pipe)) throw new Win32Error(`CreateNamedPipeW(${name})`, lastError());
    return pipe;
  });
}

type State = "listening" | "connected" | "closed";

export function listenPipe(name: string, pipe: number, peers: PipePeerSource, options: EndpointOptions): LocalListener {
  const k = kernel32();
  let pending: Pending;
  try {
    pending = new Pending();
  } catch (error) {
    k.CloseHandle(pipe);
    throw error;
  }
  let state: State = "listening";
  let accepting = true;
  let timer: ReturnType<typeof setInterval> | null = null;

  const stopPolling = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };

  /** The name disappears with the last handle to its only instance. */
  const destroy = () => {
    if (state === "closed") return;
    state = "closed";
    stopPolling();
    pending.cancel(pipe);
    k.DisconnectNamedPipe(pipe);
    k.CloseHandle(pipe);
    pending.close();
  };

  const fault = (reason: string) => {
    options.onUnidentified?.(reason);
    accepting = false;
    destroy();
  };

  /** Back to waiting for the next client (after a refusal), or gone if the listener was closed meanwhile. */
  const relisten = () => {
    k.DisconnectNamedPipe(pipe);
    if (!accepting) {
      destroy();
      return;
    }
    state = "listening";
    listen();
  };

  const onClientConnected = () => {
    state = "connected";
    let client: PipeClient;
    try {
      client = peers.identify(pipe);
    } catch (error) {
      options.onUnidentified?.((error as Error).message);
      relisten();
      return;
    }
    let done = false;
    let owned = true;
    const finish = () => {
      done = true;
      if (owned) peers.dispose(client);
      owned = false;
    };
    const connection: PendingConnection = {
      creds: client.creds,
      pin() {
        if (!owned) throw new Error("the connection's peer was already pinned or released");
        owned = false;
        return peers.pin(client);
      },
      refuse() {
        if (done) return;
        finish();
        if (state === "connected") relisten();
      },
      deliver(bytes) {
        if (done) return Promise.reject(new Error("the connection was already used"));
        finish();
        return write(bytes);
      },
    };
    options.onConnection(connection);
  };

  const write = (bytes: Uint8Array): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let offset = 0;
      const end = (error: Error | null) => {
        stopPolling();
        bytes.fill(0);
        if (error === null) {
          // Required before DisconnectNamedPipe, which discards what the client has not read yet.
          // With a zero-size out-buffer the write completed only after the client read it all.
          k.FlushFileBuffers(pipe);
        }
        accepting = false;
        destroy();
        if (error === null) resolve();
        else reject(error);
      };
      const step = (): boolean => {
        while (offset < bytes.length) {
          const chunk = bytes.subarray(offset);
          const ok = k.WriteFile(pipe, chunk, chunk.length, null, pending.overlapped);
          if (!ok) {
            const code = lastError();
            if (code === ERROR_IO_PENDING) return false;
            end(writeError(code));
            return true;
          }
          const result = pending.result(pipe);
          if (!result.ok || result.bytes === 0) {
            end(writeError(result.ok ? ERROR_NO_DATA : result.code));
            return true;
          }
          offset += result.bytes;
        }
        end(null);
        return true;
      };
      if (step()) return;
      timer = setInterval(() => {
        if (!pending.done()) return;
        const result = pending.result(pipe);
        if (!result.ok && result.code === ERROR_IO_INCOMPLETE) return;
        if (!result.ok || result.bytes === 0) return end(writeError(result.ok ? ERROR_NO_DATA : result.code));
        offset += result.bytes;
        step();
      }, POLL_MS);
    });

  /**
   * Every outcome is handled from the timer, never from inside this call: a refusal calls
   * listen() again, and a flood of clients already waiting must not turn into recursion, nor
   * reach onConnection before listen() has returned the listener to its caller.
   */
  const listen = (first = false) => {
    let outcome: "connected" | "gone" | "pending";
    if (k.ConnectNamedPipe(pipe, pending.overlapped)) outcome = "connected";
    else {
      const code = lastError();
      if (code === ERROR_PIPE_CONNECTED) outcome = "connected"; // connected before this call
      else if (code === ERROR_NO_DATA) outcome = "gone"; // connected and already closed its end
      else if (code === ERROR_IO_PENDING) outcome = "pending";
      else if (first) {
        // The caller learns it at once and aborts the handoff (SPEC §4.4).
        accepting = false;
        destroy();
        throw new Win32Error("ConnectNamedPipe", code);
      } else {
        fault(`ConnectNamedPipe failed (Windows error ${code})`);
        return;
      }
    }
    timer = setInterval(() => {
      if (outcome === "pending") {
        if (!pending.done()) return;
        const result = pending.result(pipe);
        // The event is signalled but the operation is not over: look again on the next tick.
        if (!result.ok && result.code === ERROR_IO_INCOMPLETE) return;
        if (result.ok) outcome = "connected";
        else if (result.code === ERROR_NO_DATA || result.code === ERROR_BROKEN_PIPE) outcome = "gone";
        else {
          fault(`ConnectNamedPipe failed (Windows error ${result.code})`);
          return;
        }
      }
      stopPolling();
      if (outcome === "connected") onClientConnected();
      else relisten();
    }, POLL_MS);
  };

  listen(true);
  return {
    name,
    close() {
      if (!accepting) return;
      accepting = false;
      // A connected client keeps its connection (deliver or refuse ends it); otherwise the name goes now.
      if (state === "listening") destroy();
    },
  };
}

function writeError(code: number): Error {
  if (code === ERROR_NO_DATA || code === ERROR_BROKEN_PIPE || code === ERROR_PIPE_NOT_CONNECTED) {
    return new Error("the peer closed the connection before the bundle was written");
  }
  return new Win32Error("WriteFile", code);
}

/**
 * The client half: open the pipe (the server may not impersonate us beyond Anonymous), let
 * `checkServer` verify the server process before reading, then read until the server closes.
 * The handle is synchronous: PeekNamedPipe says how much is there, so ReadFile never waits.
 */
export async function receiveFromPipe(name: string, checkServer: (pipe: number) => void, opts: ReceiveOptions): Promise<Uint8Array> {
  const k = kernel32();
  const pipe = k.CreateFileW(wide(name), GENERIC_READ, 0, null, OPEN_EXISTING, SECURITY_SQOS_PRESENT | SECURITY_ANONYMOUS, 0);
  if (!isValidHandle(pipe)) {
    const code = lastError();
    // One instance: busy while another client holds it, or between a refusal and the next ConnectNamedPipe.
    if (code === ERROR_PIPE_BUSY) throw new EndpointBusy(`the endpoint ${name} is busy`);
    if (code === ERROR_FILE_NOT_FOUND) throw new EndpointNotReady(`nobody is listening on ${name} yet`);
    throw new Win32Error(`opening ${name}`, code);
  }
  try {
    checkServer(pipe);
    const available = new Uint32Array(1);
    const read = new Uint32Array(1);
    let code = 0;
    return await readUntilClose(
      {
        read(buffer) {
          if (!k.PeekNamedPipe(pipe, null, 0, null, available, null)) {
            code = lastError();
            return code === ERROR_BROKEN_PIPE ? 0 : -1;
          }
          if (available[0] === 0) {
            code = ERROR_IO_INCOMPLETE;
            return -1;
          }
          if (!k.ReadFile(pipe, buffer, Math.min(available[0]!, buffer.byteLength), read, null)) {
            code = lastError();
            return code === ERROR_BROKEN_PIPE ? 0 : -1;
          }
          return read[0]!;
        },
        errno: () => code,
        // No EINTR on Windows; "nothing yet" is EAGAIN; a server that disconnected after its flush is ECONNRESET.
        codes: { EINTR: -1, EAGAIN: ERROR_IO_INCOMPLETE, ECONNRESET: ERROR_PIPE_NOT_CONNECTED },
      },
      name,
      opts,
    );
  } finally {
    k.CloseHandle(pipe);
  }
}
