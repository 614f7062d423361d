/** The bench's report: one JSON document and one markdown page with the machine and every figure. */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Figure, PeerFigure, Target } from "../measurement.ts";
import type { MachineInfo } from "./machine.ts";

export interface MeasurementRecord {
  id: string;
  title: string;
  seconds: number;
  figures: (Figure & { ratio?: number })[];
  peerFigures?: PeerFigure[];
  notes: string[];
  skipped?: string;
  error?: string;
}

export interface BenchReport {
  machine: MachineInfo;
  root_flags: string[];
  total_seconds: number;
  measurements: MeasurementRecord[];
}

export function formatValue(value: number, unit: string): string {
  let digits = 2;
  if (unit === "ms") digits = value < 1 ? 3 : value < 10 ? 2 : value < 1000 ? 1 : 0;
  else if (unit === "req/s") digits = 0;
  else if (unit === "MB" || unit === "MiB") digits = 1;
  return `${value.toFixed(digits)} ${unit}`;
}

export function withRatio(figure: Figure): Figure & { ratio?: number } {
  return figure.baseline === undefined || figure.baseline === 0 ? figure : { ...figure, ratio: figure.value / figure.baseline };
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function describeTarget(target: Target, unit: string): string {
  switch (target.kind) {
    case "ratio_at_most":
      return `≤ ${target.value}× floor`;
    case "ratio_at_least":
      return `≥ ${target.value}× floor`;
    case "plus_at_most":
      return `≤ floor + ${target.value} ${unit}`;
    case "at_least":
      return `≥ ${target.value}`;
  }
}

/** Whether `value` meets `target`; `floor` is bun-floor's value for the ratio kinds. */
export function targetMet(target: Target, value: number, floor?: number): boolean | undefined {
  if (target.kind === "at_least") return value >= target.value;
  if (floor === undefined || floor === 0) return undefined;
  if (target.kind === "ratio_at_most") return value / floor <= target.value;
  if (target.kind === "ratio_at_least") return value / floor >= target.value;
  return value - floor <= target.value;
}

const ratio = (a: number, b: number) => (b ? `${(a / b).toFixed(2)}×` : "");
const met = (m: boolean | undefined) => (m === undefined ? "?" : m ? "yes" : "**no**");

function peerValue(f: PeerFigure, server: keyof PeerFigure["median"]): string {
  const digits = f.unit === "req/s" ? 0 : f.unit === "cores" ? 2 : f.median[server] < 1 ? 3 : 1;
  const v = (x: number) => (f.unit === "req/s" ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits));
  return f.min[server] === f.max[server] ? v(f.median[server]) : `${v(f.median[server])} (${v(f.min[server])}–${v(f.max[server])})`;
}

/** The issue-16 table: each peer figure for go-seed, bun-floor and icecore, icecore's ratios and its target. */
function renderPeers(report: BenchReport): string[] {
  const records = report.measurements.filter((r) => r.peerFigures?.length || (r.skipped && r.id.startsWith("peers_")));
  if (records.length === 0) return [];
  const lines = ["## icecore against the peers (shared/peers, one interleaved run per row group)", ""];
  const skipped = records.find((r) => r.skipped);
  if (skipped) lines.push(`Peers skipped: ${skipped.skipped}.`, "");
  const rows = records.flatMap((r) => r.peerFigures ?? []);
  if (rows.length) {
    lines.push(
      "Medians (min–max) of one run of shared/peers' measure with the three servers interleaved.",
      "",
      "| figure | unit | go-seed | bun-floor | icecore | icecore ÷ floor | icecore ÷ go-seed | target (issue 16) | met |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    );
    for (const f of rows) {
      const target = f.target ? describeTarget(f.target, f.unit) : "";
      const isMet = f.target ? met(targetMet(f.target, f.median.icecore, f.median["bun-floor"])) : "";
      const plus = f.target?.kind === "plus_at_most" ? ` (icecore − floor ${(f.median.icecore - f.median["bun-floor"]).toFixed(1)} ${f.unit})` : "";
      lines.push(
        `| ${cell(f.name)} | ${f.unit} | ${peerValue(f, "go-seed")} | ${peerValue(f, "bun-floor")} | ${peerValue(f, "icecore")} | ${ratio(f.median.icecore, f.median["bun-floor"])}${plus} | ${ratio(f.median.icecore, f.median["go-seed"])} | ${target} | ${isMet} |`,
      );
    }
    lines.push("");
  }
  return lines;
}

/** Figures of icecore alone that carry a target (e.g. signed ÷ unsigned throughput). */
function renderOwnTargets(report: BenchReport): string[] {
  const rows = report.measurements.flatMap((r) => r.figures.filter((f) => f.target));
  if (rows.length === 0) return [];
  const lines = ["| icecore figure | value | target (issue 16) | met |", "| --- | ---: | --- | --- |"];
  for (const f of rows) lines.push(`| ${cell(f.name)} | ${formatValue(f.value, f.unit)} | ${describeTarget(f.target!, f.unit)} | ${met(targetMet(f.target!, f.value))} |`);
  return [...lines, ""];
}

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const lines: string[] = [
    "# icecore bench",
    "",
    "| | |",
    "| --- | --- |",
    `| date | ${m.date} |`,
    `| machine | nproc ${m.nproc}, ${cell(m.cpu_model)}, ${m.memory_gib} GiB RAM |`,
    `| kernel | ${m.kernel} |`,
    `| Bun | ${m.bun} |`,
    `| Node | ${m.node} |`,
    `| Go (peers) | ${m.go ?? "not installed: peers skipped"} |`,
    `| executable | ${cell(m.icecore)} |`,
    `| commit | ${cell(m.git)} |`,
    `| user | ${m.user}${report.root_flags.length ? "; icecore run with " + report.root_flags.join(" ") : ""} |`,
    `| load average (1, 5, 15 min) | at start ${m.loadavg_start}; at end ${m.loadavg_end ?? "?"} |`,
    `| bench duration | ${report.total_seconds.toFixed(0)} s |`,
    "",
    ...renderPeers(report),
    ...renderOwnTargets(report),
  ];
  const own = report.measurements.filter((r) => !r.id.startsWith("peers_"));
  if (own.length) {
    lines.push(
      "## icecore against the Node baseline (and on its own)",
      "",
      "| measurement | figure | icecore | baseline | icecore ÷ baseline |",
      "| --- | --- | ---: | ---: | ---: |",
    );
  }
  for (const record of own) {
    if (record.error) {
      lines.push(`| ${cell(record.title)} | **failed**: ${cell(record.error.split("\n")[0]!)} | | | |`);
      continue;
    }
    if (record.skipped && !record.id.startsWith("peers_")) {
      lines.push(`| ${cell(record.title)} | skipped: ${cell(record.skipped)} | | | |`);
      continue;
    }
    for (const f of record.figures) {
      const name = f.note ? `${f.name} (${f.note})` : f.name;
      const baseline = f.baseline === undefined ? "" : formatValue(f.baseline, f.unit);
      const ratio = f.ratio === undefined ? "" : `${f.ratio.toFixed(2)}× (${f.better ?? "?"} is better)`;
      lines.push(`| ${cell(record.title)} | ${cell(name)} | ${formatValue(f.value, f.unit)} | ${baseline} | ${ratio} |`);
    }
  }
  lines.push("", "## Method and remarks", "");
  for (const record of report.measurements) {
    lines.push(`**${record.title}** (${record.seconds.toFixed(1)} s)`, "");
    if (record.error) lines.push("```", record.error, "```", "");
    if (record.skipped) lines.push(`- skipped: ${record.skipped}`);
    for (const note of record.notes) lines.push(`- ${note}`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Writes latest.json and latest.md in `dir`, each through a .tmp file and a rename. */
export function writeResults(dir: string, report: BenchReport, markdown: string): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { json: join(dir, "latest.json"), markdown: join(dir, "latest.md") };
  for (const [path, text] of [
    [paths.json, JSON.stringify(report, null, 2) + "\n"],
    [paths.markdown, markdown],
  ] as const) {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  }
  return paths;
}
