/** The bench's report: one JSON document and one markdown page with the machine and every figure. */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Figure } from "../measurement.ts";
import type { MachineInfo } from "./machine.ts";

export interface MeasurementRecord {
  id: string;
  title: string;
  seconds: number;
  figures: (Figure & { ratio?: number })[];
  notes: string[];
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
    `| executable | ${cell(m.icecore)} |`,
    `| tree | ${cell(m.git)} |`,
    `| user | ${m.user}${report.root_flags.length ? "; icecore run with " + report.root_flags.join(" ") : ""} |`,
    `| load average (1, 5, 15 min) | at start ${m.loadavg_start}; at end ${m.loadavg_end ?? "?"} |`,
    `| bench duration | ${report.total_seconds.toFixed(0)} s |`,
    "",
    "| measurement | figure | icecore | baseline | icecore ÷ baseline |",
    "| --- | --- | ---: | ---: | ---: |",
  ];
  for (const record of report.measurements) {
    if (record.error) {
      lines.push(`| ${cell(record.title)} | **failed**: ${cell(record.error.split("\n")[0]!)} | | | |`);
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
