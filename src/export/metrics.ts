/**
 * Stats of the ingest endpoints and the remote-write exporters (ARCHITECTURE.md § "Remote-write
 * export"), declared once in the process-wide `exportRegistry` (both keep process-wide counts):
 * `/metrics`, `INFO ingest` and `/v1/stats` render from it (ARCHITECTURE.md § "Metrics
 * registry"). `INFO remote_write` numbers its exporters (`target0_...`) and shows their URLs and
 * errors, so it stays in `info.ts`, reading the same `exporterStats()`.
 *
 * @module
 */

import { ingestCounters } from "../ingest/counters.ts";
import { attachedRegistries, Registry, type Sample } from "../metrics/mod.ts";
import { engineRegistry, type StatsProvider } from "../engine/metrics.ts";
import type { ExporterStats } from "./remote_write.ts";
import { exporterStats } from "./registry.ts";

/** The registry of the ingest endpoints and the remote-write exporters of this process. */
export const exportRegistry: Registry = new Registry({ infoSection: "ingest" });

const c = ingestCounters;
const byProtocol = (influx: () => number, remoteWrite: () => number) => (): Sample[] => [
  { labels: ["influx"], value: influx() },
  { labels: ["remote_write"], value: remoteWrite() },
];

exportRegistry.collectAll([
  {
    name: "cityhall_ingest_samples_total",
    help: "Samples stored by the ingest endpoints",
    type: "counter",
    unit: "1",
    labels: ["protocol"],
    info: { section: "ingest", field: ([p]) => `${p}_samples` },
    json: "ingest.samples",
    collect: byProtocol(() => c.influxSamples, () => c.remoteWriteSamples),
  },
  {
    name: "cityhall_ingest_refused_samples_total",
    help: "Samples the store refused",
    type: "counter",
    unit: "1",
    labels: ["protocol"],
    info: { section: "ingest", field: ([p]) => `${p}_refused_samples` },
    json: "ingest.refusedSamples",
    collect: byProtocol(() => c.influxRefusedSamples, () => c.remoteWriteRefusedSamples),
  },
  {
    name: "cityhall_ingest_influx_bad_lines_total",
    help: "Influx lines that did not parse",
    type: "counter",
    unit: "1",
    info: { section: "ingest", field: "influx_bad_lines" },
    json: "ingest.influxBadLines",
    collect: () => c.influxBadLines,
  },
  {
    name: "cityhall_ingest_influx_string_fields_skipped_total",
    help: "Influx string fields skipped",
    type: "counter",
    unit: "1",
    info: { section: "ingest", field: "influx_string_fields_skipped" },
    json: "ingest.influxStringFieldsSkipped",
    collect: () => c.influxStringFieldsSkipped,
  },
  {
    name: "cityhall_ingest_remote_write_rejected_requests_total",
    help: "Remote-write requests that could not be decoded",
    type: "counter",
    unit: "1",
    info: { section: "ingest", field: "remote_write_rejected_requests" },
    json: "ingest.remoteWriteRejectedRequests",
    collect: () => c.remoteWriteRejectedRequests,
  },
]);

const perExporter = (f: (s: ExporterStats) => number) => (): Sample[] =>
  exporterStats().map((s) => ({ labels: [s.url], value: f(s) }));
// INFO remote_write shows these per exporter index (info.ts).
const remoteWrite = { labels: ["url"], info: false } as const;

exportRegistry.collectAll([
  {
    name: "cityhall_remote_write_samples_sent_total",
    help: "Samples acknowledged by the receiver",
    type: "counter",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.samplesSent",
    collect: perExporter((s) => s.samplesSent),
  },
  {
    name: "cityhall_remote_write_bytes_sent_total",
    help: "Compressed bytes of acknowledged requests",
    type: "counter",
    unit: "bytes",
    ...remoteWrite,
    json: "remoteWrite.bytesSent",
    collect: perExporter((s) => s.bytesSent),
  },
  {
    name: "cityhall_remote_write_requests_sent_total",
    help: "Requests acknowledged by the receiver",
    type: "counter",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.requestsSent",
    collect: perExporter((s) => s.requestsSent),
  },
  {
    name: "cityhall_remote_write_retries_total",
    help: "Requests retried after 5xx, 429 or a network error",
    type: "counter",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.retries",
    collect: perExporter((s) => s.retries),
  },
  {
    name: "cityhall_remote_write_refused_requests_total",
    help: "Requests refused by the receiver with a 4xx and skipped",
    type: "counter",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.requestsRefused",
    collect: perExporter((s) => s.requestsRefused),
  },
  {
    name: "cityhall_remote_write_refused_samples_total",
    help: "Samples refused by the receiver with a 4xx and skipped",
    type: "counter",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.samplesRefused",
    collect: perExporter((s) => s.samplesRefused),
  },
  {
    name: "cityhall_remote_write_lag_seconds",
    help: "Newest stored minus newest shipped sample time, worst series",
    type: "gauge",
    unit: "seconds",
    ...remoteWrite,
    json: "remoteWrite.lagSeconds",
    collect: perExporter((s) => s.lagMs / 1000),
  },
  {
    name: "cityhall_remote_write_pending_series",
    help: "Series with samples not yet shipped",
    type: "gauge",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.pendingSeries",
    collect: perExporter((s) => s.pendingSeries),
  },
  {
    name: "cityhall_remote_write_retrying",
    help: "1 while the receiver is failing and requests are being retried",
    type: "gauge",
    unit: "1",
    ...remoteWrite,
    json: "remoteWrite.retrying",
    collect: perExporter((s) => s.retrying ? 1 : 0),
  },
]);

/**
 * Every registry describing `db` in this process, in render order: the engine's, those attached
 * to it (the RESP server's, the HTTP server's), then the ingest and export stats.
 */
export function registriesOf(db: StatsProvider): Registry[] {
  const engine = engineRegistry(db);
  return [engine, ...attachedRegistries(db).filter((r) => r !== engine), exportRegistry];
}
