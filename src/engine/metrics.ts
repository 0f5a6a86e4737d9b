/**
 * The engine's stats, declared once in the metrics registry (ARCHITECTURE.md § "Metrics
 * registry"): `/metrics` names, `INFO cityhall` fields and `/v1/stats` keys of everything
 * `Database.stats()` counts. Each scrape reads `stats()` once.
 *
 * @module
 */

import { attachedRegistry, attachRegistry, type MetricSpec, Registry } from "../metrics/mod.ts";
import type { DatabaseStats } from "./stats.ts";

/** What the declarations read: anything with `Database.stats()`. */
export interface StatsProvider {
  /** Counters and sizes now. */
  stats(): DatabaseStats;
}

type Numeric = {
  [K in keyof DatabaseStats]-?: DatabaseStats[K] extends number ? K : never;
}[keyof DatabaseStats];

/** An engine stat read from one numeric field of `DatabaseStats` (its `/v1/stats` key). */
type FieldSpec = Omit<MetricSpec, "json"> & { field: Numeric };

/** Numeric fields, in the order `/metrics` and `INFO cityhall` list them. */
const FIELDS: FieldSpec[] = [
  {
    name: "cityhall_last_sequence",
    help: "Sequence number of the newest write",
    type: "gauge",
    unit: "1",
    field: "lastSeq",
    info: { section: "cityhall", field: "last_seq" },
  },
  {
    name: "cityhall_flushed_sequence",
    help: "Every write at or below this is in SSTables",
    type: "gauge",
    unit: "1",
    field: "flushedSeq",
    info: { section: "cityhall", field: "flushed_seq" },
  },
  {
    name: "cityhall_memtable_size_bytes",
    help: "Bytes in the active memtable",
    type: "gauge",
    unit: "bytes",
    field: "memtableSizeBytes",
  },
  {
    name: "cityhall_memtable_entries",
    help: "Entries in the active memtable",
    type: "gauge",
    unit: "1",
    field: "memtableEntries",
  },
  {
    name: "cityhall_immutable_memtables",
    help: "Immutable memtables waiting to be flushed",
    type: "gauge",
    unit: "1",
    field: "immutableMemtables",
  },
  {
    name: "cityhall_wal_segments",
    help: "WAL segments on disk",
    type: "gauge",
    unit: "1",
    field: "walSegments",
  },
  {
    name: "cityhall_wal_size_bytes",
    help: "Bytes used in WAL segments",
    type: "gauge",
    unit: "bytes",
    field: "walSizeBytes",
  },
  {
    name: "cityhall_wal_written_bytes_total",
    help: "WAL record bytes appended since open",
    type: "counter",
    unit: "bytes",
    field: "walBytesWritten",
  },
  {
    name: "cityhall_wal_group_commits_total",
    help: "WAL commit groups written (records written together with one write)",
    type: "counter",
    unit: "1",
    field: "walGroupCommits",
  },
  {
    name: "cityhall_wal_fdatasyncs_total",
    help: "fdatasyncs of the WAL group commit (sync mode always)",
    type: "counter",
    unit: "1",
    field: "walSyncs",
  },
  {
    name: "cityhall_wal_fdatasync_seconds_total",
    help: "Time the WAL group commit's fdatasyncs took",
    type: "counter",
    unit: "seconds",
    field: "walSyncSeconds",
  },
  {
    name: "cityhall_sstable_size_bytes",
    help: "Bytes in all live SSTables",
    type: "gauge",
    unit: "bytes",
    field: "sstableSizeBytes",
  },
  {
    name: "cityhall_sstable_entries",
    help: "Entries in all live SSTables, tombstones and shadowed versions included",
    type: "gauge",
    unit: "1",
    field: "sstableEntries",
  },
  {
    name: "cityhall_flushes_total",
    help: "Memtable flushes since open",
    type: "counter",
    unit: "1",
    field: "flushes",
  },
  {
    name: "cityhall_flush_written_bytes_total",
    help: "Bytes of SSTables written by flushes since open",
    type: "counter",
    unit: "bytes",
    field: "flushBytesWritten",
  },
  {
    name: "cityhall_compactions_total",
    help: "Compactions since open",
    type: "counter",
    unit: "1",
    field: "compactions",
  },
  {
    name: "cityhall_compaction_trivial_moves_total",
    help: "Compactions since open that only moved tables to the next level",
    type: "counter",
    unit: "1",
    field: "compactionTrivialMoves",
  },
  {
    name: "cityhall_compaction_filter_errors_total",
    help: "Compactions since open that failed because a compaction filter threw",
    type: "counter",
    unit: "1",
    field: "compactionFilterErrors",
  },
  {
    name: "cityhall_compaction_read_bytes_total",
    help: "Bytes read by compactions since open",
    type: "counter",
    unit: "bytes",
    field: "compactionBytesRead",
  },
  {
    name: "cityhall_compaction_written_bytes_total",
    help: "Bytes written by compactions since open",
    type: "counter",
    unit: "bytes",
    field: "compactionBytesWritten",
  },
  {
    name: "cityhall_bytes_written_total",
    help: "Key and value bytes accepted by writes since open",
    type: "counter",
    unit: "bytes",
    field: "bytesWritten",
  },
  {
    name: "cityhall_block_cache_hits_total",
    help: "Block cache hits since open",
    type: "counter",
    unit: "1",
    field: "blockCacheHits",
  },
  {
    name: "cityhall_block_cache_misses_total",
    help: "Block cache misses since open",
    type: "counter",
    unit: "1",
    field: "blockCacheMisses",
  },
  {
    name: "cityhall_row_cache_hits_total",
    help: "Point reads of the tables the row cache answered since open",
    type: "counter",
    unit: "1",
    field: "rowCacheHits",
  },
  {
    name: "cityhall_row_cache_misses_total",
    help: "Point reads of the tables the row cache could not answer since open",
    type: "counter",
    unit: "1",
    field: "rowCacheMisses",
  },
  {
    name: "cityhall_puts_total",
    help: "Puts since open",
    type: "counter",
    unit: "1",
    field: "puts",
  },
  {
    name: "cityhall_deletes_total",
    help: "Deletes since open",
    type: "counter",
    unit: "1",
    field: "deletes",
  },
  {
    name: "cityhall_gets_total",
    help: "Point reads since open",
    type: "counter",
    unit: "1",
    field: "gets",
  },
];

/** Declares the engine's stats in `registry`, read from `db.stats()` once per render. */
export function declareEngineMetrics(registry: Registry, db: StatsProvider): void {
  let st!: DatabaseStats;
  registry.beforeCollect(() => st = db.stats());
  const perLevel = (values: () => number[]) => () => {
    const v = values();
    // Level 0 always shows, so a fresh database still has a sample.
    return (v.length === 0 ? [0] : v).map((n, i) => ({ labels: [String(i)], value: n }));
  };
  const [first, second, ...rest] = FIELDS.map(({ field, ...spec }) => ({
    ...spec,
    json: field,
    collect: () => st[field],
  }));
  registry.collectAll([first!, second!]);
  // Sizes per level right after the sequence numbers, as INFO has always listed them.
  registry.collectAll([
    ...rest.slice(0, 5),
    {
      name: "cityhall_sstables",
      help: "SSTables per level",
      type: "gauge",
      unit: "1",
      labels: ["level"],
      list: true,
      info: { section: "cityhall", field: "tables_per_level" },
      json: "tablesPerLevel",
      collect: perLevel(() => st.tablesPerLevel),
    },
    {
      name: "cityhall_sstable_level_size_bytes",
      help: "Bytes of the SSTables in each level",
      type: "gauge",
      unit: "bytes",
      labels: ["level"],
      list: true,
      info: { section: "cityhall", field: "bytes_per_level" },
      json: "bytesPerLevel",
      collect: perLevel(() => st.bytesPerLevel),
    },
    ...rest.slice(5),
    {
      name: "cityhall_engine_failed",
      help: "1 when the engine stopped accepting writes after a fatal error",
      type: "gauge",
      unit: "1",
      json: "engineFailed",
      collect: () => st.fatalError === undefined ? 0 : 1,
    },
    {
      name: "cityhall_engine_disk_full",
      help: "1 while writes are refused for lack of disk space",
      type: "gauge",
      unit: "1",
      json: "engineDiskFull",
      collect: () => st.diskFull === undefined ? 0 : 1,
    },
  ]);
}

/** The engine's facts that are not numbers, as `/v1/stats` shows them beside the stats. */
export function engineFacts(st: DatabaseStats): Record<string, string> {
  const out: Record<string, string> = { compactionStyle: st.compactionStyle };
  if (st.fatalError !== undefined) out.fatalError = st.fatalError;
  if (st.diskFull !== undefined) out.diskFull = st.diskFull;
  return out;
}

/**
 * The engine registry of `db`, attached to it under `engine` (created on first use), so every
 * view of `db` renders the engine's stats from the same declarations.
 */
export function engineRegistry(db: StatsProvider): Registry {
  let r = attachedRegistry(db, "engine");
  if (r === undefined) {
    r = new Registry();
    declareEngineMetrics(r, db);
    attachRegistry(db, "engine", r);
  }
  return r;
}
