/**
 * What `--self-metrics` sets and its defaults, in a module of their own: the command line parses
 * the flags without loading the agent (`src/cli/_self_metrics.ts`).
 *
 * @module
 */

/** What `--self-metrics` and its companion flags set. */
export interface SelfMetricsSettings {
  /** Milliseconds between samples (default 10 s). */
  intervalMs: number;
  /** Retention of the raw series (default 7 days). */
  retentionMs: number;
  /** Retention of the 1-minute rollups (default 90 days). */
  rollupRetentionMs: number;
}

/** Default interval of `--self-metrics`. */
export const SELF_METRICS_INTERVAL_MS_DEFAULT = 10_000;
/** Default retention of the agent's raw series. */
export const SELF_METRICS_RETENTION_MS_DEFAULT = 7 * 86_400_000;
/** Default retention of the agent's 1-minute rollups. */
export const SELF_METRICS_ROLLUP_RETENTION_MS_DEFAULT = 90 * 86_400_000;
/** Bucket of the agent's rollup series. */
export const SELF_METRICS_ROLLUP_BUCKET_MS = 60_000;
