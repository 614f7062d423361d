import * as v from "valibot";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const NAMES: [number, string][] = [
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1000, "second"],
];

/** "500ms", "5s", "24h", "30d" → milliseconds; a bare number is seconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNITS[match[2] ?? "s"]!;
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

/** Milliseconds as a person says them: "10 minutes", "30 days", "1 second", "100 ms". */
export function formatDuration(ms: number): string {
  for (const [size, name] of NAMES) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} ms`;
}

/** A valibot schema for a duration flag between `min` and `max` milliseconds. */
export function durationSchema(min: number, max: number, label: string) {
  return v.pipe(
    v.string(),
    v.transform(parseDuration),
    v.number(`${label} must be a duration like 500ms, 5s, 10m, 24h or 7d`),
    v.minValue(min, `${label} must be at least ${formatDuration(min)}`),
    v.maxValue(max, `${label} must be at most ${formatDuration(max)}`),
  );
}
