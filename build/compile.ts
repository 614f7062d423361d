/**
 * `npm run build`: one executable per OS with `bun build --compile` (SPEC §1, §10).
 * Default: this machine's target only; `--all` builds the five SPEC targets; `--target <t>` one
 * (repeatable). Each build embeds the commit and its target (`icecore version --json`), prints a
 * progress line, and the run ends with a summary table and `dist/SHA256SUMS` (sha256sum format).
 * Bytecode is used where Bun supports it for the target (it cuts parse time at start).
 */
import { createHash } from "node:crypto";
import { createReadStream, lstatSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
const ENTRY = join(ROOT, "src/cli/main.ts");
// playwright-core's own entrypoint (docs/playwright-split.md): bundled separately in the same
// executable, so the Core's bundle, which every start maps, does not carry its 4 MB. `--root src`
// fixes its embedded path (`<root of the embedded file system>/browser/playwright-core-entry.js`);
// the loader is told that path by the define below.
const SOURCES = join(ROOT, "src");
const PLAYWRIGHT_ENTRY = join(SOURCES, "browser/playwright-core-entry.ts");
const PLAYWRIGHT_EMBEDDED = relative(SOURCES, PLAYWRIGHT_ENTRY).replaceAll("\\", "/").replace(/\.ts$/, ".js");
const DIST = join(ROOT, "dist");
const ALL = ["linux-x64", "linux-arm64", "darwin-arm64", "darwin-x64", "windows-x64"] as const;
const CHECKSUMS = "SHA256SUMS";
const JIT_POLICY_AT_START = 100;

interface Built {
  target: string;
  file: string;
  bytes: number;
  seconds: number;
  bytecode: boolean;
}

function hostTarget(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `${os}-${process.arch}`;
}

function fileFor(target: string): string {
  return `icecore-${target}${target.startsWith("windows") ? ".exe" : ""}`;
}

/** The commit the executables are built from; "-dirty" when tracked files differ from it. */
function buildCommit(): string {
  const git = (...args: string[]) => Bun.spawnSync(["git", ...args], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  let head: ReturnType<typeof git>;
  try {
    head = git("rev-parse", "HEAD");
  } catch {
    return "unknown"; // no git on this machine
  }
  if (head.exitCode !== 0) return "unknown";
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.toString().trim() !== "";
  return head.stdout.toString().trim() + (dirty ? "-dirty" : "");
}

async function compile(target: string, commit: string, bytecode: boolean): Promise<{ ok: true } | { ok: false; error: string }> {
  const args = [
    "build",
    "--compile",
    "--minify",
    "--sourcemap=none",
    `--target=bun-${target}`,
    // src/version.ts reads these; JSON.stringify makes each a string literal in the bundle.
    "--define",
    `ICECORE_BUILD_COMMIT=${JSON.stringify(commit)}`,
    "--define",
    `ICECORE_BUILD_TARGET=${JSON.stringify(target)}`,
    // src/browser/playwright-loader.ts imports the second entrypoint from there.
    "--define",
    `ICECORE_PLAYWRIGHT_ENTRY=${JSON.stringify(PLAYWRIGHT_EMBEDDED)}`,
    ...(bytecode ? ["--bytecode"] : []),
    // JavaScriptCore's tier-up thresholds ×100: code that runs once at start stays in the
    // interpreter instead of keeping the optimising compilers busy on a second core and their
    // code in memory; request handling, which runs thousands of times a second under load,
    // still tiers up (docs/performance.md: exec → api_ready −8 to −20 ms, idle RSS −7 MB, keep-
    // alive req/s unchanged). Kept for the whole run: setting it back to 1 at api_ready (as Bun
    // suggests) cost 2 MB of idle RSS, the compilers' pages touched by the first request, and
    // gained no throughput.
    `--compile-jit-policy=${JIT_POLICY_AT_START}`,
    // A compiled Bun program reads `.env` and `bunfig.toml` from the directory it is started in
    // (Bun's defaults): a bunfig.toml `preload` there runs its script inside icecore before main,
    // and a .env sets its environment. The working directory is not icecore's to trust (it may be
    // /tmp or a downloaded project), so nothing is read from it (test/e2e/attack-cwd-config.test.ts).
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    "--no-compile-autoload-tsconfig",
    "--no-compile-autoload-package-json",
    "--root",
    SOURCES,
    ENTRY,
    PLAYWRIGHT_ENTRY,
    "--outfile",
    join(DIST, fileFor(target)),
  ];
  const proc = Bun.spawn([process.execPath, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return code === 0 ? { ok: true } : { ok: false, error: err.trim().split("\n").slice(-3).join(" / ") };
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** `<hex>  <file>` for every executable in dist/ (what is there now, whichever run built it). */
async function writeChecksums(): Promise<number> {
  const files = readdirSync(DIST)
    .filter((name) => name.startsWith("icecore-") && lstatSync(join(DIST, name)).isFile())
    .sort();
  const lines: string[] = [];
  for (const name of files) lines.push(`${await sha256(join(DIST, name))}  ${name}`);
  writeFileSync(join(DIST, CHECKSUMS), lines.join("\n") + "\n");
  return files.length;
}

function table(rows: Built[], totalSeconds: number): string {
  const header = ["target", "file", "size", "seconds", "bytecode"];
  const body = rows.map((r) => [r.target, r.file, `${(r.bytes / 1e6).toFixed(1)} MB`, r.seconds.toFixed(1), r.bytecode ? "yes" : "no"]);
  const total = ["total", "", `${(rows.reduce((sum, r) => sum + r.bytes, 0) / 1e6).toFixed(1)} MB`, totalSeconds.toFixed(1), ""];
  const all = [header, ...body, total];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const right = new Set([2, 3]);
  return all.map((row) => row.map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
}

function parseTargets(argv: string[]): string[] {
  if (argv.includes("--all")) return [...ALL];
  const chosen: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === "--target") chosen.push((argv[i + 1] ?? "").replace(/^bun-/, ""));
  });
  for (const target of chosen) {
    if (!(ALL as readonly string[]).includes(target)) {
      process.stderr.write(`build: unknown target '${target}' (one of ${ALL.join(", ")})\n`);
      process.exit(64);
    }
  }
  return chosen.length ? chosen : [hostTarget()];
}

const targets = parseTargets(process.argv.slice(2));
const commit = buildCommit();
mkdirSync(DIST, { recursive: true });
const built: Built[] = [];
const started = performance.now();
for (const [index, target] of targets.entries()) {
  const step = `[${index + 1}/${targets.length}]`;
  process.stdout.write(`build: ${step} ${target} ...\n`);
  const t0 = performance.now();
  // Bytecode first; fall back to plain if this Bun cannot produce it for the target.
  let bytecode = true;
  let result = await compile(target, commit, true);
  if (!result.ok) {
    process.stdout.write(`build: ${step} ${target}: no bytecode (${result.error}); building without\n`);
    bytecode = false;
    result = await compile(target, commit, false);
  }
  if (!result.ok) {
    process.stderr.write(`build: ${step} ${target} failed: ${result.error}\n`);
    process.exit(1);
  }
  const seconds = (performance.now() - t0) / 1000;
  const file = fileFor(target);
  const bytes = statSync(join(DIST, file)).size;
  built.push({ target, file, bytes, seconds, bytecode });
  process.stdout.write(`build: ${step} ${target} -> dist/${file} ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s${bytecode ? " (bytecode)" : ""}\n`);
}
if (targets.includes(hostTarget())) {
  const link = join(DIST, "icecore");
  rmSync(link, { force: true });
  symlinkSync(fileFor(hostTarget()), link);
}
const listed = await writeChecksums();
const totalSeconds = (performance.now() - started) / 1000;
process.stdout.write(`${table(built, totalSeconds)}\nbuild: commit ${commit}; dist/${CHECKSUMS} lists ${listed} executable${listed === 1 ? "" : "s"}\n`);
