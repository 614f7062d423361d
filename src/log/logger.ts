/**
 * SPEC §2: logs go to stderr; `--log-format json` is one object a line with `ts`, `uptime_ms`,
 * `event`. Callers pass only scalar facts: no code path hands a key, PEM, signature or command
 * output to the logger, and `assertLoggable` refuses PEM text as a last line of defence.
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

function textLine(event: string, fields: LogFields): string {
  const parts = [`icecore: ${event}`];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${typeof value === "string" && /\s/.test(value) ? JSON.stringify(value) : String(value)}`);
  }
  return parts.join(" ");
}

export function createLogger(format: LogFormat, write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  return {
    format,
    event(event, fields = {}) {
      assertLoggable(fields);
      if (format === "json") {
        write(JSON.stringify({ ts: new Date().toISOString(), uptime_ms: Number(uptimeMs().toFixed(3)), event, ...fields }));
      } else {
        write(textLine(event, fields));
      }
    },
  };
}

export const silentLogger: Logger = { format: "json", event() {} };
