/** How times and sizes read in the console. Pure (unit-tested). */

/**
 * 1234 → "1.2 s", 65_000 → "1 min 5 s", 90061000 → "1 d 1 h".
 * @param {number} ms
 */
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "—";
  const sign = ms < 0 ? "−" : "";
  ms = Math.abs(ms);
  if (ms < 1000) return `${sign}${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${sign}${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
  const total = Math.floor(s);
  const [d, h, m, sec] = [Math.floor(total / 86400), Math.floor((total % 86400) / 3600), Math.floor((total % 3600) / 60), total % 60];
  if (d > 0) return `${sign}${d} d ${h} h`;
  if (h > 0) return `${sign}${h} h ${m} min`;
  return `${sign}${m} min ${sec} s`;
}

/**
 * "in 5 h 2 min" / "3 min 4 s ago", relative to `now`.
 * @param {string | number | Date} when
 * @param {number} now
 */
export function formatRelative(when, now) {
  const t = new Date(when).getTime();
  if (Number.isNaN(t)) return "—";
  const delta = t - now;
  if (Math.abs(delta) < 1000) return "now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/**
 * Local date and time, to the second, e.g. "2026-12-01 14:03:07".
 * @param {string | number | Date} when
 */
export function formatTimestamp(when) {
  const date = new Date(when);
  if (Number.isNaN(date.getTime())) return "—";
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/**
 * Uptime as a clock: "3:07:45" or "2 d 3:07:45".
 * @param {number} ms
 */
export function formatUptime(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const clock = `${Math.floor((total % 86400) / 3600)}:${p(Math.floor((total % 3600) / 60))}:${p(total % 60)}`;
  return d > 0 ? `${d} d ${clock}` : clock;
}
