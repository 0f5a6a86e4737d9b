/**
 * Replayed and replicated SAMPLES entries keep a staleness marker's bits in the head: the
 * Prometheus marker is a signalling NaN (0x7ff0000000000002), which passing it around as a
 * JavaScript number may quieten once V8 optimises the loop (it did, before `SeriesSet.apply`
 * appended stretches byte by byte).
 */

import { assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { encodeLog, ENTRY_SAMPLES, TS_LOG_KEY } from "../../src/timeseries/log.ts";

const STALE_HI = 0x7ff00000;
const STALE_LO = 2;

Deno.test("A replayed log op keeps the staleness marker's bits in the head", async () => {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const key = new TextEncoder().encode("up");
    await store.create(key, { chunkSizeBytes: 16_384 }).durable;
    const version = store.find(key)!.version;
    const n = 2_000;
    let seq = db.lastSeq + 1;
    // Enough ops for the apply loop to be optimised: the last ones run optimised code.
    for (let op = 0; op < 6; op++) {
      const ts: number[] = [];
      const values = new Float64Array(n);
      const words = new Uint32Array(values.buffer);
      for (let i = 0; i < n; i++) {
        ts.push(1_000 + op * n + i);
        if (i % 2 === 0) {
          words[2 * i] = STALE_LO;
          words[2 * i + 1] = STALE_HI;
        } else values[i] = i + 0.25;
      }
      store.applyLog(seq++, TS_LOG_KEY, encodeLog([{ type: ENTRY_SAMPLES, version, ts, values }]));
    }
    const head = store.find(key)!.head.decode();
    const words = new Uint32Array(head.values.buffer);
    let markers = 0;
    for (let i = 0; i < head.ts.length; i++) {
      if ((head.ts[i]! - 1_000) % 2 !== 0) continue;
      assertEquals([words[2 * i], words[2 * i + 1]], [STALE_LO, STALE_HI], `at ${head.ts[i]}`);
      markers++;
    }
    assertEquals(markers, 6 * n / 2);
  } finally {
    await store.close();
    await db.close();
  }
});
