/**
 * The client half of the handoff on POSIX systems: read a non-blocking socket until the server
 * closes it, at most `maxBytes`, by the deadline. The per-OS files supply the syscall and their
 * errno numbers; the loop and the zeroing of every buffer on every exit path live here once.
 * Windows uses it too, with PeekNamedPipe + ReadFile and Win32 error codes (win32-pipe.ts).
 */
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
    const message = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      message.set(chunk, offset);
      offset += chunk.length;
    }
    return message;
  } finally {
    // Whatever path leaves, no copy of a partial or whole bundle is left behind but `message`.
    buffer.fill(0);
    for (const chunk of chunks) chunk.fill(0);
  }
}
