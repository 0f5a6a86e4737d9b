/**
 * A larger workload over one table: every key hit, a miss per key, full scans both ways. It
 * asserts answers only; set CITYHALL_PERF_LOG=1 to print timings (never asserted).
 */

import { assert, assertEquals } from "@std/assert";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { BlockCache } from "../../src/sstable/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { type Entry, KIND_PUT } from "../../src/util/entry.ts";
import { buildTable } from "./_helpers.ts";

const log = Deno.env.get("CITYHALL_PERF_LOG") === "1";

function report(what: string, ops: number, ms: number) {
  if (log) console.log(`${what}: ${((ms * 1000) / ops).toFixed(3)} µs/op`);
}

Deno.test("Table serves 100k sensor keys: gets, misses and scans", () => {
  const entries: Entry[] = [];
  let seq = 1;
  for (const site of ["ams", "ber", "cdg", "dub"]) {
    for (const metric of ["humidity", "pressure", "rain", "temp", "wind"]) {
      for (let i = 0; i < 5000; i++) {
        entries.push({
          key: toBytes(`sensor.${site}.${metric}.${1_700_000_000_000 + i * 1000}`),
          seq: seq++,
          kind: KIND_PUT,
          expireAtMs: 0,
          value: toBytes((20 + ((i * 7919) % 500) / 100).toFixed(2)),
        });
      }
    }
  }
  const fs = new FaultFs();
  const cache = new BlockCache(64 << 20);
  const table = buildTable(fs, "p.sst", entries, { cache });
  const order = entries.map((_, i) => (i * 7919) % entries.length);
  for (let round = 0; round < 2; round++) {
    let t0 = performance.now();
    for (const i of order) {
      const e = entries[i]!;
      const got = table.get(e.key);
      assert(got !== undefined && got.seq === e.seq && got.value.length === e.value.length);
    }
    report("get hit", order.length, performance.now() - t0);
    t0 = performance.now();
    let falsePositives = 0;
    for (const i of order) {
      const missing = entries[i]!.key.slice();
      missing[missing.length - 1] = 0x61; // 'a' never ends a key here.
      assertEquals(table.get(missing), undefined);
      if (table.mayContain(missing)) falsePositives++;
    }
    report("get miss", order.length, performance.now() - t0);
    assert(falsePositives < order.length * 0.02, `${falsePositives} false positives`);
    t0 = performance.now();
    const it = table.iterator();
    let n = 0;
    for (it.seekToFirst(); it.valid(); it.next()) {
      assert(it.entry().seq === entries[n]!.seq);
      n++;
    }
    report("iterate forward", n, performance.now() - t0);
    assertEquals(n, entries.length);
    for (it.seekToLast(); it.valid(); it.prev()) n--;
    assertEquals(n, 0);
  }
  if (log) console.log(`cache hits=${cache.hits} misses=${cache.misses}`);
  table.close();
});
