/**
 * `GET /metrics`: Prometheus text exposition format 0.0.4. Every family gets one `# HELP` and
 * one `# TYPE` line followed by its samples, `name{label="value",…} number`. Engine numbers come
 * from `Database.stats()`; command numbers from a `MetricsSource` the RESP server implements;
 * HTTP numbers from the HTTP server itself. ARCHITECTURE.md § "HTTP API" lists the families.
 *
 * @module
 */

import type { DatabaseStats } from "../engine/mod.ts";
import { assert } from "../util/assert.ts";

/** Content type of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A latency histogram as the RESP server keeps it. */
export interface LatencyHistogramSnapshot {
  /** Upper bounds in seconds, ascending, without +Inf. */
  buckets: number[];
  /**
   * Observations per bucket, not cumulative: `counts[i]` are those `<= buckets[i]` and above
   * the previous bound. An optional extra last entry counts those above every bound.
   */
  counts: number[];
  /** Sum of every observation, in seconds. */
  sum: number;
  /** Number of observations (the +Inf bucket). */
  count: number;
}

/** What the RESP server reports to `/metrics` and `/v1/stats`. */
export interface MetricsSource {
  /** Calls per command name since start. */
  commandCounts(): Map<string, number>;
  /** Execution latency of every command together. */
  latencyHistogram?(): LatencyHistogramSnapshot;
  /** Execution latency per command name; used instead of `latencyHistogram` when present. */
  commandLatencyHistograms?(): Map<string, LatencyHistogramSnapshot>;
  /** RESP connections open now. */
  connectedClients(): number;
  /** Families a role adds (a fleet hub's per-site status, an edge's uplink). */
  families?(): ExtraMetricFamily[];
}

/** A metric family a role renders through `/metrics` (declared once in its own module). */
export interface ExtraMetricFamily {
  name: string;
  type: "gauge" | "counter";
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** Upper bounds (seconds) of the HTTP request latency histogram. */
export const HTTP_LATENCY_BUCKETS_S: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Connection, body budget and deadline numbers of the HTTP front. */
export interface HttpFrontStats {
  /** Connections open now. */
  connections: number;
  /** Connections refused (503) because the connection cap was reached. */
  connectionsRefused: number;
  /** Body budget bytes taken now. */
  bodyBudgetBytes: number;
  /** Body budget size. */
  bodyBudgetCapacityBytes: number;
  /** Requests refused (503) because the body budget stayed full. */
  bodyBudgetRefusals: number;
  /** Connections closed by a deadline, by phase (`head`, `body`, `idle`, `write`). */
  timeouts: Record<string, number>;
}

/** Requests and latency of the HTTP server, by route and status code. */
export class HttpMetrics {
  /** The front's numbers, when a server runs. */
  front?: () => HttpFrontStats;
  /** Requests per `route code` pair. */
  readonly requests: Map<string, { route: string; code: number; count: number }> = new Map();
  /** Latency of every request, in seconds. */
  readonly latency: LatencyHistogramSnapshot = {
    buckets: [...HTTP_LATENCY_BUCKETS_S],
    counts: new Array(HTTP_LATENCY_BUCKETS_S.length + 1).fill(0),
    sum: 0,
    count: 0,
  };

  /** Records one request. */
  record(route: string, code: number, latencyS: number): void {
    const id = `${route} ${code}`;
    const r = this.requests.get(id);
    if (r === undefined) this.requests.set(id, { route, code, count: 1 });
    else r.count++;
    let i = 0;
    while (i < this.latency.buckets.length && latencyS > this.latency.buckets[i]!) i++;
    this.latency.counts[i]!++;
    this.latency.sum += latencyS;
    this.latency.count++;
  }

  /** Requests served since start. */
  get total(): number {
    return this.latency.count;
  }
}

/** Everything `/metrics` renders. */
export interface MetricsInput {
  /** `Database.stats()`. */
  stats: DatabaseStats;
  /** CityHall's version. */
  version: string;
  /** Seconds since the HTTP server started. */
  uptimeS: number;
  /** The HTTP server's own numbers. */
  http: HttpMetrics;
  /** The RESP server's numbers, when it runs. */
  source?: MetricsSource;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

type Labels = Record<string, string>;

/** Accumulates families in the text format. */
class PromWriter {
  #lines: string[] = [];
  #families = new Set<string>();

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    assert(!this.#families.has(name), `metric family written twice: ${name}`);
    this.#families.add(name);
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, value: number, labels: Labels = {}): this {
    const entries = Object.entries(labels);
    const l = entries.length === 0
      ? ""
      : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
    this.#lines.push(`${name}${l} ${formatNumber(value)}`);
    return this;
  }

  histogram(name: string, h: LatencyHistogramSnapshot, labels: Labels = {}): this {
    let cumulative = 0;
    for (let i = 0; i < h.buckets.length; i++) {
      cumulative += h.counts[i] ?? 0;
      this.sample(`${name}_bucket`, cumulative, { ...labels, le: formatNumber(h.buckets[i]!) });
    }
    this.sample(`${name}_bucket`, h.count, { ...labels, le: "+Inf" });
    this.sample(`${name}_sum`, h.sum, labels);
    this.sample(`${name}_count`, h.count, labels);
    return this;
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}

/** Renders every metric family in the Prometheus text format 0.0.4. */
export function renderMetrics(input: MetricsInput): string {
  const { stats, http, source } = input;
  const w = new PromWriter();
  w.family("cityhall_build_info", "gauge", "CityHall version; always 1")
    .sample("cityhall_build_info", 1, { version: input.version });
  w.family("cityhall_uptime_seconds", "gauge", "Seconds since the HTTP server started")
    .sample("cityhall_uptime_seconds", input.uptimeS);

  // Engine.
  const gauge = (name: string, help: string, value: number) =>
    w.family(name, "gauge", help).sample(name, value);
  const counter = (name: string, help: string, value: number) =>
    w.family(name, "counter", help).sample(name, value);
  gauge("cityhall_last_sequence", "Sequence number of the newest write", stats.lastSeq);
  gauge(
    "cityhall_flushed_sequence",
    "Every write at or below this is in SSTables",
    stats.flushedSeq,
  );
  gauge("cityhall_memtable_size_bytes", "Bytes in the active memtable", stats.memtableSizeBytes);
  gauge("cityhall_memtable_entries", "Entries in the active memtable", stats.memtableEntries);
  gauge(
    "cityhall_immutable_memtables",
    "Immutable memtables waiting to be flushed",
    stats.immutableMemtables,
  );
  gauge("cityhall_wal_segments", "WAL segments on disk", stats.walSegments);
  gauge("cityhall_wal_size_bytes", "Bytes used in WAL segments", stats.walSizeBytes);
  w.family("cityhall_sstables", "gauge", "SSTables per level");
  for (let level = 0; level < stats.tablesPerLevel.length; level++) {
    w.sample("cityhall_sstables", stats.tablesPerLevel[level]!, { level: String(level) });
  }
  if (stats.tablesPerLevel.length === 0) w.sample("cityhall_sstables", 0, { level: "0" });
  gauge("cityhall_sstable_size_bytes", "Bytes in all live SSTables", stats.sstableSizeBytes);
  gauge(
    "cityhall_sstable_entries",
    "Entries in all live SSTables, tombstones and shadowed versions included",
    stats.sstableEntries,
  );
  counter("cityhall_flushes_total", "Memtable flushes since open", stats.flushes);
  counter("cityhall_compactions_total", "Compactions since open", stats.compactions);
  counter(
    "cityhall_compaction_read_bytes_total",
    "Bytes read by compactions since open",
    stats.compactionBytesRead,
  );
  counter(
    "cityhall_compaction_written_bytes_total",
    "Bytes written by compactions since open",
    stats.compactionBytesWritten,
  );
  counter("cityhall_block_cache_hits_total", "Block cache hits since open", stats.blockCacheHits);
  counter(
    "cityhall_block_cache_misses_total",
    "Block cache misses since open",
    stats.blockCacheMisses,
  );
  counter(
    "cityhall_bytes_written_total",
    "Key and value bytes accepted by writes since open",
    stats.bytesWritten,
  );
  counter("cityhall_puts_total", "Puts since open", stats.puts);
  counter("cityhall_deletes_total", "Deletes since open", stats.deletes);
  counter("cityhall_gets_total", "Point reads since open", stats.gets);
  gauge(
    "cityhall_engine_failed",
    "1 when the engine stopped accepting writes after a fatal error",
    stats.fatalError === undefined ? 0 : 1,
  );

  // RESP server.
  if (source !== undefined) {
    gauge("cityhall_connected_clients", "RESP connections open now", source.connectedClients());
    w.family("cityhall_commands_total", "counter", "RESP commands processed, by name");
    const counts = [...source.commandCounts()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    for (const [name, count] of counts) {
      w.sample("cityhall_commands_total", count, { command: name });
    }
    const perCommand = source.commandLatencyHistograms?.();
    const all = perCommand === undefined ? source.latencyHistogram?.() : undefined;
    if (perCommand !== undefined || all !== undefined) {
      w.family(
        "cityhall_command_duration_seconds",
        "histogram",
        "RESP command execution latency",
      );
      if (perCommand !== undefined) {
        const sorted = [...perCommand].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
        for (const [name, h] of sorted) {
          w.histogram("cityhall_command_duration_seconds", h, { command: name });
        }
      } else if (all !== undefined) {
        w.histogram("cityhall_command_duration_seconds", all);
      }
    }
  }

  for (const f of source?.families?.() ?? []) {
    w.family(f.name, f.type, f.help);
    for (const sample of f.samples) w.sample(f.name, sample.value, sample.labels);
  }

  // HTTP server.
  w.family("cityhall_http_requests_total", "counter", "HTTP requests, by route and status code");
  const requests = [...http.requests.values()].sort((a, b) =>
    a.route < b.route ? -1 : a.route > b.route ? 1 : a.code - b.code
  );
  for (const r of requests) {
    w.sample("cityhall_http_requests_total", r.count, { route: r.route, code: String(r.code) });
  }
  w.family("cityhall_http_request_duration_seconds", "histogram", "HTTP request latency")
    .histogram("cityhall_http_request_duration_seconds", http.latency);
  const front = http.front?.();
  if (front !== undefined) {
    gauge("cityhall_http_connections", "HTTP connections open now", front.connections);
    counter(
      "cityhall_http_connections_refused_total",
      "HTTP connections refused with 503 because the connection cap was reached",
      front.connectionsRefused,
    );
    gauge(
      "cityhall_http_body_budget_bytes",
      "Request body bytes held by HTTP requests now (global body budget in use)",
      front.bodyBudgetBytes,
    );
    gauge(
      "cityhall_http_body_budget_capacity_bytes",
      "Size of the global HTTP body budget",
      front.bodyBudgetCapacityBytes,
    );
    counter(
      "cityhall_http_body_budget_refusals_total",
      "HTTP requests refused with 503 because the body budget stayed full",
      front.bodyBudgetRefusals,
    );
    w.family(
      "cityhall_http_timeouts_total",
      "counter",
      "HTTP connections closed by a deadline, by phase",
    );
    for (const phase of ["head", "body", "idle", "write"]) {
      w.sample("cityhall_http_timeouts_total", front.timeouts[phase] ?? 0, { phase });
    }
  }
  return w.text();
}
