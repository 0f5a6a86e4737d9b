/**
 * `cityhall selftest`: opens a database in a fresh temporary directory, writes, reads, scans,
 * flushes, compacts, reopens and checks every answer; writes a time series through its chunk
 * codec and reads it back after a reopen; and checks the web console's assets and both
 * compressors (Snappy from npm, zstd from `node:zlib`). It proves that a build (a compiled
 * binary or the one-file bundle) carries the whole program: nothing is read from the source
 * tree at run time.
 *
 * @module
 */

import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { CONSOLE_ASSETS } from "../console/mod.ts";
import { Database } from "../engine/mod.ts";
import { TimeSeriesStore } from "../timeseries/mod.ts";
import { fromBytes } from "../util/bytes.ts";
import { snappyCompress, snappyUncompress } from "../util/snappy.ts";

const SERIES_SAMPLES = 10_000;

/** Writes a series big enough to seal chunks, then answers its 1000-sample average buckets. */
async function seriesBuckets(db: Database, write: boolean): Promise<number[]> {
  const store = TimeSeriesStore.open(db);
  try {
    const key = new TextEncoder().encode("selftest.temp");
    if (write) {
      const samples = Array.from({ length: SERIES_SAMPLES }, (_, i) => ({
        key,
        ts: 1_700_000_000_000 + i * 1000,
        value: 20 + (i % 10) / 10,
      }));
      await store.write(key, samples, { create: { labels: [["site", "selftest"]] } }).durable;
    }
    return store.range(key, {
      from: 0,
      to: Number.MAX_SAFE_INTEGER,
      aggregation: {
        aggregator: "avg",
        bucketMs: 1_000_000,
        alignMs: 1_700_000_000_000,
        empty: false,
        bucketTimestamp: "start",
      },
    }).values;
  } finally {
    await store.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Runs the self-test; returns the process exit code. */
export async function selftest(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-selftest-" });
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
  };
  try {
    let db = await Database.open(dir, { memtableSizeBytesMax: 64 * 1024 });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      writes.push(db.put(`sensor.site1.temp.${String(i).padStart(6, "0")}`, String(20 + i % 7)));
    }
    await Promise.all(writes);
    await db.delete("sensor.site1.temp.000000");
    await db.flush();
    await db.compact();
    check(fromBytes((await db.get("sensor.site1.temp.000001"))!) === "21", "get after compact");
    check((await db.get("sensor.site1.temp.000000")) === undefined, "deleted key is gone");
    let n = 0;
    for await (const _ of db.scan({ prefix: "sensor.site1." })) n++;
    check(n === 1999, `scan count ${n} != 1999`);
    const before = await seriesBuckets(db, true);
    check(before.length === SERIES_SAMPLES / 1000, `series buckets ${before.length}`);
    check(before.every((v) => Math.abs(v - 20.45) < 1e-9), `series averages ${before}`);
    await db.close();
    db = await Database.open(dir);
    check(fromBytes((await db.get("sensor.site1.temp.001999"))!) === "24", "get after reopen");
    const after = await seriesBuckets(db, false);
    check(after.join() === before.join(), "series after reopen");
    await db.close();
    const page = CONSOLE_ASSETS.get("/");
    check(page !== undefined && page.body.length > 0, "console page");
    check([...CONSOLE_ASSETS.keys()].some((p) => /uplot/i.test(p)), "console chart library");
    const text = new TextEncoder().encode("sensor.site1.temp ".repeat(100));
    check(sameBytes(snappyUncompress(snappyCompress(text), text.length), text), "snappy");
    check(sameBytes(new Uint8Array(zstdDecompressSync(zstdCompressSync(text))), text), "zstd");
  } catch (err) {
    failures.push(String(err));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  if (failures.length > 0) {
    console.error(`selftest failed: ${failures.join("; ")}`);
    return 1;
  }
  console.log("selftest ok");
  return 0;
}
