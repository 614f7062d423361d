/**
 * SPEC §2: logs go to stderr; `--log-format json` is one object a line with `ts`, `uptime_ms`,
 * `event`. Callers pass only scalar facts: no code path hands a key, PEM, signature or command
 * output to the logger, and `assertLoggable` refuses PEM text as a last line of defence.
 *
 * Some facts come from others: a peer's executable path, a request path. Whatever they hold,
 * a log line never carries a character a terminal or viewer acts on (docs/hardening.md §11): in both
 * formats such characters are written as `\uXXXX` escapes inside a JSON string (see UNSAFE).
 */
import { writeStderrLine } from "./stderr.ts";

export type LogFormat = "text" | "json";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  event(event: string, fields?: LogFields): void;
  /**
   * SPEC §2 `request` (method, path, status, ms, client_id): the line `event("request", …)` would
   * write, built without the generic field walk. It is the hottest line there is (a fifth of the
   * samples in a CPU profile of keep-alive GETs went to the generic path; this saves ≈ 0.9 µs a
   * request, docs/performance.md). A method or path holding a PEM marker is logged as WITHHELD
   * (a client controls both; the line is still written, and the request still answered).
   */
  request(method: string, path: string, status: number, ms: number, clientId: string | null): void;
  readonly format: LogFormat;
}

const PEM_MARKER = "-----BEGIN";

function assertLoggable(fields: LogFields): void {
  for (const key in fields) {
    const value = fields[key];
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

/** One character of UNSAFE as its `\\uXXXX` escape. */
const escapeUnsafe = (ch: string) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * JSON.stringify escapes C0 already; the rest of UNSAFE is turned into `\uXXXX` too. Every such
 * character can only sit inside a JSON string (the syntax is ASCII), so the result is still the
 * same JSON value.
 */
function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, escapeUnsafe);
}

/** Printable ASCII without `"` and `\`: such a string is its own JSON body, nothing to escape. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** safeJson of a string; a plain one (a method, most paths, a client_id) is quoted as it is. */
function safeJsonString(value: string): string {
  if (PLAIN.test(value)) return `"${value}"`;
  const json = JSON.stringify(value);
  return HAS_UNSAFE.test(json) ? json.replace(UNSAFE, escapeUnsafe) : json;
}

/** What a request's client-controlled text is logged as when it holds a PEM marker. */
const WITHHELD = "(withheld: holds a PEM marker)";
const loggable = (text: string) => (text.includes(PEM_MARKER) ? WITHHELD : text);

/** A finite number as JSON writes it (JSON.stringify gives null for NaN and ±Infinity). */
const jsonNumber = (n: number) => (Number.isFinite(n) ? String(n) : "null");

/** `ts`: the ISO 8601 time, formatted once per millisecond however many lines share it. */
let isoAt = Number.NaN;
let iso = "";
function isoNow(): string {
  const now = Date.now();
  if (now !== isoAt) {
    isoAt = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

/**
 * `{"ts", "uptime_ms", "event", ...fields}` as one JSON line. The head is written from values
 * the logger makes itself; the fields (where a stranger's characters can be) go through
 * safeJson. The same text JSON.stringify of the merged object gives, without building it.
 */
function jsonLine(event: string, fields: LogFields): string {
  const head = `{"ts":"${isoNow()}","uptime_ms":${Math.round(uptimeMs() * 1000) / 1000},"event":${safeJson(event)}`;
  const rest = safeJson(fields);
  return rest === "{}" ? `${head}}` : `${head},${rest.slice(1)}`;
}

/** The request line, as jsonLine("request", {method, path, status, ms, client_id}) writes it. */
function requestJsonLine(method: string, path: string, status: number, ms: number, clientId: string | null): string {
  return (
    `{"ts":"${isoNow()}","uptime_ms":${Math.round(uptimeMs() * 1000) / 1000},"event":"request","method":${safeJsonString(method)},` +
    `"path":${safeJsonString(path)},"status":${jsonNumber(status)},"ms":${jsonNumber(ms)},"client_id":${clientId === null ? "null" : safeJsonString(clientId)}}`
  );
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

export interface LoggerOptions {
  /**
   * Events whose lines may be written together rather than one write(2) each: the per-request
   * `request` line, the hottest line there is (docs/performance.md). Every such line is kept and
   * keeps its place among the others: the group is written when it reaches GROUP_LINES, after
   * GROUP_MS, before any other event's line, and when the process exits.
   */
  grouped?: readonly string[];
}

/** A group of lines is written at this many lines, or this long after its first line. */
export const GROUP_LINES = 64;
export const GROUP_MS = 5;

export function createLogger(format: LogFormat, write: (line: string) => void = writeStderrLine, options: LoggerOptions = {}): Logger {
  const grouped = new Set(options.grouped ?? []);
  let pending: string[] = [];
  let timer: Timer | null = null;
  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    write(lines.join("\n"));
  };
  if (grouped.size > 0) process.once("exit", flush);
  const emit = (event: string, line: string) => {
    if (!grouped.has(event)) {
      flush();
      write(line);
      return;
    }
    pending.push(line);
    if (pending.length >= GROUP_LINES) flush();
    else if (timer === null) {
      timer = setTimeout(flush, GROUP_MS);
      // A pending group never keeps the process alive; the exit hook writes it.
      timer.unref();
    }
  };
  return {
    format,
    event(event, fields = {}) {
      assertLoggable(fields);
      emit(event, format === "json" ? jsonLine(event, fields) : textLine(event, fields));
    },
    request(method, path, status, ms, clientId) {
      const [m, p] = [loggable(method), loggable(path)];
      const id = clientId === null ? null : loggable(clientId);
      emit("request", format === "json" ? requestJsonLine(m, p, status, ms, id) : textLine("request", { method: m, path: p, status, ms, client_id: id }));
    },
  };
}

export const silentLogger: Logger = { format: "json", event() {}, request() {} };
