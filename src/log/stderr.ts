/**
 * Writing log lines to stderr (fd 2) with write(2), the way Node writes process.stderr to files
 * and pipes on Linux (synchronously), without creating the process.stderr stream: in a compiled
 * executable that stream costs ≈ 2 ms to set up on its first use, on the start-up path
 * (docs/performance.md). If fd 2 turns out to be non-blocking and full (EAGAIN), the rest goes
 * through process.stderr, which queues it, and so does every line after it, in order.
 */
import { writeSync } from "node:fs";

const STDERR = 2;
let stream = false;

function writeThroughStream(bytes: Uint8Array): void {
  stream = true;
  process.stderr.write(bytes);
}

/** Writes `text` and a newline to stderr. A stderr nobody reads any more (EPIPE, EBADF) loses the line: there is nowhere else to put it. */
export function writeStderrLine(text: string): void {
  const bytes = Buffer.from(text + "\n", "utf8");
  if (stream) return void process.stderr.write(bytes);
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(STDERR, bytes, written);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EAGAIN") writeThroughStream(bytes.subarray(written));
  }
}
