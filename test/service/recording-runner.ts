/**
 * No launchd, Task Scheduler or systemd user manager runs on this machine (PLATFORM-NOTES), so
 * the manager tests check the argv each manager runs, answered by a script of what the real
 * tool prints. Everything else (files, their bytes and modes) is real.
 */
import type { CommandResult, CommandRunner, ServiceAccount, ServiceProgram } from "../../src/service/service.ts";
import { scratchDir } from "../support/users.ts";

export const SYSTEM_PYTHON = "/usr/bin/python3";

export interface RecordingRunner {
  run: CommandRunner;
  calls: string[][];
}

/** `answer` gets each argv and returns what the tool would; unanswered commands succeed silently. */
export function recordingRunner(answer: (argv: string[]) => Partial<CommandResult> | undefined = () => undefined): RecordingRunner {
  const calls: string[][] = [];
  return {
    calls,
    run: async (argv) => {
      calls.push(argv);
      return { status: 0, stdout: "", stderr: "", ...answer(argv) };
    },
  };
}

export function scratchAccount(env: Record<string, string> = {}): ServiceAccount {
  const home = scratchDir(null, "service-home");
  return { uid: 1000, home, name: "alice", env: { HOME: home, ...env } };
}

export function sampleProgram(account: ServiceAccount, overrides: Partial<ServiceProgram> = {}): ServiceProgram {
  const auditLog = `${account.home}/.local/state/icecore/audit.jsonl`;
  return {
    command: ["/opt/ice core/icecore"],
    args: ["run", "--port", "0", "--on-child-exit", "restart", "--audit-log", auditLog, "--", "/usr/bin/my-ui", "--profile", "a b"],
    auditLog,
    elevation: "none",
    ...overrides,
  };
}

export function collectLines(): { say: (line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, say: (line) => lines.push(line) };
}
