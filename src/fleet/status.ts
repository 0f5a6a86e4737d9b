/**
 * Sync status, declared once and rendered everywhere (ARCHITECTURE.md § "Fleet status"): each
 * field of a site's status at the hub and of an edge's uplink is listed here with its INFO
 * name, its Prometheus family, help and type, so `INFO sites`, `INFO uplink`, `/metrics`,
 * `cityhall hub site list` and `cityhall uplink status` cannot drift apart.
 *
 * Also the rate meter (bytes and entries per second over the last 10 s) and the "3 d 4 h"
 * way of saying how far behind a site is.
 *
 * @module
 */

/** What a hub knows of one site, and an edge of its uplink (the same numbers both ends). */
export interface SyncStatus {
  /** The site. */
  site: string;
  /** online, offline, refused, snapshot (hub); connecting, connected, … (edge). */
  state: string;
  /** Every edge sequence up to this is durable at the hub. */
  ackedSeq: number;
  /** Newest sequence durable on the edge (as last reported, at the hub). */
  edgeDurableSeq: number;
  /** Operations the hub does not have yet. */
  behindEntries: number;
  /** WAL bytes the hub does not have yet (estimated from the edge's segment sizes). */
  behindBytes: number;
  /** Age of the oldest write the hub does not have, in seconds (0 = caught up). */
  behindSeconds: number;
  /** Wire bytes per second over the last 10 s. */
  rateBytesPerSec: number;
  /** Operations acknowledged per second over the last 10 s. */
  rateEntriesPerSec: number;
  /** Seconds until caught up at the current rate; −1 = unknown (no progress). */
  etaSeconds: number;
  /** Last frame from the other end (Unix ms; 0 = never). */
  lastContactMs: number;
  /** Wire bytes received (hub) or sent (edge) since start. */
  wireBytes: number;
  /** Operations acknowledged since start. */
  entries: number;
  /** Frames resumed after a cut since start. */
  resumes: number;
  /** Snapshots sent or applied since start. */
  snapshots: number;
  /** The last error, empty when none. */
  lastError: string;
}

/** One declared status field. */
interface Field {
  /** INFO name (after the `site<N>:` or `uplink_` prefix). */
  info: string;
  /** Prometheus family suffix (after `cityhall_site_` or `cityhall_uplink_`). */
  metric: string;
  type: "gauge" | "counter";
  help: string;
  get(s: SyncStatus): number;
}

/** The numeric fields, in INFO order. */
export const STATUS_FIELDS: readonly Field[] = [
  {
    info: "acked_seq",
    metric: "acked_sequence",
    type: "gauge",
    help: "Every edge sequence up to this is durable at the hub",
    get: (s) => s.ackedSeq,
  },
  {
    info: "edge_durable_seq",
    metric: "edge_durable_sequence",
    type: "gauge",
    help: "Newest sequence durable on the edge",
    get: (s) => s.edgeDurableSeq,
  },
  {
    info: "behind_entries",
    metric: "behind_entries",
    type: "gauge",
    help: "Operations the hub does not have yet",
    get: (s) => s.behindEntries,
  },
  {
    info: "behind_bytes",
    metric: "behind_bytes",
    type: "gauge",
    help: "WAL bytes the hub does not have yet (estimated)",
    get: (s) => s.behindBytes,
  },
  {
    info: "behind_seconds",
    metric: "behind_seconds",
    type: "gauge",
    help: "Age of the oldest write the hub does not have",
    get: (s) => s.behindSeconds,
  },
  {
    info: "rate_bytes_per_sec",
    metric: "rate_bytes_per_second",
    type: "gauge",
    help: "Wire bytes per second over the last 10 s",
    get: (s) => s.rateBytesPerSec,
  },
  {
    info: "rate_entries_per_sec",
    metric: "rate_entries_per_second",
    type: "gauge",
    help: "Operations acknowledged per second over the last 10 s",
    get: (s) => s.rateEntriesPerSec,
  },
  {
    info: "eta_seconds",
    metric: "eta_seconds",
    type: "gauge",
    help: "Seconds until caught up at the current rate (-1 unknown)",
    get: (s) => s.etaSeconds,
  },
  {
    info: "last_contact_ms",
    metric: "last_contact_timestamp_ms",
    type: "gauge",
    help: "Last frame from the other end, Unix ms",
    get: (s) => s.lastContactMs,
  },
  {
    info: "wire_bytes",
    metric: "wire_bytes_total",
    type: "counter",
    help: "Wire bytes since start",
    get: (s) => s.wireBytes,
  },
  {
    info: "entries",
    metric: "entries_total",
    type: "counter",
    help: "Operations acknowledged since start",
    get: (s) => s.entries,
  },
  {
    info: "resumes",
    metric: "resumes_total",
    type: "counter",
    help: "Frames resumed after a cut link since start",
    get: (s) => s.resumes,
  },
  {
    info: "snapshots",
    metric: "snapshots_total",
    type: "counter",
    help: "Snapshots since start",
    get: (s) => s.snapshots,
  },
];

/** A Prometheus family: name, type, help and labelled samples. */
export interface MetricFamily {
  name: string;
  type: "gauge" | "counter";
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** The families of `statuses` under `prefix` (`cityhall_site` or `cityhall_uplink`). */
export function statusFamilies(
  prefix: string,
  statuses: readonly SyncStatus[],
  labels: (s: SyncStatus) => Record<string, string>,
): MetricFamily[] {
  const families: MetricFamily[] = [{
    name: `${prefix}_connected`,
    type: "gauge",
    help: "1 when the link is up",
    samples: statuses.map((s) => ({
      labels: labels(s),
      value: s.state === "online" || s.state === "connected" ? 1 : 0,
    })),
  }];
  for (const f of STATUS_FIELDS) {
    families.push({
      name: `${prefix}_${f.metric}`,
      type: f.type,
      help: f.help,
      samples: statuses.map((s) => ({ labels: labels(s), value: f.get(s) })),
    });
  }
  return families;
}

/** The fields as `name=value` pairs for an INFO line (`site0:site=…,state=…,…`). */
export function statusInfoPairs(s: SyncStatus): [string, string | number][] {
  const pairs: [string, string | number][] = [["site", s.site], ["state", s.state]];
  for (const f of STATUS_FIELDS) pairs.push([f.info, f.get(s)]);
  pairs.push(["behind", formatBehind(s.behindSeconds)]);
  pairs.push(["eta", s.etaSeconds < 0 ? "unknown" : formatDuration(s.etaSeconds)]);
  pairs.push(["last_error", s.lastError.replace(/[\r\n,]/g, " ")]);
  return pairs;
}

/** "3 d 4 h", "5 h 12 min", "12 min 5 s", "42 s" (the two largest units). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const units: [string, number][] = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const parts: string[] = [];
  let rest = s;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (parts.length > 0 && parts.length < 2)) parts.push(`${n} ${name}`);
    if (parts.length === 2) break;
  }
  if (parts.length === 2 && parts[1]!.startsWith("0 ")) parts.pop();
  return parts.length === 0 ? "0 s" : parts.join(" ");
}

/** "caught up" or "3 d 4 h behind". */
export function formatBehind(seconds: number): string {
  return seconds <= 0 ? "caught up" : `${formatDuration(seconds)} behind`;
}

/** Bytes and entries per second over a sliding window. */
export class RateMeter {
  readonly #windowMs: number;
  readonly #samples: { ms: number; bytes: number; entries: number }[] = [];
  readonly #now: () => number;

  constructor(windowMs = 10_000, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Records `bytes` on the wire and `entries` acknowledged now. */
  add(bytes: number, entries: number): void {
    const ms = this.#now();
    const last = this.#samples[this.#samples.length - 1];
    if (last !== undefined && ms - last.ms < 100) {
      last.bytes += bytes;
      last.entries += entries;
    } else this.#samples.push({ ms, bytes, entries });
    this.#trim(ms);
  }

  #trim(ms: number): void {
    while (this.#samples.length > 0 && ms - this.#samples[0]!.ms > this.#windowMs) {
      this.#samples.shift();
    }
  }

  /** Bytes and entries per second over the window (0 when nothing moved). */
  rates(): { bytesPerSec: number; entriesPerSec: number } {
    const ms = this.#now();
    this.#trim(ms);
    if (this.#samples.length === 0) return { bytesPerSec: 0, entriesPerSec: 0 };
    let bytes = 0;
    let entries = 0;
    for (const s of this.#samples) {
      bytes += s.bytes;
      entries += s.entries;
    }
    // Over the window, or since the first sample when the link came up more recently.
    const spanMs = Math.max(1_000, Math.min(this.#windowMs, ms - this.#samples[0]!.ms + 100));
    return {
      bytesPerSec: Math.round((bytes * 1000) / spanMs),
      entriesPerSec: Math.round((entries * 1000) / spanMs),
    };
  }
}

/** Seconds to catch up `behindEntries` at `entriesPerSec`; −1 when nothing moves. */
export function etaSeconds(behindEntries: number, entriesPerSec: number): number {
  if (behindEntries <= 0) return 0;
  if (entriesPerSec <= 0) return -1;
  return Math.ceil(behindEntries / entriesPerSec);
}
