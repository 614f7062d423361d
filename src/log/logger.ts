/**
 * SPEC §2: logs go to stderr; `--log-format json` is one object a line with `ts`, `uptime_ms`,
 * `event`. Callers pass only scalar facts: no code path hands a key, PEM, signature or command
 * output to the logger, and `assertLoggable` refuses PEM text as a last line of defence.
 *
 * Some facts come from others: a peer's executable path, a request path. Whatever they hold,
 * a log line never carries a character a terminal or viewer acts on (issue 12 item 11): in both
 * formats such characters are written as `\uXXXX` escapes inside a JSON string (see UNSAFE).
 */
export type LogFormat = "text" | "json";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  event(event: string, fields?: LogFields): void;
  readonly format: LogFormat;
}

const PEM_MARKER = "-----BEGIN";

function assertLoggable(fields: LogFields): void {
  for (const value of Object.values(fields)) {
    if (typeof value === "string" && value.includes(PEM_MARKER)) {
      throw new Error("refusing to log PEM material");
    }
  }
}

/** Milliseconds since the runtime started (Bun's time origin is taken at process start). */
export function uptimeMs(): number {
  return performance.now();
}

/**
 * Escaped in every format: C0 controls and DEL (an ESC starts a terminal escape sequence), C1
 * controls (U+009B is a one-character CSI to some terminals), the line and paragraph separators
 * (U+2028/9 end a line for some readers), and the bidirectional controls that make text display
 * in another order than it is stored (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069; "Trojan
 * Source", CVE-2021-42574), so a logged path reads as what it is.
 */
const UNSAFE_CHARS = "\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069";
const UNSAFE = new RegExp(`[${UNSAFE_CHARS}]`, "g");
const HAS_UNSAFE = new RegExp(`[${UNSAFE_CHARS}]`);

/**
 * JSON.stringify escapes C0 already; the rest of UNSAFE is turned into `\uXXXX` too. Every such
 * character can only sit inside a JSON string (the syntax is ASCII), so the result is still the
 * same JSON value.
 */
function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** `key=value`; a value with spaces, quotes or anything in UNSAFE is written as a JSON string. */
function textLine(event: string, fields: LogFields): string {
  const parts = [`icecore: ${event}`];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const quote = typeof value === "string" && (value === "" || /[\s"\\]/.test(value) || HAS_UNSAFE.test(value));
    parts.push(`${key}=${quote ? safeJson(value) : String(value)}`);
  }
  return parts.join(" ");
}

export function createLogger(format: LogFormat, write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  return {
    format,
    event(event, fields = {}) {
      assertLoggable(fields);
      if (format === "json") {
        write(safeJson({ ts: new Date().toISOString(), uptime_ms: Number(uptimeMs().toFixed(3)), event, ...fields }));
      } else {
        write(textLine(event, fields));
      }
    },
  };
}

export const silentLogger: Logger = { format: "json", event() {} };
