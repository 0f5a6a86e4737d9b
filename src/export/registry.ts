/**
 * The running remote-write exporters of this process, for `INFO remote_write` (the RESP server
 * does not own them: `serve` starts them beside it).
 *
 * @module
 */

import type { ExporterStats } from "./remote_write.ts";

/** What the registry needs of an exporter. */
export interface StatsSource {
  stats(): ExporterStats;
}

const running = new Set<StatsSource>();

/** Adds a started exporter. */
export function registerExporter(e: StatsSource): void {
  running.add(e);
}

/** Removes a stopped exporter. */
export function unregisterExporter(e: StatsSource): void {
  running.delete(e);
}

/** Stats of every running exporter, in start order. */
export function exporterStats(): ExporterStats[] {
  return [...running].map((e) => e.stats());
}
