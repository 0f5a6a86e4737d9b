/**
 * Starts the `--remote-write` exporters (`src/export/remote_write.ts`,
 * ARCHITECTURE.md § "Remote-write export"). Apart from the flags' parsing (`_remote_write.ts`)
 * so that a daemon loads the exporter (PromQL's store source, protobuf, Snappy) only when the
 * flag is given.
 *
 * @module
 */

import { RemoteWriteExporter } from "../export/remote_write.ts";
import type { TimeSeriesStore } from "../timeseries/store.ts";
import type { Logger } from "../util/log.ts";
import type { RemoteWriteSettings } from "./_remote_write.ts";

/** Starts one exporter per URL; `stop()` stops them all. */
export async function startRemoteWrite(
  settings: RemoteWriteSettings,
  store: TimeSeriesStore,
  dataDir: string,
  logger: Logger,
): Promise<{ stop(): Promise<void> }> {
  const started: RemoteWriteExporter[] = [];
  try {
    for (const url of settings.urls) {
      started.push(
        await RemoteWriteExporter.start({
          url,
          store,
          dataDir,
          logger,
          filter: settings.filter,
          rollupsOnly: settings.rollupsOnly,
        }),
      );
    }
  } catch (err) {
    await Promise.all(started.map((e) => e.stop()));
    throw err;
  }
  return { stop: async () => void await Promise.all(started.map((e) => e.stop())) };
}
