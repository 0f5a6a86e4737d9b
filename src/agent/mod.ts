/**
 * The host agent (`serve --self-metrics[=10s]`): CityHall records its host's health and its own
 * metrics as time series labelled `host=<hostname>`, so a fresh install shows something useful
 * in the web console within a minute. ARCHITECTURE.md § "Host agent".
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import type { Registry } from "../metrics/mod.ts";
import type { Logger } from "../util/log.ts";
import { HostAgent } from "./agent.ts";
import { HostCollector, type HostPaths } from "./host.ts";
import { SelfCollector } from "./self.ts";
import type { SampleSink } from "./sink.ts";
import type { SelfMetricsSettings } from "./settings.ts";

export { type AgentCost, type AgentOptions, HostAgent, seriesKey, seriesLabels } from "./agent.ts";
export { HostCollector, type HostPaths, type Reading } from "./host.ts";
export { quantileOf, SelfCollector } from "./self.ts";
export { type Labels, MemorySink, type Sample, type SampleSink } from "./sink.ts";
export { rollupSuffix, type SeriesStoreLike, TsSink, type TsSinkOptions } from "./ts_sink.ts";

export {
  SELF_METRICS_INTERVAL_MS_DEFAULT,
  SELF_METRICS_RETENTION_MS_DEFAULT,
  SELF_METRICS_ROLLUP_BUCKET_MS,
  SELF_METRICS_ROLLUP_RETENTION_MS_DEFAULT,
  type SelfMetricsSettings,
} from "./settings.ts";

/** Options of `startSelfMetrics`. */
export interface StartSelfMetricsOptions {
  /** The RESP server's registry (command rates, latencies); default: the one attached to the db. */
  metrics?: Registry;
  /** Log sink. */
  logger: Logger;
  /** `host` label (default `Deno.hostname()`). */
  hostname?: string;
  /** Where the host collector reads (tests). */
  paths?: HostPaths;
  /** Operating system (default `Deno.build.os`); host readings need `linux`. */
  os?: string;
}

/**
 * Starts the agent writing to `sink`. Off Linux it records only CityHall's own metrics and says
 * so once.
 */
export function startSelfMetrics(
  db: Database,
  sink: SampleSink,
  settings: SelfMetricsSettings,
  options: StartSelfMetricsOptions,
): HostAgent {
  const os = options.os ?? Deno.build.os;
  const linux = os === "linux";
  if (!linux) {
    options.logger(
      "warn",
      `self-metrics: host readings (CPU, memory, disks, network, temperature) come from /proc and /sys, which only Linux has; recording only CityHall's own metrics on ${os}`,
      {},
    );
  }
  const hostname = options.hostname ?? Deno.hostname();
  const agent = new HostAgent({
    intervalMs: settings.intervalMs,
    sink,
    hostname,
    ...(linux ? { host: new HostCollector(options.paths ?? {}) } : {}),
    self: new SelfCollector(db, options.metrics),
    logger: options.logger,
  });
  agent.start();
  options.logger("info", "self-metrics on", {
    interval_ms: settings.intervalMs,
    host: hostname,
    retention_ms: settings.retentionMs,
    rollup_retention_ms: settings.rollupRetentionMs,
  });
  return agent;
}
