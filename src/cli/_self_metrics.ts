/**
 * `--self-metrics[=INTERVAL]` and its retention flags for `serve`, `leader` and `replica`: the
 * flags' parsing (`_self_metrics_start.ts` starts the host agent: `src/agent/`,
 * ARCHITECTURE.md § "Host agent").
 *
 * @module
 */

import {
  SELF_METRICS_INTERVAL_MS_DEFAULT,
  SELF_METRICS_RETENTION_MS_DEFAULT,
  SELF_METRICS_ROLLUP_RETENTION_MS_DEFAULT,
  type SelfMetricsSettings,
} from "../agent/settings.ts";
import { type ParsedArgs, UsageError } from "./_args.ts";

/** The flags (value flags; `--self-metrics` alone means `--self-metrics=10s`). */
export const SELF_METRICS_FLAGS = [
  "self-metrics",
  "self-metrics-retention",
  "self-metrics-rollup-retention",
] as const;

/** The flags' lines in `serve --help`. */
export const SELF_METRICS_HELP = `  --self-metrics[=INTERVAL]
                         Record this host's health (CPU, load, memory, swap, disk use and
                         I/O per mount, network, temperature; Linux) and CityHall's own
                         metrics as time series labelled host=<hostname>, every INTERVAL
                         (default 10s); the web console at / charts them
  --self-metrics-retention D
                         Keep those samples for D (default 7d)
  --self-metrics-rollup-retention D
                         Keep their 1-minute averages for D (default 90d)
`;

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `10s`, `500ms`, `1m`, `2h`, `7d` into milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text);
  return m === null ? undefined : Number(m[1]) * UNITS_MS[m[2]!]!;
}

function durationFlag(
  command: string,
  parsed: ParsedArgs,
  name: string,
  fallbackMs: number,
  minMs: number,
  maxMs: number,
): number {
  const raw = parsed.strings.get(name);
  if (raw === undefined) return fallbackMs;
  const ms = parseDurationMs(raw);
  if (ms === undefined || ms < minMs || ms > maxMs) {
    throw new UsageError(
      command,
      `invalid --${name} ${JSON.stringify(raw)}: use a duration from ${describe(minMs)} to ` +
        `${describe(maxMs)}, such as 10s, 5m, 7d (units ms, s, m, h, d)`,
    );
  }
  return ms;
}

function describe(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]]) {
    if (ms >= (size as number) && ms % (size as number) === 0) {
      return `${ms / (size as number)}${unit}`;
    }
  }
  return `${ms}ms`;
}

/** The agent's settings from the flags, or undefined without `--self-metrics`. */
export function selfMetricsSettings(
  command: string,
  parsed: ParsedArgs,
): SelfMetricsSettings | undefined {
  if (!parsed.strings.has("self-metrics")) {
    for (const name of SELF_METRICS_FLAGS.slice(1)) {
      if (parsed.strings.has(name)) throw new UsageError(command, `--${name} needs --self-metrics`);
    }
    return undefined;
  }
  const intervalMs = durationFlag(
    command,
    parsed,
    "self-metrics",
    SELF_METRICS_INTERVAL_MS_DEFAULT,
    1000,
    3_600_000,
  );
  const retentionMs = durationFlag(
    command,
    parsed,
    "self-metrics-retention",
    SELF_METRICS_RETENTION_MS_DEFAULT,
    Math.max(intervalMs, 60_000),
    3650 * 86_400_000,
  );
  const rollupRetentionMs = durationFlag(
    command,
    parsed,
    "self-metrics-rollup-retention",
    SELF_METRICS_ROLLUP_RETENTION_MS_DEFAULT,
    3_600_000,
    3650 * 86_400_000,
  );
  return { intervalMs, retentionMs, rollupRetentionMs };
}
