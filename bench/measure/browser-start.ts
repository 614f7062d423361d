/**
 * The browser child (SPEC §9): time from `icecore run`'s exec to the console painted, and the
 * memory of the browser's processes. `run -- icecore connect --browser --headless --json`; the
 * child prints, on the page's own clock (epoch ms, the same wall clock as the bench's), when the
 * page had its first contentful paint and when the status (version, uptime, certificate) was
 * drawn. Then, the console idle for 1 s: RSS and PSS (/proc/<pid>/smaps_rollup) of Chromium's
 * processes, and VmRSS of the child (Bun: the TLS proxy, the signer) and of icecore.
 */
import { readFileSync } from "node:fs";
import type { BenchContext, Measurement } from "../measurement.ts";
import { startIcecore } from "../harness/icecore-run.ts";
import { eventNamed, exitWithin, jsonLine, residentKiB } from "../harness/processes.ts";
import { median } from "../harness/stats.ts";
import { descendantsOf } from "../../src/platform/loopback-peer.ts";

const RUNS = 3;
const SETTLE_MS = 1000;

interface Sample {
  firstPaintMs: number;
  statusShownMs: number;
  apiReadyMs: number;
  processes: number;
  renderers: number;
  rssKiB: number;
  pssKiB: number;
  /** PSS of anonymous memory (heaps, the pages' own state) and of mapped files (Chromium's code, fonts). */
  pssAnonKiB: number;
  pssFileKiB: number;
  childKiB: number;
  icecoreKiB: number;
}

function rollup(pid: number): { rss: number; pss: number; pssAnon: number; pssFile: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { rss: field("Rss"), pss: field("Pss"), pssAnon: field("Pss_Anon"), pssFile: field("Pss_File") };
  } catch {
    return { rss: 0, pss: 0, pssAnon: 0, pssFile: 0 }; // gone meanwhile
  }
}

async function once(ctx: BenchContext): Promise<Sample> {
  const icecore = startIcecore(ctx, { child: [ctx.binary, "connect", "--browser", "--headless", "--json"] });
  try {
    const execAt = performance.timeOrigin + icecore.spawnedAt;
    const { value: spawned } = await icecore.waitForLine("stderr", eventNamed("child_spawned"), 15_000);
    const { value: ready } = await icecore.waitForLine("stderr", eventNamed("api_ready"), 15_000);
    const { value: shown } = await icecore.waitForLine("stdout", (line) => jsonLine(line)?.console as Record<string, unknown> | undefined, 60_000);
    await Bun.sleep(SETTLE_MS);
    const browserPid = Number(shown.browser_pid);
    const pids = [browserPid, ...descendantsOf(browserPid)];
    let [rss, pss, pssAnon, pssFile] = [0, 0, 0, 0];
    let renderers = 0;
    for (const pid of pids) {
      const r = rollup(pid);
      rss += r.rss;
      pss += r.pss;
      pssAnon += r.pssAnon;
      pssFile += r.pssFile;
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("--type=renderer")) renderers++;
      } catch {
        // gone meanwhile
      }
    }
    const sample: Sample = {
      firstPaintMs: Date.parse(String(shown.first_paint_at)) - execAt,
      statusShownMs: Date.parse(String(shown.status_shown_at)) - execAt,
      apiReadyMs: Number(ready.uptime_ms),
      processes: pids.length,
      renderers,
      rssKiB: rss,
      pssKiB: pss,
      pssAnonKiB: pssAnon,
      pssFileKiB: pssFile,
      childKiB: residentKiB(Number(spawned.pid)),
      icecoreKiB: residentKiB(icecore.pid),
    };
    await icecore.stop("SIGTERM", 10_000);
    const status = await exitWithin(icecore, 15_000);
    if (status !== 0) throw new Error(`icecore exited ${status} on SIGTERM; stderr:\n${icecore.stderrTail()}`);
    return sample;
  } finally {
    await icecore.stop("SIGKILL", 1000);
  }
}

const MIB = 1024;

export const browserStart: Measurement = {
  id: "browser_start",
  title: "Browser child: run → console painted, and the browser's memory",
  async run(ctx) {
    const samples: Sample[] = [];
    for (let i = 0; i < RUNS; i++) samples.push(await once(ctx));
    const m = (pick: (s: Sample) => number) => median(samples.map(pick));
    const list = (pick: (s: Sample) => number, scale = 1) => samples.map((s) => (pick(s) / scale).toFixed(0)).join(", ");
    return {
      figures: [
        { name: "run exec → console first contentful paint, median", value: m((s) => s.firstPaintMs), unit: "ms", better: "lower" },
        { name: "run exec → status (version, certificate) drawn, median", value: m((s) => s.statusShownMs), unit: "ms", better: "lower" },
        { name: "Chromium processes, PSS sum (console idle)", value: m((s) => s.pssKiB) / MIB, unit: "MiB", better: "lower" },
        { name: "Chromium processes, RSS sum (shared pages counted in each process)", value: m((s) => s.rssKiB) / MIB, unit: "MiB", better: "lower" },
        { name: "the child (connect --browser: proxy, signer), VmRSS", value: m((s) => s.childKiB) / MIB, unit: "MiB", better: "lower" },
        { name: "icecore (run), VmRSS", value: m((s) => s.icecoreKiB) / MIB, unit: "MiB", better: "lower" },
      ],
      notes: [
        `Median of ${RUNS} runs of \`run -- icecore connect --browser --headless --json\`${ctx.rootFlags.length ? " as root (Chromium without its sandbox)" : ""}; times on the page's clock (performance.timeOrigin + the paint entry) minus the bench's clock at exec.`,
        `Samples: first paint ${list((s) => s.firstPaintMs)} ms; status drawn ${list((s) => s.statusShownMs)} ms; api_ready at ${list((s) => s.apiReadyMs)} ms of icecore's uptime.`,
        `Chromium: ${samples.map((s) => `${s.processes} processes (${s.renderers} renderer)`).join("; ")}; PSS ${list((s) => s.pssKiB, MIB)} MiB (anonymous ${list((s) => s.pssAnonKiB, MIB)}, mapped files ${list((s) => s.pssFileKiB, MIB)}), RSS ${list((s) => s.rssKiB, MIB)} MiB.`,
      ],
    };
  },
};
