/** Starting the compiled `dist/icecore run` the way every measurement does: JSON logs, a private audit log. */
import { join } from "node:path";
import type { BenchContext } from "../measurement.ts";
import { spawnProcess, type LineProcess } from "./processes.ts";

export interface IcecoreRunOptions {
  /** The child's command (icecore appends --pipe-name). Default: none, so icecore starts its own `connect`. */
  child?: readonly string[];
  /** More `run` flags, e.g. ["--handoff-timeout", "30s"]. */
  flags?: readonly string[];
  /** Send icecore's stderr (logs, one line per request) to this file instead of reading it live. */
  stderrFile?: string;
}

let runs = 0;

export function icecoreRunArgv(ctx: BenchContext, options: IcecoreRunOptions = {}): string[] {
  const audit = join(ctx.scratch, `audit-${++runs}.jsonl`);
  const argv = [ctx.binary, "run", ...ctx.rootFlags, "--log-format", "json", "--audit-log", audit, ...(options.flags ?? [])];
  if (options.child) argv.push("--", ...options.child);
  return argv;
}

export function startIcecore(ctx: BenchContext, options: IcecoreRunOptions = {}): LineProcess {
  return spawnProcess(icecoreRunArgv(ctx, options), { cwd: ctx.scratch, stderrFile: options.stderrFile });
}

/** `<bun> bench/load-child.ts <args>`: the bench's own child, for icecore or (with --bundle-stdin) the baseline. */
export function loadChildCommand(ctx: BenchContext, args: readonly string[]): string[] {
  return [ctx.bun, join(ctx.root, "bench/load-child.ts"), ...args];
}
