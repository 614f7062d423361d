/**
 * The client half of the handoff on POSIX systems: connect, let the OS file check the server
 * (SPEC §4 mutual check), read a non-blocking socket until the server closes it, at most
 * `maxBytes`, by the deadline. The per-OS files supply the syscalls and their errno numbers; the
 * sequence, the errno meanings and the zeroing of every buffer on every exit path live here once.
 * Windows reuses the read loop, with PeekNamedPipe + ReadFile and Win32 error codes (win32-pipe.ts).
 */
import { EndpointBusy, EndpointNotReady } from "./platform.ts";
export interface NonBlockingRead {
  /** One read(2)/recv(2) into `buffer`: bytes read, 0 at end of stream, -1 with errno set. */
  read(buffer: Uint8Array): number;
  errno(): number;
  codes: { EINTR: number; EAGAIN: number; ECONNRESET: number };
}

export async function readUntilClose(io: NonBlockingRead, name: string, opts: { maxBytes: number; deadline: number }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = io.read(buffer);
      if (n > 0) {
        total += n;
        if (total > opts.maxBytes) throw new Error(`handoff message exceeds ${opts.maxBytes} bytes`);
        chunks.push(buffer.slice(0, n));
        continue;
      }
      if (n === 0) break;
      const code = io.errno();
      if (code === io.codes.EINTR) continue;
      // The server closed right after writing: what arrived is the message (decoding checks it).
      if (code === io.codes.ECONNRESET) break;
      if (code !== io.codes.EAGAIN) throw new Error(`reading from ${name} failed (errno ${code})`);
      if (Date.now() > opts.deadline) throw new Error(`timed out reading from ${name}`);
      await Bun.sleep(1);
    }
    // The caller zeroes the message once decoded; the chunks are zeroed below.
    return Buffer.concat(chunks, total);
  } finally {
    // Whatever path leaves, no copy of a partial or whole bundle is left behind but `message`.
    buffer.fill(0);
    for (const chunk of chunks) chunk.fill(0);
  }
}

export interface UnixClient extends Omit<NonBlockingRead, "read" | "codes"> {
  /** A close-on-exec Unix stream socket, or -1 with errno set. */
  open(): number;
  /** connect(2) to the endpoint: 0, or -1 with errno set. */
  connect(fd: number): number;
  /** Throws ServerNotTrusted unless the connected server is this user's and our ancestor. */
  checkServer(fd: number): void;
  read(fd: number, buffer: Uint8Array): number;
  close(fd: number): void;
  codes: NonBlockingRead["codes"] & { ECONNREFUSED: number; ENOENT: number };
}

/** Connect, check the server, read the one message (SPEC §4.7). */
export async function receiveUnix(client: UnixClient, name: string, opts: { maxBytes: number; deadline: number }): Promise<Uint8Array> {
  const fd = client.open();
  if (fd < 0) throw new Error(`socket() failed (errno ${client.errno()})`);
  try {
    if (client.connect(fd) !== 0) {
      const code = client.errno();
      // A full accept queue (someone floods the name) is EAGAIN: the listener is there, retry soon.
      if (code === client.codes.EAGAIN) throw new EndpointBusy(`the endpoint ${name} is busy`);
      if (code === client.codes.ECONNREFUSED || code === client.codes.ENOENT) throw new EndpointNotReady(`nobody is listening on ${name} yet`);
      throw new Error(`connect() to ${name} failed (errno ${code})`);
    }
    client.checkServer(fd);
    // Raw syscalls: Bun's socket clients can report "Failed to connect" and drop the data when a
    // server writes and closes at once (PLATFORM-NOTES, "Unix-socket clients").
    return await readUntilClose({ read: (buffer) => client.read(fd, buffer), errno: client.errno, codes: client.codes }, name, opts);
  } finally {
    client.close(fd);
  }
}
