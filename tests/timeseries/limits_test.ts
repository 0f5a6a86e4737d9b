/** Every time-series limit at its edge (accepted) and one past it (refused, nothing written). */

import { assertEquals, assertThrows } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { parseFilters, TimeSeriesStore, TsError } from "../../src/timeseries/mod.ts";
import {
  TS_KEY_BYTES_MAX,
  TS_LABEL_BYTES_MAX,
  TS_LABELS_MAX,
  TS_QUERY_BUCKETS_MAX,
  TS_SAMPLES_PER_WRITE_MAX,
} from "../../src/limits.ts";
import { toBytes } from "../../src/util/bytes.ts";

async function withStore(
  fn: (s: TimeSeriesStore, db: Database) => Promise<void>,
  seriesMax?: number,
  querySamplesMax?: number,
) {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, {
    maintenanceIntervalMs: 0,
    ...(seriesMax !== undefined ? { seriesMax } : {}),
    ...(querySamplesMax !== undefined ? { querySamplesMax } : {}),
  });
  try {
    await fn(store, db);
  } finally {
    await store.close();
    await db.close();
  }
}

function refused(fn: () => unknown, text: string): void {
  const err = assertThrows(fn, TsError);
  if (!err.reply.includes(text)) throw new Error(`"${err.reply}" lacks "${text}"`);
}

Deno.test("Time-series limits: labels per series, label bytes, key bytes", async () => {
  await withStore(async (store, db) => {
    const labels = (n: number): [string, string][] =>
      Array.from({ length: n }, (_, i) => [`l${i}`, "v"]);
    await store.create(toBytes("ok"), { labels: labels(TS_LABELS_MAX) }).durable;
    refused(
      () => store.create(toBytes("bad"), { labels: labels(TS_LABELS_MAX + 1) }),
      "too many labels",
    );
    await store.create(toBytes("ok2"), { labels: [["a".repeat(TS_LABEL_BYTES_MAX), "b"]] }).durable;
    refused(
      () => store.create(toBytes("bad"), { labels: [["a", "b".repeat(TS_LABEL_BYTES_MAX + 1)]] }),
      "label too long",
    );
    await store.create(new Uint8Array(TS_KEY_BYTES_MAX).fill(97)).durable;
    refused(() => store.create(new Uint8Array(TS_KEY_BYTES_MAX + 1).fill(98)), "key too long");
    assertEquals(db.getEntry("bad"), undefined);
  });
});

Deno.test("Time-series limits: samples per write", async () => {
  await withStore(async (store) => {
    await store.create(toBytes("s")).durable;
    const at = Array.from(
      { length: TS_SAMPLES_PER_WRITE_MAX },
      (_, i) => ({ key: toBytes("s"), ts: i, value: i }),
    );
    const r = store.madd(at);
    await r.durable;
    assertEquals(r.value.length, TS_SAMPLES_PER_WRITE_MAX);
    const past = [...at, { key: toBytes("s"), ts: TS_SAMPLES_PER_WRITE_MAX, value: 0 }];
    refused(() => store.madd(past), "too many samples");
    assertEquals(store.info(toBytes("s")).totalSamples, TS_SAMPLES_PER_WRITE_MAX);
  });
});

Deno.test("Time-series limits: series per server", async () => {
  await withStore(async (store) => {
    for (let i = 0; i < 5; i++) await store.create(toBytes(`s${i}`)).durable;
    refused(() => store.create(toBytes("s5")), "too many series: limit 5");
    refused(() => store.add({ key: toBytes("s6"), ts: 1, value: 1 }), "too many series");
    assertEquals(store.seriesCount, 5);
  }, 5);
});

Deno.test("Time-series limits: EMPTY refuses a range that would answer more than TS_QUERY_BUCKETS_MAX buckets", async () => {
  await withStore(async (store) => {
    const key = toBytes("gap");
    const far = TS_QUERY_BUCKETS_MAX + 2;
    await store.create(key, {}).durable;
    await store.madd([{ key, ts: 0, value: 1 }, { key, ts: far, value: 2 }]).durable;
    const query = (bucketMs: number, aggregator: "sum" | "twa", from: number, to: number) =>
      store.range(key, {
        from,
        to,
        aggregation: { aggregator, bucketMs, alignMs: 0, empty: true, bucketTimestamp: "start" },
      });
    // Buckets of 2 ms from 0 to `far`: far / 2 + 1 of them, under the limit.
    assertEquals(query(2, "sum", 0, far).ts.length, far / 2 + 1);
    // Buckets of 1 ms: far + 1, over it.
    refused(() => query(1, "sum", 0, far), `more than ${TS_QUERY_BUCKETS_MAX} buckets`);
    // EMPTY twa over a range holding no sample, between the two: far − 1 buckets.
    refused(() => query(1, "twa", 1, far - 1), "buckets");
    assertEquals(query(1, "twa", 1, 3).ts, [1, 2, 3]);
  });
});

Deno.test("Time-series limits: one query collects at most querySamplesMax samples, all its series together", async () => {
  const max = 1000;
  await withStore(
    async (store) => {
      for (const key of ["a", "b"]) {
        await store.create(toBytes(key), { labels: [["g", "1"]] }).durable;
        await store.madd(
          Array.from({ length: 600 }, (_, i) => ({ key: toBytes(key), ts: i + 1, value: i })),
        ).durable;
      }
      const filters = parseFilters(["g=1"]);
      const all = { from: 0, to: 10_000 };
      // One series is within the budget; two are not, with or without GROUPBY or AGGREGATION.
      assertEquals(store.range(toBytes("a"), all).ts.length, 600);
      const text = `more than ${max} samples in range`;
      refused(() => store.mrange(filters, all), text);
      refused(() => store.mrange(filters, all, { label: "g", reducer: "sum" }), text);
      const agg = {
        aggregator: "avg" as const,
        bucketMs: 100,
        alignMs: 0,
        empty: false,
        bucketTimestamp: "start" as const,
      };
      refused(() => store.mrange(filters, { ...all, aggregation: agg }), text);
      // At the budget exactly: 500 + 500.
      const half = { from: 1, to: 500 };
      assertEquals(store.mrange(filters, half).map((r) => r.points.ts.length), [500, 500]);
      assertEquals(
        store.mrange(filters, half, { label: "g", reducer: "sum" })[0]!.points.ts.length,
        500,
      );
      await store.madd([{ key: toBytes("a"), ts: 601, value: 0 }, {
        key: toBytes("a"),
        ts: 602,
        value: 0,
      }]).durable;
      await store.madd(
        Array.from({ length: 400 }, (_, i) => ({ key: toBytes("a"), ts: 603 + i, value: i })),
      ).durable;
      refused(() => store.range(toBytes("a"), { ...all, aggregation: agg }), text);
    },
    undefined,
    max,
  );
});
