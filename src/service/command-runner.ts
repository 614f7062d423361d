import type { CommandResult, CommandRunner } from "./service.ts";

/** Generous: `systemctl --user enable --now` waits for the unit to start. */
const TIMEOUT_MS = 60_000;

/** The real runner: argv straight to the OS (never a shell), output captured. */
export const runServiceCommand: CommandRunner = async (argv: string[]): Promise<CommandResult> => {
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: TIMEOUT_MS });
  } catch (error) {
    // Not installed (ENOENT): the shell's "command not found" status, so callers can tell.
    return { status: 127, stdout: "", stderr: `${argv[0]}: ${(error as Error).message}` };
  }
  const [status, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { status, stdout, stderr };
};
