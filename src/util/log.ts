/**
 * A small structured logger: one line per event on stderr, `time level message key=value…`,
 * filtered by level. Values with spaces, quotes or `=` are quoted so a line stays parseable.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Key/value details attached to a log line. */
export type LogFields = Record<string, string | number | boolean | bigint | undefined>;

/** Writes one log line. */
export type Logger = (level: LogLevel, message: string, fields?: LogFields) => void;

const encoder = new TextEncoder();

function formatValue(value: string | number | boolean | bigint): string {
  const s = String(value);
  return /^[^\s"=]*$/.test(s) && s.length > 0 ? s : JSON.stringify(s);
}

/** Formats one line (without the newline). */
export function formatLogLine(
  level: LogLevel,
  message: string,
  fields: LogFields = {},
  now = new Date(),
): string {
  let line = `${now.toISOString()} ${level} ${message}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** True for the names of log levels. */
export function isLogLevel(name: string): name is LogLevel {
  return name in RANK;
}

/** A logger writing lines at `minLevel` and above to stderr. */
export function createLogger(minLevel: LogLevel = "info"): Logger {
  const min = RANK[minLevel];
  return (level, message, fields) => {
    if (RANK[level] < min) return;
    try {
      Deno.stderr.writeSync(encoder.encode(formatLogLine(level, message, fields) + "\n"));
    } catch {
      // stderr closed: nowhere left to report to.
    }
  };
}

/** A logger that drops everything (tests, embedded use). */
export const silentLogger: Logger = () => {};
