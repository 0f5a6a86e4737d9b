/**
 * `/metrics` families of the ingest endpoints and the remote-write exporters (ARCHITECTURE.md
 * § "Remote-write export"), appended to the server's own exposition.
 *
 * @module
 */

import { ingestCounters } from "../ingest/counters.ts";
import { exporterStats } from "./registry.ts";

function label(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/** The families in the Prometheus text format 0.0.4 (empty families are left out). */
export function exportMetricsText(): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, samples: [string, number][]) => {
    if (samples.length === 0) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`);
  };
  const c = ingestCounters;
  family("cityhall_ingest_samples_total", "counter", "Samples stored by the ingest endpoints", [
    ['{protocol="influx"}', c.influxSamples],
    ['{protocol="remote_write"}', c.remoteWriteSamples],
  ]);
  family("cityhall_ingest_refused_samples_total", "counter", "Samples the store refused", [
    ['{protocol="influx"}', c.influxRefusedSamples],
    ['{protocol="remote_write"}', c.remoteWriteRefusedSamples],
  ]);
  family("cityhall_ingest_influx_bad_lines_total", "counter", "Influx lines that did not parse", [
    ["", c.influxBadLines],
  ]);
  family(
    "cityhall_ingest_influx_string_fields_skipped_total",
    "counter",
    "Influx string fields skipped",
    [["", c.influxStringFieldsSkipped]],
  );
  const all = exporterStats();
  const per = (f: (s: (typeof all)[number]) => number): [string, number][] =>
    all.map((s) => [`{url="${label(s.url)}"}`, f(s)]);
  family(
    "cityhall_remote_write_samples_sent_total",
    "counter",
    "Samples acknowledged by the receiver",
    per((s) => s.samplesSent),
  );
  family(
    "cityhall_remote_write_bytes_sent_total",
    "counter",
    "Compressed bytes of acknowledged requests",
    per((s) => s.bytesSent),
  );
  family(
    "cityhall_remote_write_retries_total",
    "counter",
    "Requests retried after 5xx, 429 or a network error",
    per((s) => s.retries),
  );
  family(
    "cityhall_remote_write_refused_samples_total",
    "counter",
    "Samples refused by the receiver with a 4xx and skipped",
    per((s) => s.samplesRefused),
  );
  family(
    "cityhall_remote_write_lag_seconds",
    "gauge",
    "Newest stored minus newest shipped sample time, worst series",
    per((s) => s.lagMs / 1000),
  );
  family(
    "cityhall_remote_write_pending_series",
    "gauge",
    "Series with samples not yet shipped",
    per((s) => s.pendingSeries),
  );
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
