/**
 * The peers (shared/peers: go-seed, bun-floor, loadgen, measure) for the bench: found beside the
 * project, built with their own build.sh when Go is present, and run with their own `measure`
 * tool so the figures are the ones issue 16 states its targets in. Without Go, or without the
 * peers directory, every peer measurement is skipped with the reason printed.
 *
 * `measure` interleaves the servers (run i of each before run i+1) and waits for a quiet machine
 * before each run (up to 60 s), so ratios come from the same conditions.
 */
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { BenchContext } from "../measurement.ts";
import { spawnProcess } from "./processes.ts";

export interface Peers {
  /** shared/peers (the sources and build.sh). */
  readonly dir: string;
  /** Where build.sh wrote the binaries (PEERS_OUT). */
  readonly out: string;
  readonly goVersion: string;
  readonly measure: string;
  readonly loadgen: string;
  readonly goSeed: string;
  readonly bunFloor: string;
}

export type PeersAvailability = { available: true; peers: Peers } | { available: false; reason: string };

/** The servers of one measure run, in measure's order. Keys are the report's column names. */
export const PEER_SERVERS = ["go-seed", "bun-floor", "icecore"] as const;
export type PeerServer = (typeof PEER_SERVERS)[number];

export interface PeerStats {
  median: number;
  min: number;
  max: number;
}

export interface PeerLoad {
  conns: number;
  retries: number;
  errors: number;
  figures: Record<string, PeerStats>;
  runs: Record<string, unknown>[];
}

/** One server's part of measure's JSON (field names as measure prints them). */
export interface PeerResult {
  server: string;
  binary_bytes?: number;
  handoff: Record<string, PeerStats>;
  keepalive: PeerLoad | null;
  handshake: PeerLoad | null;
  idle_rss_mb: PeerStats;
  failures: number;
}

export interface PeerRun {
  date: string;
  nproc: number;
  kernel: string;
  go: string;
  pinned: boolean;
  duration: string;
  results: Record<PeerServer, PeerResult>;
  /** measure's stderr lines (failed runs, "machine still busy"). */
  remarks: string[];
  /** The argv that ran, for the report. */
  argv: string[];
}

/** Where the peers live: $ICECORE_PEERS_DIR, else shared/peers beside this checkout, else beside the main checkout of a git worktree. */
function findPeersDir(root: string): string | null {
  const candidates = [process.env.ICECORE_PEERS_DIR, join(root, "../shared/peers")];
  const common = Bun.spawnSync(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], { cwd: root, stderr: "ignore" });
  if (common.exitCode === 0) candidates.push(join(dirname(dirname(common.stdout.toString().trim())), "shared/peers"));
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, "build.sh")) && existsSync(join(dir, "measure"))) return resolve(dir);
  }
  return null;
}

/** Builds the peers once per bench (Go's build cache makes a rebuild take a second or two). */
export async function preparePeers(ctx: Pick<BenchContext, "root" | "bun" | "progress">): Promise<PeersAvailability> {
  const go = Bun.which("go");
  if (!go) return { available: false, reason: "no Go toolchain on PATH (apt-get install -y golang-go), so the peers cannot be built" };
  const dir = findPeersDir(ctx.root);
  if (!dir) return { available: false, reason: "shared/peers was not found beside the project (set ICECORE_PEERS_DIR)" };
  // A directory of the bench's own by default: another checkout's measure.sh may be rebuilding /tmp/icecore-peers.
  const out = resolve(process.env.PEERS_OUT ?? join(tmpdir(), `icecore-bench-peers-${process.getuid?.() ?? "u"}`));
  mkdirSync(out, { recursive: true });
  ctx.progress(`  building the peers from ${dir} into ${out}`);
  // Run from the project root: bun-floor/build.sh compiles the floor with the project's pinned Bun.
  const build = spawnProcess(["sh", join(dir, "build.sh")], { cwd: ctx.root, env: { ...process.env, PEERS_OUT: out, BUN: ctx.bun } });
  const status = await build.exited;
  if (status !== 0) return { available: false, reason: `shared/peers/build.sh exited ${status}: ${build.stderrTail(3).replace(/\n/g, " / ")}` };
  const peers: Peers = {
    dir,
    out,
    goVersion: (Bun.spawnSync([go, "version"]).stdout.toString().trim().split(" ")[2] ?? "go?").replace(/^go/, ""),
    measure: join(out, "measure"),
    loadgen: join(out, "loadgen"),
    goSeed: join(out, "go-seed"),
    bunFloor: join(out, "bun-floor"),
  };
  for (const binary of [peers.measure, peers.loadgen, peers.goSeed, peers.bunFloor]) {
    if (!existsSync(binary)) return { available: false, reason: `shared/peers/build.sh did not produce ${binary}: ${build.stderrTail(3).replace(/\n/g, " / ")}` };
  }
  return { available: true, peers };
}

export interface PeerMeasureOptions {
  coldRuns: number;
  loadRuns: number;
  rssRuns: number;
  /** Measured seconds per load run (measure's -d). */
  loadSeconds?: number;
}

/**
 * One run of measure over go-seed, bun-floor and icecore, interleaved. icecore runs with the
 * flags the issue names (`run --allow-root` when the bench is root); its audit log goes to the
 * bench's scratch directory through XDG_STATE_HOME, not to the user's state.
 */
export async function measurePeers(ctx: BenchContext, peers: Peers, options: PeerMeasureOptions): Promise<PeerRun> {
  const servers: Record<PeerServer, string> = {
    "go-seed": `${peers.goSeed} run`,
    "bun-floor": `${peers.bunFloor} run`,
    icecore: [ctx.binary, "run", ...ctx.rootFlags].join(" "),
  };
  const argv = [
    peers.measure,
    "--loadgen", peers.loadgen,
    ...PEER_SERVERS.flatMap((s) => ["--server", servers[s]]),
    "--cold-runs", String(options.coldRuns),
    "--load-runs", String(options.loadRuns),
    "--rss-runs", String(options.rssRuns),
    "-d", `${options.loadSeconds ?? 5}s`,
  ];
  const state = join(ctx.scratch, "xdg-state");
  mkdirSync(state, { recursive: true });
  const proc = spawnProcess(argv, { cwd: ctx.root, env: { ...process.env, PEERS: peers.out, XDG_STATE_HOME: state }, onStderrLine: (l) => ctx.progress(`  ${l}`) });
  const status = await proc.exited;
  const text = proc.stdoutLines.map((l) => l.text).join("\n");
  let parsed: Omit<PeerRun, "results" | "remarks" | "argv"> & { results: PeerResult[] };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`measure exited ${status} without its JSON report; stderr:\n${proc.stderrTail()}`);
  }
  const results = {} as Record<PeerServer, PeerResult>;
  PEER_SERVERS.forEach((name, i) => {
    const r = parsed.results[i];
    if (!r) throw new Error(`measure reported no result for ${name}`);
    results[name] = r;
  });
  const failed = PEER_SERVERS.filter((s) => results[s].failures > 0);
  const remarks = proc.stderrLines.map((l) => l.text).filter(Boolean);
  if (status !== 0 && failed.length === 0) throw new Error(`measure exited ${status}; stderr:\n${proc.stderrTail()}`);
  if (failed.length) remarks.unshift(`runs failed: ${failed.map((s) => `${s} ${results[s].failures}`).join(", ")} (see measure's lines below)`);
  return { ...parsed, results, remarks, argv };
}

/** A median and its spread, e.g. "135.1 (min 120.3, max 160.2)". */
export function spread(s: PeerStats | undefined, digits = 1): string {
  return s ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : "?";
}
