/**
 * `npm run build`: one executable per OS with `bun build --compile` (SPEC §1).
 * Default: this machine's target only; `--all` builds the five SPEC targets; `--target <t>` one.
 * Bytecode is used where Bun supports it for the target (it cuts parse time at start).
 */
import { mkdirSync, statSync, symlinkSync, rmSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const ENTRY = join(ROOT, "src/cli/main.ts");
const DIST = join(ROOT, "dist");
const ALL = ["bun-linux-x64", "bun-linux-arm64", "bun-darwin-arm64", "bun-darwin-x64", "bun-windows-x64"] as const;

function hostTarget(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `bun-${os}-${process.arch}`;
}

function outfileFor(target: string): string {
  return join(DIST, `icecore-${target.replace(/^bun-/, "")}${target.includes("windows") ? ".exe" : ""}`);
}

async function compile(target: string, bytecode: boolean): Promise<boolean> {
  const outfile = outfileFor(target);
  const args = ["build", "--compile", "--minify", "--sourcemap=none", `--target=${target}`, ENTRY, "--outfile", outfile];
  if (bytecode) args.splice(3, 0, "--bytecode");
  const proc = Bun.spawn([process.execPath, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) {
    process.stderr.write(`build: ${target}${bytecode ? " (bytecode)" : ""} failed: ${err.trim().split("\n").slice(-3).join(" / ")}\n`);
    return false;
  }
  const mb = (statSync(outfile).size / 1e6).toFixed(1);
  process.stdout.write(`build: ${outfile.slice(ROOT.length + 1)} ${mb} MB${bytecode ? " (bytecode)" : ""}\n`);
  return true;
}

const argv = process.argv.slice(2);
const targets = argv.includes("--all") ? [...ALL] : argv.includes("--target") ? [argv[argv.indexOf("--target") + 1]!] : [hostTarget()];
mkdirSync(DIST, { recursive: true });
let failed = 0;
for (const target of targets) {
  // Bytecode first; fall back to plain if this Bun cannot produce it for the target.
  if (!(await compile(target, true)) && !(await compile(target, false))) failed++;
}
if (targets.includes(hostTarget())) {
  const link = join(DIST, "icecore");
  rmSync(link, { force: true });
  symlinkSync(outfileFor(hostTarget()).slice(DIST.length + 1), link);
}
process.exit(failed ? 1 : 0);
