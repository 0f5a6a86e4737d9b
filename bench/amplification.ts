/**
 * Write, read and space amplification of the two compaction styles on the same workloads
 * (ARCHITECTURE.md § "Compaction styles"): an overwrite-heavy one (random keys, each written
 * about ten times) and two append-only ones of time-ordered keys (sensor data): eight series
 * written round robin (each flush appends to every series), and one series. Values are random
 * bytes, so compression does not hide the rewrites. Real files; `syncMode: "none"` (syncs do
 * not change what is written).
 *
 * - write amplification: (WAL record bytes + flushed table bytes + compaction table bytes) ÷ key
 *   and value bytes accepted;
 * - read amplification: tables a point lookup may probe (level-0 tables + the overlap depth of
 *   each deeper level), and random point reads per second over the result (warm cache);
 * - space amplification: table bytes once compaction is idle ÷ table bytes after a full
 *   `compact()` (no garbage left).
 */

import { Database } from "../src/mod.ts";
import type { CompactionStyle } from "../src/engine/options.ts";
import { type Row, scaled } from "./harness.ts";

const WORKLOADS = ["overwrite-heavy", "time-ordered, 8 series", "time-ordered, 1 series"] as const;
type Workload = (typeof WORKLOADS)[number];

/** What one run measured. */
export interface Amplification {
  style: CompactionStyle;
  workload: Workload;
  writeAmp: number;
  compactionWriteAmp: number;
  probes: number;
  readsPerSec: number;
  spaceAmp: number;
  putsPerSec: number;
  trivialMoves: number;
}

function randomBytes(n: number, state: { x: number }): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    state.x = (state.x * 1103515245 + 12345) >>> 0;
    out[i] = state.x >>> 24;
  }
  return out;
}

/** Tables a lookup may probe: every level-0 table plus the most tables over one key per level. */
function probes(tables: ReturnType<Database["tables"]>): number {
  const levels: (typeof tables)[] = [];
  for (const t of tables) (levels[t.level] ??= []).push(t);
  let n = levels[0]?.length ?? 0;
  const cmp = (a: Uint8Array, b: Uint8Array) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  for (let l = 1; l < levels.length; l++) {
    const points: [Uint8Array, number][] = [];
    for (const t of levels[l] ?? []) points.push([t.smallestKey, 1], [t.largestKey, -1]);
    points.sort((a, b) => cmp(a[0], b[0]) || b[1] - a[1]);
    let depth = 0;
    let max = 0;
    for (const [, d] of points) max = Math.max(max, depth += d);
    n += max;
  }
  return n;
}

/** Runs one workload with one style. */
export async function measure(style: CompactionStyle, workload: Workload): Promise<Amplification> {
  const dir = await Deno.makeTempDir({ prefix: `cityhall-bench-amp-${style}-` });
  const db = await Database.open(dir, {
    compactionStyle: style,
    syncMode: "none",
    memtableSizeBytesMax: 1024 * 1024,
    tableSizeBytesTarget: 2 * 1024 * 1024,
  });
  const state = { x: 42 };
  const n = scaled(400_000);
  const distinct = Math.max(1, Math.floor(n / 10));
  const keyOf = (i: number) =>
    workload === "overwrite-heavy"
      ? `user:${
        String(Math.floor((randomBytes(4, state)[0]! * 65536 + i * 7919) % distinct))
          .padStart(8, "0")
      }`
      : workload === "time-ordered, 8 series"
      ? `sensor.site${i % 8}.temp.${String(1_700_000_000_000 + i * 1000)}`
      : `sensor.site0.temp.${String(1_700_000_000_000 + i * 1000)}`;
  const valueBytes = workload === "overwrite-heavy" ? 100 : 16;
  const keys: string[] = [];
  const t0 = performance.now();
  let pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const key = keyOf(i);
    if (i % 97 === 0) keys.push(key);
    pending.push(db.put(key, randomBytes(valueBytes, state)));
    if (pending.length >= 1000) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await db.flush();
  await db.idle();
  const putsPerSec = n / ((performance.now() - t0) / 1000);
  const s = db.stats();
  const accepted = s.bytesWritten;
  const tables = db.tables();
  const sizeIdle = s.sstableSizeBytes;
  // Warm reads over the tree compaction left.
  for (const k of keys) db.getEntry(k);
  const reads = scaled(200_000);
  const r0 = performance.now();
  for (let i = 0; i < reads; i++) db.getEntry(keys[(i * 7919) % keys.length]!);
  const readsPerSec = reads / ((performance.now() - r0) / 1000);
  await db.compact();
  const sizeCompacted = db.stats().sstableSizeBytes;
  await db.close();
  await Deno.remove(dir, { recursive: true });
  return {
    style,
    workload,
    writeAmp: (s.walBytesWritten + s.flushBytesWritten + s.compactionBytesWritten) / accepted,
    compactionWriteAmp: (s.flushBytesWritten + s.compactionBytesWritten) / s.flushBytesWritten,
    probes: probes(tables),
    readsPerSec,
    spaceAmp: sizeIdle / sizeCompacted,
    putsPerSec,
    trivialMoves: s.compactionTrivialMoves,
  };
}

/** The amplification rows: each workload with both styles, tiered in the CityHall column. */
export async function amplificationBench(log: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const workload of WORKLOADS) {
    const tiered = await measure("tiered", workload);
    const leveled = await measure("leveled", workload);
    const row = (name: string, unit: string, pick: (a: Amplification) => number, low = true) => {
      const r: Row = {
        name: `A. ${name}, ${workload}`,
        unit,
        cityhall: pick(tiered),
        denoKv: pick(leveled),
        peer: "leveled",
        lowerIsBetter: low,
        note: "CityHall column: tiered; peer column: leveled",
      };
      rows.push(r);
      log(r);
    };
    row("write amplification (WAL+flush+compaction ÷ accepted)", "x", (a) => a.writeAmp);
    row("compaction write amp ((flush+compaction) ÷ flush)", "x", (a) => a.compactionWriteAmp);
    row("read amp: tables a lookup may probe", "tables", (a) => a.probes);
    row("random point reads over the result (warm)", "reads/s", (a) => a.readsPerSec, false);
    row("space amplification (idle ÷ fully compacted)", "x", (a) => a.spaceAmp);
    row("puts incl. compaction (syncMode none)", "puts/s", (a) => a.putsPerSec, false);
    row("trivial moves", "moves", (a) => a.trivialMoves, false);
  }
  return rows;
}

if (import.meta.main) {
  for (const workload of WORKLOADS) {
    for (const style of ["tiered", "leveled"] as const) {
      console.log(JSON.stringify(await measure(style, workload)));
    }
  }
}
