/**
 * The bulk ingest path (`ingestSamples` → `writeRun`) against the one-sample path it replaces:
 * two identical stores get the same request, one through `ingestSamples`, the other sample by
 * sample through `writeSample` in request order (the pre-bulk algorithm). Every engine op
 * (log ops byte for byte, state records with the head bytes, chunks, metadata), the result
 * counts, the first refusal and the samples a listener hears must be equal. Requests mix
 * interleaved series, appends, duplicates, backfill into sealed chunks, invalid timestamps,
 * NaN payloads and values that switch a head to float mode; series have small chunks (seals
 * inside a run), retention, IGNORE, compaction rules, or a key of another type. Seeded:
 * CITYHALL_SEED reproduces a run.
 */

import { assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import type { WriteOp } from "../../src/engine/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { findSeries, run, type StoreContext } from "../../src/timeseries/context.ts";
import { createSeries } from "../../src/timeseries/series_ops.ts";
import { TsError, writeSample } from "../../src/timeseries/write.ts";
import { textToBinary } from "../../src/timeseries/meta.ts";
import { decodeLog, type LogEntry } from "../../src/timeseries/log.ts";
import type { Series } from "../../src/timeseries/series_set.ts";
import {
  type IngestResult,
  ingestSamples,
  type IngestTarget,
} from "../../src/ingest/store_writer.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const encoder = new TextEncoder();

/**
 * What one store did: per engine write, its ops as text, and what the listener heard. Entries
 * of different series in a batch's log ops, and ops on different keys, may come in another
 * order (series are independent; the batch is atomic): a batch is compared as each series'
 * log entries in order plus the sorted other ops.
 */
interface Trace {
  ops: string[];
  heard: string[];
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function capture(db: Database, trace: Trace): (ops: WriteOp[]) => void | Promise<void> {
  return (ops) => {
    const perSeries = new Map<number, string[]>();
    const others: string[] = [];
    for (const op of ops) {
      const o = op as { type: string; key: Uint8Array; value?: Uint8Array };
      if (o.type !== "log") {
        others.push(`${o.type} ${hex(o.key)} ${o.value ? hex(o.value) : ""}`);
        continue;
      }
      for (const e of decodeLog(o.value!)) {
        let list = perSeries.get(e.version);
        if (list === undefined) perSeries.set(e.version, list = []);
        const { values, ...rest } = e as LogEntry & { values?: Float64Array };
        // A view of the entry's own values (decodeLog carves them from one buffer per op).
        const bits = values === undefined
          ? ""
          : hex(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).slice(
            0,
            16 * (e as { ts: number[] }).ts.length,
          );
        list.push(`${JSON.stringify(rest)} ${bits}`);
      }
    }
    const logs = [...perSeries].sort((x, y) => x[0] - y[0]).map(([v, l]) =>
      `${v}: ${l.join(" ; ")}`
    );
    trace.ops.push(`${logs.join("\n")}\n${others.sort().join("\n")}`);
    return db.write(ops);
  };
}

async function openStore(trace: Trace): Promise<{ db: Database; store: TimeSeriesStore }> {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0, seriesMax: 40 });
  store.sampleListener = {
    active: () => true,
    samples: (key, samples) => {
      // A listener gets JavaScript numbers, whose NaN payloads V8 does not promise to keep
      // (the log and the heads keep them: compared above): NaNs are compared as NaN here.
      const bits = samples.map((s) => {
        const f = new Float64Array([Number.isNaN(s.value) ? NaN : s.value]);
        return `${s.timestampMs}:${hex(new Uint8Array(f.buffer))}`;
      });
      trace.heard.push(`${hex(key)} ${bits.join(",")}`);
      trace.heard.sort();
    },
  };
  return { db, store };
}

/** The pre-bulk algorithm: sample by sample in request order, in one batch. */
function oneByOne(
  store: TimeSeriesStore,
  targets: IngestTarget[],
  of: Int32Array,
  ts: Float64Array,
  values: Float64Array,
  write: (ops: WriteOp[]) => void | Promise<void>,
): Omit<IngestResult, "durable"> {
  const ctx: StoreContext = store.context;
  let written = 0;
  let refused = 0;
  let created = 0;
  let firstRefusal: string | undefined;
  const refuse = (why: string) => {
    refused++;
    firstRefusal ??= why;
  };
  const reason = (err: TsError) => err.reply.replace(/^ERR /, "").replace(/^TSDB: /, "");
  const resolved = new Map<IngestTarget, Series | string>();
  run(ctx, (b) => {
    for (let i = 0; i < ts.length; i++) {
      const t = targets[of[i]!]!;
      let s = resolved.get(t);
      if (s === undefined) {
        const key = encoder.encode(t.key);
        try {
          let found: Series | undefined;
          try {
            found = findSeries(ctx, key, b);
          } catch (err) {
            if (!(err instanceof TsError)) throw err;
            throw new TsError(`ERR key ${t.key} holds another type, not a time series`);
          }
          if (found === undefined) {
            const labels: [string, string][] = [["__name__", textToBinary(t.name)]];
            for (const [n, v] of t.labels) labels.push([textToBinary(n), textToBinary(v)]);
            found = createSeries(ctx, b, key, { labels, duplicatePolicy: "last" });
            created++;
          }
          s = found;
        } catch (err) {
          if (!(err instanceof TsError)) throw err;
          s = `series ${t.key}: ${reason(err)}`;
        }
        resolved.set(t, s);
      }
      if (typeof s === "string") {
        refuse(s);
        continue;
      }
      const at = ts[i]!;
      if (!Number.isSafeInteger(at) || at < 0) {
        refuse(`series ${t.key}: timestamp ${at} ms is before 1970 (the store keeps 0 and later)`);
        continue;
      }
      try {
        writeSample(b, s, at, values[i]!, "last");
        written++;
      } catch (err) {
        if (!(err instanceof TsError)) throw err;
        refuse(`series ${t.key}: ${reason(err)}`);
      }
    }
  }, write);
  return { written, refused, firstRefusal, created };
}

/** Series set-up both stores get (same order: same versions). */
async function setUp(store: TimeSeriesStore, db: Database): Promise<void> {
  const key = (k: string) => encoder.encode(k);
  await store.create(key("small"), { chunkSizeBytes: 48, duplicatePolicy: "last" }).durable;
  await store.create(key("kept"), { retentionMs: 500, duplicatePolicy: "last" }).durable;
  await store.create(key("ignore"), {
    duplicatePolicy: "last",
    ignoreMaxTimeDiffMs: 30,
    ignoreMaxValDiff: 2,
  }).durable;
  await store.create(key("src"), { chunkSizeBytes: 64 }).durable;
  await store.create(key("dst"), {}).durable;
  await store.createRule(key("src"), key("dst"), {
    aggregator: "avg",
    bucketMs: 100,
    alignMs: 0,
    backfill: false,
  }).durable;
  await db.put(toBytes("text"), toBytes("not a series"));
}

/**
 * NaN values are compared as plain NaN: the one-sample path keeps a NaN's payload only as far
 * as V8's optimised code does (`Head.append` takes a number), so the two paths cannot be
 * compared bit for bit on payloads; the last test checks that the bulk path keeps them.
 */
/** Prometheus's staleness marker, 0x7ff0000000000002. */
const STALE = new Float64Array(new Uint32Array([2, 0x7ff00000]).buffer)[0]!;

function value(rng: Rng): number {
  switch (rng.int(8)) {
    case 0:
      return NaN;
    case 1:
      return rng.int(1000) / 1000 + 0.0000001; // needs float mode
    case 2:
      return -0;
    case 3:
      return rng.int(100_000);
    default:
      return rng.int(10_000) / 100;
  }
}

function request(rng: Rng, round: number, withRules: boolean) {
  const names = ["small", "kept", "ignore", "fresh_a", "fresh_b", "text", "dst"];
  if (withRules) names.push("src");
  for (let k = 0; k < 6; k++) names.push(`m_${round}_${k}`);
  const targets: IngestTarget[] = names.map((n) => ({
    key: n,
    name: n,
    labels: [["job", "x"]] as [string, string][],
  }));
  // A second target object for the same key (remote write may repeat a series).
  targets.push({ key: "small", name: "small", labels: [] });
  const n = 50 + rng.int(400);
  const of = new Int32Array(n);
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  const clock = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t = rng.int(targets.length);
    of[i] = t;
    let at = clock.get(t) ?? round * 2_000;
    const r = rng.int(20);
    if (r === 0) at -= rng.int(3_000); // backfill (sealed chunks, retention)
    else if (r === 1) at += 0; // a duplicate of the series' last timestamp
    else if (r === 2) at = -5;
    else if (r === 3) at = 1.5;
    else at += 1 + rng.int(40);
    if (r !== 2 && r !== 3) clock.set(t, Math.max(0, at));
    ts[i] = r === 2 || r === 3 ? at : Math.max(0, at);
    values[i] = value(rng);
  }
  return { targets, of, ts, values };
}

Deno.test("Bulk ingest writes exactly what sample-by-sample writing writes", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const a: Trace = { ops: [], heard: [] };
  const b: Trace = { ops: [], heard: [] };
  const A = await openStore(a);
  const B = await openStore(b);
  try {
    await setUp(A.store, A.db);
    await setUp(B.store, B.db);
    for (let round = 0; round < 40; round++) {
      const { targets, of, ts, values } = request(rng, round, round % 4 === 3);
      const bulk = ingestSamples(A.store, {
        samples: ts.length,
        seriesOf: (i) => targets[of[i]!]!,
        ids: round % 2 === 0 ? { of, targets } : undefined,
        timestamps: ts,
        values,
      }, capture(A.db, a));
      await bulk.durable;
      const ref = oneByOne(B.store, targets, of, ts, values, capture(B.db, b));
      const { durable: _, ...got } = bulk;
      assertEquals(got, ref, `round ${round}`);
      assertEquals(a.ops, b.ops, `round ${round}: engine ops`);
      assertEquals(a.heard, b.heard, `round ${round}: samples heard`);
    }
  } finally {
    await A.store.close();
    await A.db.close();
    await B.store.close();
    await B.db.close();
  }
});

Deno.test("Bulk ingest of contiguous runs (remote write's order) matches too", async () => {
  const a: Trace = { ops: [], heard: [] };
  const b: Trace = { ops: [], heard: [] };
  const A = await openStore(a);
  const B = await openStore(b);
  try {
    await setUp(A.store, A.db);
    await setUp(B.store, B.db);
    const targets: IngestTarget[] = ["small", "kept", "n1", "n2"].map((k) => ({
      key: k,
      name: k,
      labels: [],
    }));
    const per = 300;
    const of = new Int32Array(targets.length * per);
    const ts = new Float64Array(of.length);
    const values = new Float64Array(of.length);
    for (let s = 0; s < targets.length; s++) {
      for (let i = 0; i < per; i++) {
        const j = s * per + i;
        of[j] = s;
        ts[j] = 1_000 + i * 10 - (i % 50 === 7 ? 25 : 0);
        values[j] = i % 13 === 0 ? i + 0.125 : i;
      }
    }
    const bulk = ingestSamples(A.store, {
      samples: ts.length,
      seriesOf: (i) => targets[of[i]!]!,
      ids: { of, targets },
      timestamps: ts,
      values,
    }, capture(A.db, a));
    await bulk.durable;
    const ref = oneByOne(B.store, targets, of, ts, values, capture(B.db, b));
    const { durable: _, ...got } = bulk;
    assertEquals(got, ref);
    assertEquals(a.ops, b.ops);
    assertEquals(a.heard, b.heard);
  } finally {
    await A.store.close();
    await A.db.close();
    await B.store.close();
    await B.db.close();
  }
});

Deno.test("Bulk ingest keeps the staleness marker's bits in the head", async () => {
  const trace: Trace = { ops: [], heard: [] };
  const { db, store } = await openStore(trace);
  try {
    const targets: IngestTarget[] = [{ key: "up", name: "up", labels: [] }];
    const n = 3_000;
    const of = new Int32Array(n);
    const ts = new Float64Array(n);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = 1_000 + i;
      values[i] = i % 3 === 0 ? STALE : i + 0.1234567;
    }
    // Several requests: the later ones run optimised code.
    for (let r = 0; r < 5; r++) {
      const shifted = ts.map((t) => t + r * n);
      await ingestSamples(store, {
        samples: n,
        seriesOf: () => targets[0]!,
        ids: { of, targets },
        timestamps: shifted,
        values,
      }).durable;
    }
    const head = store.find(encoder.encode("up"))!.head.decode();
    const got = new Uint32Array(head.values.buffer);
    for (let i = 0; i < head.ts.length; i++) {
      const want = new Uint32Array(values.buffer, 8 * ((head.ts[i]! - 1_000) % n), 2);
      assertEquals([got[2 * i], got[2 * i + 1]], [want[0], want[1]], `sample at ${head.ts[i]}`);
    }
  } finally {
    await store.close();
    await db.close();
  }
});
