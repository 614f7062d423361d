import * as v from "valibot";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "5s", "24h", "30d" → milliseconds; a bare number is seconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNITS[match[2] ?? "s"]!;
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

/** A valibot schema for a duration flag between `min` and `max` milliseconds. */
export function durationSchema(min: number, max: number, label: string) {
  return v.pipe(
    v.string(),
    v.transform(parseDuration),
    v.number(`${label} must be a duration like 500ms, 5s, 10m, 24h or 7d`),
    v.minValue(min, `${label} must be at least ${min} ms`),
    v.maxValue(max, `${label} must be at most ${max / 86_400_000} days`),
  );
}
