/**
 * A small structured logger: one line per event on stderr, filtered by level, in one of two
 * formats that journald, Loki, Vector and friends parse without configuration:
 *
 * - `logfmt` (default): `time=2026-11-29T22:09:21.123Z level=info msg="listening" resp=...`.
 *   Strict logfmt: `msg` is always quoted; a value is quoted when it is empty or holds a space,
 *   `=`, `"`, `\` or a control character, with JSON string escapes inside the quotes.
 * - `json`: one object per line, `{"time":...,"level":...,"msg":...,...fields}`; bigints become
 *   strings, and a field named like a fixed key is written as `field.<name>`.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Line formats. */
export type LogFormat = "logfmt" | "json";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Key/value details attached to a log line. */
export type LogFields = Record<string, string | number | boolean | bigint | undefined>;

/** Writes one log line. */
export type Logger = (level: LogLevel, message: string, fields?: LogFields) => void;

const encoder = new TextEncoder();

// Bare values: printable ASCII and beyond, minus the characters logfmt parsers split on.
// deno-lint-ignore no-control-regex
const BARE_VALUE = /^[^\s"=\\\x00-\x1f\x7f]+$/;
const FIELD_KEY = /^[A-Za-z_][A-Za-z0-9_.\-]*$/;
const FIXED_KEYS = new Set(["time", "level", "msg"]);

function logfmtValue(value: string | number | boolean | bigint): string {
  const s = String(value);
  return BARE_VALUE.test(s) ? s : JSON.stringify(s);
}

function fieldKey(key: string): string {
  const safe = FIELD_KEY.test(key) ? key : key.replace(/[^A-Za-z0-9_.\-]/g, "_") || "_";
  return FIXED_KEYS.has(safe) ? `field.${safe}` : safe;
}

/** Formats `key=value` pairs the way log lines do (report lines of offline tools use it). */
export function formatLogfmtFields(fields: LogFields): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) parts.push(`${fieldKey(key)}=${logfmtValue(value)}`);
  }
  return parts.join(" ");
}

const pad2 = (n: number): string => n < 10 ? `0${n}` : String(n);

/**
 * `d.toISOString()` for the years 0 to 9999, from the date's UTC fields: V8's `toISOString`
 * brings ~1.3 MiB of the executable's code into RSS that an idle server otherwise never touches
 * (ARCHITECTURE.md § "Memory").
 */
export function isoTime(d: Date): string {
  const ms = d.getUTCMilliseconds();
  return `${String(d.getUTCFullYear()).padStart(4, "0")}-${pad2(d.getUTCMonth() + 1)}-${
    pad2(d.getUTCDate())
  }T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${
    ms < 10 ? "00" : ms < 100 ? "0" : ""
  }${ms}Z`;
}

/** Formats one logfmt line (without the newline). */
export function formatLogLine(
  level: LogLevel,
  message: string,
  fields: LogFields = {},
  now: Date = new Date(),
): string {
  let line = `time=${isoTime(now)} level=${level} msg=${JSON.stringify(message)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${fieldKey(key)}=${logfmtValue(value)}`;
  }
  return line;
}

/** Formats one JSON line (without the newline). */
export function formatJsonLogLine(
  level: LogLevel,
  message: string,
  fields: LogFields = {},
  now: Date = new Date(),
): string {
  const out: Record<string, string | number | boolean> = {
    time: isoTime(now),
    level,
    msg: message,
  };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const name = FIXED_KEYS.has(key) ? `field.${key}` : key;
    out[name] = typeof value === "bigint"
      ? value.toString()
      : typeof value === "number" && !Number.isFinite(value)
      ? String(value)
      : value;
  }
  return JSON.stringify(out);
}

/** True for the names of log levels. */
export function isLogLevel(name: string): name is LogLevel {
  return name in RANK;
}

/** True for the names of log formats. */
export function isLogFormat(name: string): name is LogFormat {
  return name === "logfmt" || name === "json";
}

/** True when a line at `level` passes the `minLevel` filter. */
export function levelEnabled(level: LogLevel, minLevel: LogLevel): boolean {
  return RANK[level] >= RANK[minLevel];
}

/** A logger writing lines at `minLevel` and above to stderr in `format`. */
export function createLogger(minLevel: LogLevel = "info", format: LogFormat = "logfmt"): Logger {
  const min = RANK[minLevel];
  const render = format === "json" ? formatJsonLogLine : formatLogLine;
  return (level, message, fields) => {
    if (RANK[level] < min) return;
    try {
      Deno.stderr.writeSync(encoder.encode(render(level, message, fields) + "\n"));
    } catch {
      // stderr closed: nowhere left to report to.
    }
  };
}

/** A logger that drops everything (tests, embedded use). */
export const silentLogger: Logger = () => {};

/**
 * Parses one logfmt line as written by `formatLogLine` (and by other strict logfmt writers):
 * `key=value` pairs separated by spaces, values bare or double-quoted with JSON escapes.
 * Returns undefined for a line that is not logfmt.
 */
export function parseLogfmt(line: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && line[i] === " ") i++;
    if (i >= n) break;
    const eq = line.indexOf("=", i);
    if (eq < 0) return undefined;
    const key = line.slice(i, eq);
    if (key.length === 0 || /\s/.test(key)) return undefined;
    i = eq + 1;
    if (line[i] === '"') {
      let j = i + 1;
      while (j < n && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
      if (j >= n) return undefined;
      try {
        out[key] = JSON.parse(line.slice(i, j + 1));
      } catch {
        return undefined;
      }
      i = j + 1;
    } else {
      let j = i;
      while (j < n && line[j] !== " ") j++;
      out[key] = line.slice(i, j);
      i = j;
    }
  }
  return out;
}

/**
 * At most one line per `intervalMs` at the asked level; the lines in between go out at debug
 * and the next one carries `suppressed=<count>`. Used for what unauthenticated peers can make a
 * server say (a flood of bad handshakes must not flood the log).
 */
export class ThrottledLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #loggedMs = 0;
  #suppressed = 0;

  constructor(logger: Logger, intervalMs: number) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** Logs `message` at `level`, or at debug within the interval of the last one. */
  log(level: LogLevel, message: string, fields: LogFields): void {
    const now = Date.now();
    if (now - this.#loggedMs < this.#intervalMs) {
      this.#suppressed++;
      this.#logger("debug", message, fields);
      return;
    }
    this.#logger(level, message, {
      ...fields,
      ...(this.#suppressed > 0 ? { suppressed: this.#suppressed } : {}),
    });
    this.#loggedMs = now;
    this.#suppressed = 0;
  }
}
