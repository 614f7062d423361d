/** SPEC §2, sysexits(3). */
export const EXIT = {
  OK: 0,
  USAGE: 64,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  NOPERM: 77,
  CONFIG: 78,
} as const;

/** A failure the CLI reports as one line and a documented status; never a stack trace. */
export class CliError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}
