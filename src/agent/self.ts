/**
 * CityHall's own metrics for the host agent: operations per second at the engine, RESP command
 * latency percentiles between two ticks, WAL, SSTable and memtable bytes (`db.stats()`), and
 * replication lag; command and replication numbers come from the metrics registries attached to
 * the database (ARCHITECTURE.md § "Host agent", § "Metrics registry"). The agent's own writes are counted like any others.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { attachedRegistry, Histogram, type Registry } from "../metrics/mod.ts";
import type { Reading } from "./host.ts";

/** Every command's latency summed into one histogram, or undefined without a RESP server. */
function merged(registry: Registry | undefined): Histogram | undefined {
  const family = registry?.read("cityhall_command_duration_seconds");
  if (family === undefined) return undefined;
  let all: Histogram | undefined;
  for (const s of family.samples) {
    if (!(s.value instanceof Histogram)) continue;
    all = all === undefined ? s.value.clone() : all.add(s.value);
  }
  return all ?? new Histogram();
}

/**
 * The q-quantile (0…1) in seconds of per-bucket counts (the last: above every bound), as
 * `Histogram.quantile` computes it (PromQL's `histogram_quantile`); NaN when empty.
 */
export function quantileOf(
  bounds: readonly number[],
  counts: readonly number[],
  q: number,
): number {
  const h = new Histogram(bounds);
  counts.forEach((c, i) => h.counts[Math.min(i, bounds.length)]! += c);
  h.count = counts.reduce((a, b) => a + b, 0);
  return h.quantile(q);
}

/** Collects CityHall's own numbers from the engine, the RESP metrics and replication. */
export class SelfCollector {
  readonly #db: Database;
  readonly #registry: Registry | undefined;
  #prev: { tMs: number; ops: number; commands: number; hist: Histogram | undefined } | undefined;

  /**
   * Reads `db`'s stats, and the command stats of `registry` (default: the RESP server's,
   * attached to `db`, when one runs).
   */
  constructor(db: Database, registry?: Registry) {
    this.#db = db;
    this.#registry = registry;
  }

  /** Readings at `nowMs` (rates and latencies from the second call on). */
  collect(nowMs: number): Reading[] {
    const out: Reading[] = [];
    const add = (metric: string, value: number) => {
      if (Number.isFinite(value)) out.push({ metric, value: Math.round(value * 1000) / 1000 });
    };
    const st = this.#db.stats();
    const ops = st.gets + st.puts + st.deletes;
    const registry = this.#registry ?? attachedRegistry(this.#db, "resp");
    let commands = 0;
    for (const c of registry?.read("cityhall_commands_total")?.samples ?? []) {
      commands += c.value as number;
    }
    const hist = merged(registry);
    const p = this.#prev;
    const dtS = p === undefined ? 0 : (nowMs - p.tMs) / 1000;
    if (p !== undefined && dtS > 0) {
      add("cityhall_ops_per_s", Math.max(0, ops - p.ops) / dtS);
      if (registry !== undefined) {
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
    // Replication lag from the role's registry (a leader: its worst replica; a replica: itself).
    const repl = attachedRegistry(this.#db, "replication");
    const worst = (name: string): number | undefined => {
      const samples = repl?.read(name)?.samples ?? [];
      return samples.length === 0 ? undefined : Math.max(...samples.map((x) => x.value as number));
    };
    const entries = worst("cityhall_leader_replica_lag_entries") ??
      worst("cityhall_replica_lag_entries");
    const seconds = worst("cityhall_leader_replica_lag_seconds") ??
      worst("cityhall_replica_staleness_seconds");
    if (entries !== undefined) add("cityhall_replication_lag_entries", entries);
    if (seconds !== undefined) add("cityhall_replication_lag_seconds", seconds);
    this.#prev = { tMs: nowMs, ops, commands, hist };
    return out;
  }
}
