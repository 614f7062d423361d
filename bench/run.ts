/**
 * `npm run bench` (after the build): runs every measurement below in order, prints the report
 * and writes bench/results/latest.json and latest.md.
 *
 *   bun bench/run.ts                  all measurements; writes the results
 *   bun bench/run.ts --only a,b       only those ids; prints, writes nothing
 *   bun bench/run.ts --quick          fewer peer runs (checks the bench; figures too rough to keep); writes nothing
 *
 * The peers (shared/peers: go-seed, bun-floor, loadgen, measure) are built with their build.sh
 * when `go` is on PATH and measured beside icecore by their own `measure` tool, interleaved; with
 * no Go they are skipped and the reason printed. The report gives each figure as a ratio to the
 * floor and to go-seed, with issue 16's target.
 *
 * To add a measurement: one module in bench/measure/ exporting a `Measurement` (and, if it needs
 * its own requests, a `Workload` that bench/load-child.ts loads by `<module>#<export>`), then one
 * line in MEASUREMENTS. Loopback only; every process has a deadline; the whole run is capped.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { BenchContext, Measurement } from "./measurement.ts";
import { mintBaselinePki, type BaselinePki } from "./harness/baseline-pki.ts";
import { preparePeers, type PeersAvailability } from "./harness/peers.ts";
import { describeMachine, loadAverage } from "./harness/machine.ts";
import { stopAll } from "./harness/processes.ts";
import { renderMarkdown, withRatio, writeResults, type BenchReport, type MeasurementRecord } from "./harness/report.ts";
import { handoffLatency } from "./measure/handoff-latency.ts";
import { coldStart } from "./measure/cold-start.ts";
import { mtlsThroughput } from "./measure/mtls-throughput.ts";
import { idleRss } from "./measure/idle-rss.ts";
import { binarySize } from "./measure/binary-size.ts";
import { signedPost } from "./measure/signed-post.ts";
import { peersColdStart } from "./measure/peers-cold-start.ts";
import { peersThroughput } from "./measure/peers-throughput.ts";
import { peersIdleRss } from "./measure/peers-idle-rss.ts";
import { browserStart } from "./measure/browser-start.ts";

const MEASUREMENTS: Measurement[] = [peersColdStart, peersThroughput, peersIdleRss, handoffLatency, coldStart, mtlsThroughput, signedPost, idleRss, binarySize, browserStart];

/**
 * The whole bench stops by itself after this, whatever hangs. On a quiet machine it takes about
 * 6 minutes; the peers' measure waits up to 60 s for quiet before each of its ~90 runs, so a busy
 * machine stretches it.
 */
const BENCH_DEADLINE_MS = 90 * 60_000;

const ROOT = join(import.meta.dir, "..");
const RESULTS = join(import.meta.dir, "results");

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

const { values } = parseArgs({ args: process.argv.slice(2), options: { only: { type: "string" }, quick: { type: "boolean", default: false } } });
const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
const selected = only ? MEASUREMENTS.filter((m) => only.includes(m.id)) : MEASUREMENTS;
if (only && selected.length !== only.length) fail(`unknown measurement in --only; known: ${MEASUREMENTS.map((m) => m.id).join(", ")}`);

const binary = join(ROOT, "dist/icecore");
if (!existsSync(binary)) fail(`${binary} is missing: run \`npm run build\` (npm run bench does it first)`);
const node = Bun.which("node");
if (!node) fail("no `node` on PATH: the baseline server runs on Node");

const scratch = mkdtempSync(join(tmpdir(), "icecore-bench-"));
let pki: Promise<BaselinePki> | null = null;
let peers: Promise<PeersAvailability> | null = null;
const ctx: BenchContext = {
  root: ROOT,
  binary,
  bun: process.execPath,
  node,
  rootFlags: process.getuid?.() === 0 ? ["--allow-root"] : [],
  quick: values.quick ?? false,
  scratch,
  baselinePki: () => (pki ??= mintBaselinePki()),
  peers: () =>
    (peers ??= preparePeers(ctx).then((availability) => {
      if (!availability.available) ctx.progress(`  peers skipped: ${availability.reason}`);
      return availability;
    })),
  progress: (message) => process.stderr.write(`bench: ${message}\n`),
};

const cleanUp = async () => {
  await stopAll();
  rmSync(scratch, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanUp().then(() => process.exit(130)));
}
const deadline = setTimeout(() => {
  process.stderr.write(`bench: still running after ${BENCH_DEADLINE_MS / 60_000} min; stopping\n`);
  void cleanUp().then(() => process.exit(1));
}, BENCH_DEADLINE_MS);

const machine = describeMachine({ root: ROOT, binary, node });
const started = performance.now();
const records: MeasurementRecord[] = [];
for (const [index, measurement] of selected.entries()) {
  ctx.progress(`[${index + 1}/${selected.length}] ${measurement.title}`);
  const t0 = performance.now();
  try {
    const result = await measurement.run(ctx);
    records.push({
      id: measurement.id,
      title: measurement.title,
      seconds: (performance.now() - t0) / 1000,
      figures: result.figures.map(withRatio),
      ...(result.peerFigures ? { peerFigures: result.peerFigures } : {}),
      notes: result.notes,
      ...(result.skipped ? { skipped: result.skipped } : {}),
    });
  } catch (error) {
    const message = (error as Error).message;
    ctx.progress(`  failed: ${message}`);
    records.push({ id: measurement.id, title: measurement.title, seconds: (performance.now() - t0) / 1000, figures: [], notes: [], error: message });
  } finally {
    await stopAll();
  }
}
machine.loadavg_end = loadAverage();
clearTimeout(deadline);

const report: BenchReport = { machine, root_flags: [...ctx.rootFlags], total_seconds: (performance.now() - started) / 1000, measurements: records };
const markdown = renderMarkdown(report);
process.stdout.write(markdown + "\n");
if (!only && !values.quick) {
  const paths = writeResults(RESULTS, report, markdown);
  ctx.progress(`wrote ${paths.json.slice(ROOT.length + 1)} and ${paths.markdown.slice(ROOT.length + 1)}`);
}
await cleanUp();
process.exit(records.some((r) => r.error) ? 1 : 0);
