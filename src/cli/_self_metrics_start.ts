/**
 * Starts the host agent for `--self-metrics` (`src/agent/`, ARCHITECTURE.md § "Host agent").
 * Apart from the flags' parsing (`_self_metrics.ts`) so that a daemon loads the agent only when
 * the flag is given.
 *
 * @module
 */

import {
  type HostAgent,
  SELF_METRICS_ROLLUP_BUCKET_MS,
  type SelfMetricsSettings,
  type SeriesStoreLike,
  startSelfMetrics,
  TsSink,
} from "../agent/mod.ts";
import type { Database } from "../engine/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import type { Logger } from "../util/log.ts";

/**
 * Starts the agent for a daemon, writing into the time-series layer through a `TsSink`, or says
 * why it cannot run (a replica is read-only).
 */
export function startAgentFor(
  command: string,
  db: Database,
  settings: SelfMetricsSettings,
  timeseries: SeriesStoreLike,
  metrics: Registry | undefined,
  logger: Logger,
): HostAgent | undefined {
  if (command === "replica") {
    logger(
      "warn",
      "self-metrics: off on a replica, which is read-only (the leader records its own host)",
      {},
    );
    return undefined;
  }
  const sink = new TsSink(timeseries, {
    retentionMs: settings.retentionMs,
    rollupBucketMs: SELF_METRICS_ROLLUP_BUCKET_MS,
    rollupRetentionMs: settings.rollupRetentionMs,
  });
  return startSelfMetrics(db, sink, settings, { logger, ...(metrics ? { metrics } : {}) });
}
