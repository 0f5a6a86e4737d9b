/**
 * Time-series benchmarks (ARCHITECTURE.md § "Benchmarks", the `timeseries` rows), on the seeded
 * sensor generator of tests/_helpers/sensors.ts (wandering 1–3-decimal readings, counters,
 * on/off states, noisy readings; ~1 s timestamps with millisecond jitter):
 *
 * 1. bytes per sample on disk for 100 series × 1 day at 1 Hz: CityHall's chunks (SSTables
 *    after flush + compaction, everything included), beside raw (16 B/sample), the same samples
 *    as KV entries (`sensor.<name>.<ts>` → decimal text), and Prometheus's TSDB blocks written by
 *    `promtool tsdb create-blocks-from openmetrics` from the same samples;
 * 2. durable ingest over RESP against `cityhall serve --sync always`: TS.MADD batches from 50
 *    clients, and TS.ADD at pipeline 1 against SET at pipeline 1 in alternating rounds;
 * 3. query latency over RESP: TS.RANGE of 1 day with AGGREGATION avg 60000, TS.MRANGE of 100
 *    series × 1 h with GROUPBY … REDUCE avg;
 * 4. the server's RSS with 10,000 series after an hour of 1 Hz samples (sent faster than real
 *    time), and the reopen time after kill -9 with those heads unsealed;
 * 5. replication catch-up of 1,000,000 samples: samples/s and bytes on the wire per sample.
 *
 * Sizes scale with BENCH_SCALE. Run alone: `BENCH_SECTIONS=timeseries deno task bench`, or
 * `deno run -A --unstable-kv bench/timeseries.ts`; BENCH_TS=storage,ingest,memory,replication
 * picks rows (1+3, 2, 4, 5).
 *
 * @module
 */

import { Database } from "../src/mod.ts";
import {
  openLeaderDatabase,
  openReplicaDatabase,
  startReplica,
  startReplicationLeader,
} from "../src/replication/mod.ts";
import { startServer } from "../src/server/mod.ts";
import { TimeSeriesStore } from "../src/timeseries/mod.ts";
import { generateSensors } from "../tests/_helpers/sensors.ts";
import { type Row, scaled } from "./harness.ts";
import { runLoadProcess } from "./loadgen.ts";
import { countingProxy } from "./replication.ts";
import { percentile, prometheusBytes, status, timeOrdered, WorkerClient } from "./_ts_tools.ts";
import { startCityHallProcess } from "./server.ts";
import { runTsLoadProcess } from "./ts_loadgen.ts";

const enc = new TextEncoder();
const SEED = 20240601;
const CLIENTS = 50;
const ROUNDS = 2;

/** Runs the time-series rows and returns them. */
export async function timeseriesBench(log: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    log(row);
  };
  const dirs: string[] = [];
  const tmp = async (name: string) => {
    const d = await Deno.makeTempDir({ prefix: `cityhall-bench-ts-${name}-` });
    dirs.push(d);
    return d;
  };
  const parts = (Deno.env.get("BENCH_TS") ?? "storage,ingest,memory,replication").split(",");
  try {
    if (parts.includes("storage")) await storageAndQueries(add, tmp);
    if (parts.includes("ingest")) await ingest(add);
    if (parts.includes("memory")) await memoryAndReopen(add, tmp);
    if (parts.includes("replication")) await catchUp(add, tmp);
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
  return rows;
}

type Add = (row: Row) => void;
type Tmp = (name: string) => Promise<string>;

/** Rows 1 and 3: bytes per sample, then query latency on the same database. */
async function storageAndQueries(add: Add, tmp: Tmp): Promise<void> {
  const seriesCount = 100;
  const seconds = scaled(86_400);
  const series = generateSensors(SEED, seriesCount, seconds);
  const samples = series.reduce((n, s) => n + s.ts.length, 0);
  const keys = series.map((s) => enc.encode(s.name));

  // CityHall.
  const dir = await tmp("storage");
  const db = await Database.open(dir, { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!;
      await store.create(keys[i]!, {
        labels: [["kind", s.kind], ["site", `site${i % 5}`]],
      }).durable;
    }
    const t0 = performance.now();
    let pending: Promise<void>[] = [];
    for (const batch of timeOrdered(series, keys, 60_000)) {
      pending.push(store.madd(batch).durable);
      if (pending.length >= 64) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    const ingestS = (performance.now() - t0) / 1000;
    await store.persistAll();
    await db.flush();
    await db.compact();
    const sst = db.stats().sstableSizeBytes;
    let chunkBytes = 0;
    let chunkCount = 0;
    // Chunk values alone, read in pages.
    let start: Uint8Array = Uint8Array.of(0xff, 0x03);
    for (;;) {
      const page = db.readRange({ start, end: Uint8Array.of(0xff, 0x04) }, { limit: 1000 });
      for (const [, value] of page) {
        chunkBytes += value.length;
        chunkCount++;
      }
      if (page.length < 1000) break;
      start = Uint8Array.of(...page.at(-1)![0], 0);
    }
    add({
      name: `ts 1. bytes/sample on disk, ${seriesCount} series × ${
        seconds.toLocaleString("en-US")
      } s at 1 Hz`,
      unit: "B/sample",
      cityhall: sst / samples,
      lowerIsBetter: true,
      note: `${samples.toLocaleString("en-US")} samples; SSTables after flush+compact ${
        (sst / 1e6).toFixed(2)
      } MB (raw 16 B/sample: ${(samples * 16 / 1e6).toFixed(1)} MB); chunk values alone ${
        (chunkBytes / samples).toFixed(3)
      } B/sample in ${chunkCount} chunks; in-process ingest (sync none) ${
        Math.round(samples / ingestS).toLocaleString("en-US")
      } samples/s; target <= 1.0`,
    });

    // The same samples as KV entries.
    {
      const kvDir = await tmp("kv");
      const kv = await Database.open(kvDir, { syncMode: "none" });
      let raw = 0;
      let ops: { type: "put"; key: string; value: string }[] = [];
      for (const s of series) {
        for (let i = 0; i < s.ts.length; i++) {
          const key = `sensor.${s.name}.${s.ts[i]}`;
          const value = String(s.values[i]);
          raw += key.length + value.length;
          ops.push({ type: "put", key, value });
          if (ops.length === 1000) {
            await kv.write(ops);
            ops = [];
          }
        }
      }
      if (ops.length > 0) await kv.write(ops);
      await kv.flush();
      await kv.compact();
      const kvBytes = kv.stats().sstableSizeBytes;
      await kv.close();
      add({
        name: "ts 1b. the same samples as KV entries",
        unit: "B/sample",
        cityhall: sst / samples,
        denoKv: kvBytes / samples,
        peer: "CityHall KV entries",
        lowerIsBetter: true,
        note: `sensor.<name>.<ts> → decimal text: ${(raw / samples).toFixed(1)} B/sample raw, ${
          (kvBytes / 1e6).toFixed(1)
        } MB of SSTables after compact`,
      });
    }

    // Prometheus TSDB through promtool.
    {
      const prom = await prometheusBytes(series, await tmp("prom"));
      if (typeof prom === "string") {
        add({
          name: "ts 1c. Prometheus TSDB",
          unit: "B/sample",
          cityhall: sst / samples,
          note: `not run: ${prom}`,
        });
      } else {
        add({
          name: "ts 1c. the same samples in Prometheus TSDB (promtool)",
          unit: "B/sample",
          cityhall: sst / samples,
          denoKv: prom.all / samples,
          peer: `Prometheus TSDB ${prom.version}`,
          lowerIsBetter: true,
          note: `promtool tsdb create-blocks-from openmetrics: ${prom.blocks} blocks of 2 h, ${
            (prom.all / 1e6).toFixed(2)
          } MB in all, chunks alone ${(prom.chunks / samples).toFixed(3)} B/sample`,
        });
      }
    }

    // 3. Query latency over RESP on the same database.
    const server = await startServer(db, { port: 0, timeseries: store });
    // The client reads its replies in a thread of its own, as a user's client is its own process.
    const client = await WorkerClient.connect(server.addr.port);
    try {
      const time = (command: string[]) => client.command(command);
      const runs = scaled(200);
      const range = (i: number) => [
        "TS.RANGE",
        series[i]!.name,
        "-",
        "+",
        "AGGREGATION",
        "avg",
        "60000",
      ];
      const warm: number[] = [];
      let buckets = 0;
      for (let i = 0; i < runs; i++) {
        const r = await time(range(0));
        buckets = r.integers;
        warm.push(r.ms);
      }
      const cold: number[] = [];
      for (let i = 0; i < Math.min(runs, series.length); i++) {
        store.context.chunks.clearCache();
        cold.push((await time(range(i))).ms);
      }
      warm.sort((a, b) => a - b);
      cold.sort((a, b) => a - b);
      add({
        name: `ts 3. TS.RANGE ${
          seconds.toLocaleString("en-US")
        } s at 1 Hz, AGGREGATION avg 60000, p50`,
        unit: "ms",
        cityhall: percentile(warm, 0.5),
        lowerIsBetter: true,
        note: `over RESP, ${buckets} buckets; decoded chunks cached (the same series ${runs}×); ` +
          `p99 ${
            percentile(warm, 0.99).toFixed(2)
          } ms; cache cleared before each (${cold.length} ` +
          `series) p50 ${percentile(cold, 0.5).toFixed(2)} ms; target p50 <= 3 ms`,
      });
      const lastTs = Math.max(...series.map((s) => s.ts.at(-1)!));
      const from = String(lastTs - 3_600_000);
      const mrange = [
        "TS.MRANGE",
        from,
        "+",
        "FILTER",
        "kind=(wander,counter,onoff,noisy)",
        "GROUPBY",
        "site",
        "REDUCE",
        "avg",
      ];
      const mr: number[] = [];
      let points = 0;
      let replyBytes = 0;
      for (let i = 0; i < scaled(30); i++) {
        const r = await time(mrange);
        points = r.integers;
        replyBytes = r.bytes;
        mr.push(r.ms);
      }
      mr.sort((a, b) => a - b);
      const agg: number[] = [];
      for (let i = 0; i < scaled(30); i++) {
        agg.push(
          (await time([...mrange.slice(0, 3), "AGGREGATION", "avg", "60000", ...mrange.slice(3)]))
            .ms,
        );
      }
      agg.sort((a, b) => a - b);
      add({
        name: "ts 3b. TS.MRANGE 100 series × 1 h, GROUPBY site REDUCE avg, p50",
        unit: "ms",
        cityhall: percentile(mr, 0.5),
        lowerIsBetter: true,
        note:
          `over RESP: 5 groups, ${points.toLocaleString("en-US")} points, ${
            (replyBytes / 1e6).toFixed(1)
          } MB reply (timestamps jitter, so series rarely share one); with AGGREGATION avg 60000 ` +
          `p50 ${percentile(agg, 0.5).toFixed(2)} ms; target p50 <= 50 ms`,
      });
    } finally {
      await client.close();
      await server.close();
    }
  } finally {
    await store.close();
    await db.close();
  }
}

/** Row 2: durable ingest over RESP, against `cityhall serve --sync always`. */
async function ingest(add: Add): Promise<void> {
  const proc = await startCityHallProcess();
  if (typeof proc === "string") {
    add({
      name: "ts 2. ingest over RESP",
      unit: "samples/s",
      cityhall: NaN,
      note: `not run: ${proc}`,
    });
    return;
  }
  try {
    const batch = 500;
    const samples = scaled(2_000_000);
    let best = 0;
    let bytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await runTsLoadProcess({
        port: proc.port,
        command: "madd",
        connections: CLIENTS,
        samples,
        batch,
        series: 20,
        startMs: 1_700_000_000_000 + round * 10_000_000_000,
        stepMs: 1000,
      });
      if (r.samplesPerSec > best) best = r.samplesPerSec;
      bytes = r.bytesPerSample;
    }
    add({
      name: `ts 2. durable ingest, TS.MADD of ${batch} from ${CLIENTS} clients`,
      unit: "samples/s",
      cityhall: best,
      note:
        `cityhall serve --sync always; ${samples.toLocaleString("en-US")} samples into ${
          CLIENTS * 20
        } series per round, best of ${ROUNDS}; ${bytes.toFixed(1)} request bytes/sample; ` +
        "bench/ts_loadgen.ts checks every reply; target >= 1,000,000",
    });
    const n = scaled(20_000);
    const addRun = (round: number) =>
      runTsLoadProcess({
        port: proc.port,
        command: "add",
        connections: CLIENTS,
        samples: n,
        batch: 1,
        series: 20,
        startMs: 1_800_000_000_000 + round * 10_000_000_000,
        stepMs: 1000,
      }).then((r) => r.samplesPerSec);
    const setRun = () =>
      runLoadProcess({
        port: proc.port,
        command: "set",
        connections: CLIENTS,
        pipeline: 1,
        requests: n,
        keyspace: n,
        valueSize: 16,
      }).then((r) => r.opsPerSec);
    // One unmeasured run of each first: the TS.MADD rounds leave garbage and head checkpoints
    // behind, which the run right after them pays for (it was always TS.ADD's first round).
    // Then the order alternates, so neither command always runs first in a round.
    await addRun(0);
    await setRun();
    let bestAdd = 0;
    let bestSet = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      if (round % 2 === 1) {
        bestAdd = Math.max(bestAdd, await addRun(round));
        bestSet = Math.max(bestSet, await setRun());
      } else {
        bestSet = Math.max(bestSet, await setRun());
        bestAdd = Math.max(bestAdd, await addRun(round));
      }
    }
    add({
      name: `ts 2b. TS.ADD vs SET, ${CLIENTS} clients, pipeline 1`,
      unit: "ops/s",
      cityhall: bestAdd,
      denoKv: bestSet,
      peer: "SET (16 B values), same server",
      note: `${n.toLocaleString("en-US")} commands per round after one unmeasured round of ` +
        `each, order alternating, best of ${ROUNDS}; ` +
        `ratio TS.ADD/SET ${(bestAdd / bestSet).toFixed(2)}; target >= 0.9`,
    });
  } finally {
    await proc.close();
  }
}

/**
 * Row 4: RSS with 10,000 series at 1 Hz. The first hour minus two minutes is sent as fast as
 * the server takes it (the heads fill as an hour of real time would fill them); the server is
 * restarted (a burst a thousand times faster than 1 Hz leaves V8 holding garbage pages that an
 * hour at 1 Hz never makes), then a minute arrives in real time: one TS.MADD of 200 samples per
 * client per second, 10,000 samples/s, with the RSS sampled every second; then the same again
 * under DENO_V8_FLAGS=--optimize-for-size. Then kill -9 and a timed reopen.
 */
async function memoryAndReopen(add: Add, tmp: Tmp): Promise<void> {
  const dir = await tmp("rss");
  const first = await startCityHallProcess({ dataDir: dir });
  if (typeof first === "string") {
    add({ name: "ts 4. RSS", unit: "MiB", cityhall: NaN, note: `not run: ${first}` });
    return;
  }
  let proc = first;
  const seriesCount = 10_000;
  const perClient = seriesCount / CLIENTS;
  const seconds = scaled(3600);
  const live = Math.min(60, Math.max(5, Math.floor(seconds / 10)));
  const startMs = 1_700_000_000_000;
  const mib = (b: number) => b / 1024 / 1024;
  let killed = false;
  try {
    const t0 = performance.now();
    await runTsLoadProcess({
      port: proc.port,
      command: "madd",
      connections: CLIENTS,
      samples: seriesCount * (seconds - 2 * live),
      batch: 1000,
      series: perClient,
      startMs,
      stepMs: 1000,
    }, 3_600_000);
    const fillS = (performance.now() - t0) / 1000;
    const afterFill = status(proc.pid);
    await proc.close();
    // Each live phase: a restart (with `env`), then `live` seconds in real time.
    let liveStart = startMs + (seconds - 2 * live) * 1000;
    const livePhase = async (env: Record<string, string>) => {
      const r0 = performance.now();
      const restarted = await startCityHallProcess({ dataDir: dir, env });
      if (typeof restarted === "string") throw new Error(restarted);
      const restartMs = performance.now() - r0;
      proc = restarted;
      const idle = status(proc.pid);
      let most = 0;
      const sampler = setInterval(() => most = Math.max(most, status(proc.pid).rss), 1000);
      const r = await runTsLoadProcess({
        port: proc.port,
        command: "madd",
        connections: CLIENTS,
        samples: seriesCount * live,
        batch: perClient,
        series: perClient,
        startMs: liveStart,
        stepMs: 1000,
        intervalMs: 1000,
      }, 600_000);
      clearInterval(sampler);
      liveStart += live * 1000;
      const end = status(proc.pid);
      return {
        most: Math.max(most, end.rss),
        end: end.rss,
        idle: idle.rss,
        restartMs,
        rate: r.samplesPerSec,
      };
    };
    const plain = await livePhase({});
    await proc.close();
    const small = await livePhase({ DENO_V8_FLAGS: "--optimize-for-size" });
    add({
      name: `ts 4. server RSS, ${seriesCount.toLocaleString("en-US")} series at 1 Hz, after ${
        seconds.toLocaleString("en-US")
      } s`,
      unit: "MiB",
      cityhall: mib(plain.most),
      lowerIsBetter: true,
      note:
        `most RSS while ${live} s arrive in real time (${
          Math.round(plain.rate).toLocaleString("en-US")
        } samples/s) after a restart (${(plain.restartMs / 1000).toFixed(1)} s to listening, ${
          mib(plain.idle).toFixed(0)
        } MiB then); with DENO_V8_FLAGS=--optimize-for-size ${mib(small.most).toFixed(0)} MiB; ` +
        `the first ${
          (seriesCount * (seconds - 2 * live)).toLocaleString("en-US")
        } samples, sent in ${fillS.toFixed(0)} s, had left ${
          mib(afterFill.rss).toFixed(0)
        } MiB (peak ${mib(afterFill.hwm).toFixed(0)} MiB) before the restart; target <= 200 MiB`,
    });
    await proc.kill();
    killed = true;
    const k0 = performance.now();
    const db = await Database.open(dir);
    const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    const reopenMs = performance.now() - k0;
    let total = 0;
    let headSamples = 0;
    for (const s of store.all()) {
      total += store.info(s.key).totalSamples;
      headSamples += s.head.count;
    }
    const wal = db.walSegments().reduce((n, x) => n + x.sizeBytes, 0);
    await store.close();
    await db.close();
    add({
      name: "ts 4b. reopen after kill -9 with those heads",
      unit: "ms",
      cityhall: reopenMs,
      lowerIsBetter: true,
      note: `Database.open + TimeSeriesStore.open; ${total.toLocaleString("en-US")} samples back (${
        (seriesCount * seconds).toLocaleString("en-US")
      } acknowledged), ${headSamples.toLocaleString("en-US")} of them in heads; ${
        (wal / 1e6).toFixed(0)
      } MB of WAL; target <= 3,000 ms`,
    });
  } finally {
    if (!killed) await proc.close();
  }
}

/** Row 5: replication catch-up of 1,000,000 samples. */
async function catchUp(add: Add, tmp: Tmp): Promise<void> {
  const n = scaled(1_000_000);
  const seriesCount = 100;
  const { db, registry } = await openLeaderDatabase(await tmp("repl-leader"));
  const leader = await startReplicationLeader(db, { hostname: "127.0.0.1", port: 0, registry });
  const lts = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const rdb = await openReplicaDatabase(await tmp("repl-replica"));
  const rts = TimeSeriesStore.open(rdb, { maintenanceIntervalMs: 0 });
  try {
    let replica = startReplica(rdb, { leader: `127.0.0.1:${leader.addr.port}` });
    await db.put("hello", "world");
    await replica.waitForAck(db.lastSeq);
    await replica.close();
    const series = generateSensors(SEED + 1, seriesCount, Math.ceil(n / seriesCount));
    const keys = series.map((s) => enc.encode(s.name));
    for (const k of keys) await lts.create(k).durable;
    let written = 0;
    for (const batch of timeOrdered(series, keys, 60_000)) {
      const b = batch.slice(0, n - written);
      if (b.length === 0) break;
      await lts.madd(b).durable;
      written += b.length;
    }
    const proxy = countingProxy(leader.addr.port);
    const t0 = performance.now();
    replica = startReplica(rdb, { leader: `127.0.0.1:${proxy.port}` });
    await replica.waitForAck(db.lastSeq);
    const s = (performance.now() - t0) / 1000;
    let got = 0;
    for (const x of rts.all()) got += rts.info(x.key).totalSamples;
    add({
      name: `ts 5. replication catch-up, ${written.toLocaleString("en-US")} samples`,
      unit: "samples/s",
      cityhall: written / s,
      note:
        `${(proxy.bytes / written).toFixed(2)} bytes on the wire per sample; TS.MADD batches of ` +
        `~6,000 (1 min of ${seriesCount} series); the replica holds ${got.toLocaleString("en-US")}`,
    });
    await replica.close();
    await proxy.close();
  } finally {
    await rts.close();
    await rdb.close();
    await lts.close();
    await leader.close();
    await db.close();
  }
}

if (import.meta.main) {
  const { formatRow, TABLE_HEADER } = await import("./harness.ts");
  console.log(TABLE_HEADER);
  await timeseriesBench((row) => console.log(formatRow(row)));
}
