/** What the report says about the machine and the tree it measured. */
import { cpus, loadavg, release, totalmem } from "node:os";
import { readFileSync } from "node:fs";

export interface MachineInfo {
  date: string;
  nproc: number;
  cpu_model: string;
  kernel: string;
  memory_gib: number;
  bun: string;
  node: string;
  /** The Go that builds the peers, when there is one. */
  go?: string;
  icecore: string;
  git: string;
  user: string;
  loadavg_start: string;
  loadavg_end?: string;
}

function run(argv: string[], cwd?: string): string {
  try {
    const result = Bun.spawnSync(argv, { cwd, stderr: "ignore" });
    return result.exitCode === 0 ? result.stdout.toString().trim() : "";
  } catch {
    return "";
  }
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match) return match[1]!.trim();
  } catch {}
  return cpus()[0]?.model ?? "unknown";
}

export function loadAverage(): string {
  return loadavg().map((n) => n.toFixed(2)).join(" ");
}

export function describeMachine(opts: { root: string; binary: string; node: string }): MachineInfo {
  const head = run(["git", "rev-parse", "--short", "HEAD"], opts.root);
  const dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], opts.root) !== "";
  return {
    date: new Date().toISOString(),
    nproc: Number(run(["nproc"])) || navigator.hardwareConcurrency,
    cpu_model: cpuModel(),
    kernel: release(),
    memory_gib: Number((totalmem() / 2 ** 30).toFixed(1)),
    bun: Bun.version,
    node: run([opts.node, "--version"]).replace(/^v/, ""),
    ...(Bun.which("go") ? { go: run(["go", "version"]).split(" ")[2]?.replace(/^go/, "") ?? "?" } : {}),
    icecore: run([opts.binary, "version"]),
    git: head ? `${head}${dirty ? " (uncommitted changes)" : ""}` : "unknown",
    user: `${run(["id", "-un"]) || "?"} (uid ${process.getuid?.()})`,
    loadavg_start: loadAverage(),
  };
}
