/**
 * Child process of crash_test.ts: opens the database in Deno.args[0] with the time-series
 * layer and runs concurrent writers until killed. Writer w owns series `s<w>` (tiny chunks, so
 * heads are sealed all the time) and writes even timestamps in order; now and then it fills an
 * odd timestamp it skipped earlier (a late sample, often into a sealed chunk). Every sample's
 * value is `valueOf(w, ts)`. After a write is durable it prints `ack <w> <ts>`. Checkpoints,
 * flushes and compactions run meanwhile. The parent kills it with SIGKILL at a random moment.
 */

import { Database } from "../../src/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";

/** The value every writer stores at `ts` (the parent checks it). */
export function valueOf(w: number, ts: number): number {
  return Math.round((w * 1000 + (ts % 997)) * 10) / 100;
}

if (import.meta.main) {
  const [dir, writersArg, roundArg] = Deno.args;
  const writers = Number(writersArg ?? 16);
  const round = Number(roundArg ?? 0);
  const db = await Database.open(dir!, {
    memtableSizeBytesMax: 64 * 1024,
    walSegmentSizeBytes: 128 * 1024,
    levelTablesMax: 3,
  });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const out = Deno.stdout;
  const enc = new TextEncoder();
  for (let w = 0; w < writers; w++) {
    const key = toBytes(`s${w}`);
    if (!store.find(key)) await store.create(key, { chunkSizeBytes: 48 + 8 * (w % 8) }).durable;
  }
  if (!store.find(toBytes("rollup"))) {
    await store.create(toBytes("rollup")).durable;
    await store.createRule(toBytes("s0"), toBytes("rollup"), {
      aggregator: "avg",
      bucketMs: 100,
      alignMs: 0,
      backfill: false,
    }).durable;
  }
  console.log("ready");

  const writer = async (w: number) => {
    const key = toBytes(`s${w}`);
    // Each round writes its own time range: rounds never collide.
    let ts = round * 10_000_000;
    const holes: number[] = [];
    for (let j = 0;; j++) {
      ts += 2;
      holes.push(ts - 1);
      if (j % 7 === 3 && holes.length > 20) {
        // A late sample, far enough back to land in a sealed chunk.
        const late = holes.splice(Math.floor(holes.length / 3), 1)[0]!;
        await store.add({ key, ts: late, value: valueOf(w, late) }).durable;
        out.writeSync(enc.encode(`ack ${w} ${late}\n`));
      } else if (j % 11 === 5) {
        const batch = [ts, ts + 2, ts + 4];
        ts += 4;
        holes.push(ts - 3, ts - 1);
        await store.madd(batch.map((t) => ({ key, ts: t, value: valueOf(w, t) }))).durable;
        out.writeSync(enc.encode(batch.map((t) => `ack ${w} ${t}\n`).join("")));
      } else {
        await store.add({ key, ts, value: valueOf(w, ts) }).durable;
        out.writeSync(enc.encode(`ack ${w} ${ts}\n`));
      }
    }
  };
  const chores = async () => {
    for (let i = 0;; i++) {
      await new Promise((r) => setTimeout(r, 5));
      if (i % 3 === 0) await store.persistAll();
      if (i % 5 === 0) await db.flush();
      if (i % 17 === 0) await db.compact();
    }
  };
  await Promise.all([...Array.from({ length: writers }, (_, w) => writer(w)), chores()]);
}
