/**
 * CityHall's own metrics for the host agent: operations per second at the engine, RESP command
 * latency percentiles between two ticks, WAL, SSTable and memtable bytes, and replication lag
 * (ARCHITECTURE.md § "Host agent"). The agent's own writes are counted like any others.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import type { LatencyHistogramSnapshot, MetricsSource } from "../http/mod.ts";
import { replicationStatus } from "../console/replication_status.ts";
import type { Reading } from "./host.ts";

/** Buckets summed over every command: upper bounds (s) and per-bucket counts (last: above). */
interface Merged {
  bounds: number[];
  counts: number[];
}

function merge(source: MetricsSource | undefined): Merged | undefined {
  const map = source?.commandLatencyHistograms?.();
  const all: LatencyHistogramSnapshot[] = map !== undefined
    ? [...map.values()]
    : source?.latencyHistogram !== undefined
    ? [source.latencyHistogram()]
    : [];
  if (all.length === 0) return undefined;
  const bounds = all[0]!.buckets;
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const h of all) {
    let inBuckets = 0;
    h.counts.forEach((c, i) => {
      counts[Math.min(i, bounds.length)]! += c;
      inBuckets += c;
    });
    // Observations above the last bound that the snapshot leaves implicit (count − buckets).
    counts[bounds.length]! += Math.max(0, h.count - inBuckets);
  }
  return { bounds, counts };
}

/**
 * The q-quantile (0…1) in seconds of per-bucket counts, interpolating inside the bucket as
 * PromQL's `histogram_quantile` does; NaN when empty; above the last bound answers that bound.
 */
export function quantileOf(
  bounds: readonly number[],
  counts: readonly number[],
  q: number,
): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (below + c >= rank && c > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? NaN;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - below) / c);
    }
    below += c;
  }
  return bounds[bounds.length - 1] ?? NaN;
}

/** Collects CityHall's own numbers from the engine, the RESP metrics and replication. */
export class SelfCollector {
  readonly #db: Database;
  readonly #source: MetricsSource | undefined;
  #prev: { tMs: number; ops: number; commands: number; hist: Merged | undefined } | undefined;

  constructor(db: Database, source?: MetricsSource) {
    this.#db = db;
    this.#source = source;
  }

  /** Readings at `nowMs` (rates and latencies from the second call on). */
  collect(nowMs: number): Reading[] {
    const out: Reading[] = [];
    const add = (metric: string, value: number) => {
      if (Number.isFinite(value)) out.push({ metric, value: Math.round(value * 1000) / 1000 });
    };
    const st = this.#db.stats();
    const ops = st.gets + st.puts + st.deletes;
    let commands = 0;
    for (const c of this.#source?.commandCounts().values() ?? []) commands += c;
    const hist = merge(this.#source);
    const p = this.#prev;
    const dtS = p === undefined ? 0 : (nowMs - p.tMs) / 1000;
    if (p !== undefined && dtS > 0) {
      add("cityhall_ops_per_s", Math.max(0, ops - p.ops) / dtS);
      if (this.#source !== undefined) {
        add("cityhall_commands_per_s", Math.max(0, commands - p.commands) / dtS);
      }
      if (
        hist !== undefined && p.hist !== undefined && p.hist.counts.length === hist.counts.length
      ) {
        const delta = hist.counts.map((c, i) => Math.max(0, c - p.hist!.counts[i]!));
        add("cityhall_latency_p50_ms", quantileOf(hist.bounds, delta, 0.5) * 1000);
        add("cityhall_latency_p99_ms", quantileOf(hist.bounds, delta, 0.99) * 1000);
      }
    }
    add("cityhall_wal_bytes", st.walSizeBytes);
    add("cityhall_sstable_bytes", st.sstableSizeBytes);
    add("cityhall_memtable_bytes", st.memtableSizeBytes);
    add("cityhall_compactions", st.compactions);
    const repl = replicationStatus(this.#db);
    if (repl.role === "leader" && repl.replicas.length > 0) {
      add("cityhall_replication_lag_entries", Math.max(...repl.replicas.map((r) => r.lagEntries)));
      add("cityhall_replication_lag_seconds", Math.max(...repl.replicas.map((r) => r.lagSeconds)));
    } else if (repl.role === "replica" && repl.leader !== null) {
      add("cityhall_replication_lag_entries", repl.leader.lagEntries);
      add("cityhall_replication_lag_seconds", repl.leader.stalenessSeconds);
    }
    this.#prev = { tMs: nowMs, ops, commands, hist };
    return out;
  }
}
