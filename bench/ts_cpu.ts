/**
 * CPU time per operation of the time-series paths issue 10 and 11 set targets for, measured
 * in process with `process.cpuUsage()` (user + system of the whole process). On a machine
 * shared with other work, wall-clock rates swing with the load while CPU time per operation
 * stays comparable between two builds measured in the same minutes: this is the tool to judge
 * a change by (the `timeseries` and `ingest` sections give the wall-clock rows).
 *
 *   deno run -A --unstable-kv bench/ts_cpu.ts            # every row
 *   BENCH_TS_CPU=madd,range deno run -A --unstable-kv bench/ts_cpu.ts
 *
 * Rows: `madd` (RESP parse of TS.MADD commands of 500 samples over 20 series + the store's
 * write, per sample), `add` (TS.ADD's store path per command, beside an engine put), `range`
 * (TS.RANGE of one day at 1 Hz with AGGREGATION avg 60000, per query), `reopen` (Database.open
 * and TimeSeriesStore.open of 2,000 series with unsealed heads, best of 3), `influx` (gzip'ed
 * 5,000-line Telegraf batches gunzipped, parsed and stored, per sample), `serve` (a real
 * `cityhall serve --sync always` process under bench/ts_loadgen.ts and bench/loadgen.ts: the
 * server's own CPU time from /proc/<pid>/stat per TS.MADD sample from 50 clients, per TS.ADD
 * and per SET at pipeline 1; BENCH_TS_CPU_PROF=<dir> writes the server's `--cpu-prof` there).
 * Each row prints the load average beside it. In-process rows fsync nothing (sync none): the
 * engine's share is not their subject.
 *
 * @module
 */

import process from "node:process";
import { gunzipSync, gzipSync } from "node:zlib";
import { Database } from "../src/mod.ts";
import { RespParser } from "../src/server/resp.ts";
import type { PackedArgs } from "../src/server/resp_packed.ts";
import { parseLongAt, parseValueAt } from "../src/server/commands/_ts_args.ts";
import { KeyIds, TimeSeriesStore } from "../src/timeseries/mod.ts";
import type { Series } from "../src/timeseries/series_set.ts";
import { parseInflux } from "../src/ingest/influx.ts";
import { ingestSamples } from "../src/ingest/store_writer.ts";
import { generateSensors } from "../tests/_helpers/sensors.ts";
import { telegrafBatch } from "./ingest.ts";
import { startCityHallProcess } from "./server.ts";
import { runTsLoadProcess } from "./ts_loadgen.ts";
import { runLoadProcess } from "./loadgen.ts";

const enc = new TextEncoder();

/** CPU milliseconds of this process so far. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function load(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

async function withStore<T>(
  fn: (db: Database, store: TimeSeriesStore, dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-tscpu-" });
  const db = await Database.open(dir, { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    return await fn(db, store, dir);
  } finally {
    await store.close();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** TS.MADD: parse + store, µs per sample. */
async function madd(): Promise<string> {
  const series = 20;
  const batch = 500;
  const rounds = 600;
  return await withStore(async (_db, store) => {
    const keys = Array.from({ length: series }, (_, j) => `bench:0:${j}`);
    for (const k of keys) await store.create(enc.encode(k)).durable;
    let t = 1_700_000_000_000;
    const commands = Array.from({ length: rounds }, () => {
      let s = `*${1 + 3 * batch}\r\n$7\r\nTS.MADD\r\n`;
      for (let i = 0; i < batch; i++) {
        if (i % series === 0) t += 1000;
        for (const a of [keys[i % series]!, String(t), (20 + Math.sin(i) * 3).toFixed(2)]) {
          s += `$${a.length}\r\n${a}\r\n`;
        }
      }
      return enc.encode(s);
    });
    const parser = new RespParser();
    parser.packTsMadd = true; // as the server's connections parse
    let parse = 0;
    let write = 0;
    for (const c of commands) {
      const c0 = cpuMs();
      parser.push(c);
      const p = parser.take() as PackedArgs;
      const c1 = cpuMs();
      // What the TS.MADD handler does (timeseries_madd.ts), without a connection.
      const n = (p.length - 1) / 3;
      const ids = new KeyIds();
      const cols = {
        n,
        keys: ids.keys,
        keyOf: new Int32Array(n),
        ts: new Float64Array(n),
        values: new Float64Array(n),
        errors: undefined,
      };
      for (let i = 0; i < n; i++) {
        const a = 1 + 3 * i;
        cols.keyOf[i] = ids.id(p.bytes, p.start(a), p.end(a));
        cols.ts[i] = parseLongAt(p.bytes, p.start(a + 1), p.end(a + 1))!;
        cols.values[i] = parseValueAt(p.bytes, p.start(a + 2), p.end(a + 2))!;
      }
      store.maddColumns(cols);
      write += cpuMs() - c1;
      parse += c1 - c0;
    }
    const us = (ms: number) => (ms * 1000 / (rounds * batch)).toFixed(2);
    return `madd: RESP parse ${us(parse)} us/sample, arguments + store ${us(write)} us/sample`;
  });
}

/** TS.ADD's store path (lookup + add) per command, and an engine put for scale. */
async function add(): Promise<string> {
  const n = 100_000;
  return await withStore(async (db, store) => {
    const keys = Array.from({ length: 1000 }, (_, i) => enc.encode(`bench:${i}`));
    const kv = Array.from({ length: 1000 }, (_, i) => enc.encode(`kv:${i}`));
    const value = enc.encode("0123456789abcdef");
    for (const k of keys) await store.create(k).durable;
    // The lookup TS.ADD's handler makes (`find` in builds before `findForWrite`).
    const memo = store as unknown as { findForWrite?: (key: Uint8Array) => Series | undefined };
    const find = memo.findForWrite?.bind(store) ?? ((key: Uint8Array) => store.find(key));
    let t = 1_700_000_000_000;
    const c0 = cpuMs();
    for (let i = 0; i < n; i++) {
      const key = keys[i % keys.length]!;
      if (i % keys.length === 0) t += 1000;
      store.add({ key, ts: t, value: 21.5 + (i % 7) }, { found: find(key) });
    }
    const c1 = cpuMs();
    for (let i = 0; i < n; i++) db.write([{ type: "put", key: kv[i % kv.length]!, value }]);
    const c2 = cpuMs();
    const us = (ms: number) => (ms * 1000 / n).toFixed(2);
    return `add: TS.ADD store path ${us(c1 - c0)} us/command, engine put ${us(c2 - c1)} us`;
  });
}

/** TS.RANGE of a day at 1 Hz, AGGREGATION avg 60000, decoded chunks cached. */
async function range(): Promise<string> {
  return await withStore(async (db, store) => {
    const s = generateSensors(20240601, 1, 86_400)[0]!;
    const key = enc.encode(s.name);
    await store.create(key).durable;
    for (let i = 0; i < s.ts.length; i += 5000) {
      const batch = [];
      for (let j = i; j < Math.min(i + 5000, s.ts.length); j++) {
        batch.push({ key, ts: s.ts[j]!, value: s.values[j]! });
      }
      await store.madd(batch).durable;
    }
    await store.persistAll();
    await db.flush();
    const args = {
      from: 0,
      to: Number.MAX_SAFE_INTEGER,
      aggregation: {
        aggregator: "avg" as const,
        bucketMs: 60_000,
        alignMs: 0,
        empty: false,
        bucketTimestamp: "start" as const,
      },
    };
    for (let i = 0; i < 50; i++) store.range(key, args);
    const n = 300;
    const c0 = cpuMs();
    for (let i = 0; i < n; i++) store.range(key, args);
    return `range: ${((cpuMs() - c0) / n).toFixed(3)} ms per query (store level)`;
  });
}

/** Database.open + TimeSeriesStore.open with 2,000 series' heads unsealed (best of 3). */
async function reopen(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-tscpu-reopen-" });
  try {
    const seriesCount = 2_000;
    {
      const db = await Database.open(dir, { syncMode: "none" });
      const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
      const keys = Array.from({ length: seriesCount }, (_, i) => enc.encode(`s:${i}`));
      for (const k of keys) await store.create(k).durable;
      for (let second = 0; second < 600; second += 5) {
        const batch = [];
        for (let d = 0; d < 5; d++) {
          for (const key of keys) {
            batch.push({ key, ts: 1_700_000_000_000 + (second + d) * 1000, value: d * 0.25 });
          }
        }
        await store.madd(batch).durable;
      }
      // Half the heads in state records, the rest only in the log: replay has work to do.
      await store.persistAll();
      for (let second = 600; second < 900; second += 5) {
        const batch = [];
        for (let d = 0; d < 5; d++) {
          for (const key of keys) {
            batch.push({ key, ts: 1_700_000_000_000 + (second + d) * 1000, value: d * 0.5 });
          }
        }
        await store.madd(batch).durable;
      }
      await store.close();
      await db.close();
    }
    let best = Infinity;
    let bestDb = 0;
    for (let r = 0; r < 3; r++) {
      const copy = `${dir}-copy`;
      await new Deno.Command("cp", { args: ["-a", dir, copy] }).output();
      const c0 = cpuMs();
      const db = await Database.open(copy, {});
      const c1 = cpuMs();
      const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
      const c2 = cpuMs();
      if (c2 - c1 < best) {
        best = c2 - c1;
        bestDb = c1 - c0;
      }
      await store.close();
      await db.close();
      await Deno.remove(copy, { recursive: true });
    }
    return `reopen: Database.open ${bestDb.toFixed(0)} ms, TimeSeriesStore.open ${
      best.toFixed(0)
    } ms CPU (${seriesCount} series, 1.8M samples in heads)`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Influx: gunzip + parse + store, per sample. */
async function influx(): Promise<string> {
  const bodies = Array.from({ length: 40 }, (_, b) => new Uint8Array(gzipSync(telegrafBatch(b))));
  return await withStore((_db, store) => {
    let samples = 0;
    const c0 = cpuMs();
    for (const body of bodies) {
      const batch = parseInflux(new TextDecoder().decode(gunzipSync(body)), "ns", 0);
      samples += ingestSamples(store, {
        samples: batch.samples,
        seriesOf: (i) => batch.series[i]!,
        ids: { of: batch.seriesIds, targets: batch.distinct },
        timestamps: batch.timestamps,
        values: batch.values,
      }).written;
    }
    const ms = cpuMs() - c0;
    return Promise.resolve(
      `influx: ${(ms * 1000 / samples).toFixed(3)} us/sample, ${
        Math.round(samples / (ms / 1000)).toLocaleString("en-US")
      } samples per CPU second`,
    );
  });
}

/** CPU milliseconds (user + system) process `pid` has used, from /proc/<pid>/stat. */
function procCpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at field 3.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime, stime in 100 Hz ticks
}

/** Server CPU per sample over RESP: TS.MADD from 50 clients, TS.ADD and SET at pipeline 1. */
async function serve(): Promise<string> {
  const prof = Deno.env.get("BENCH_TS_CPU_PROF");
  const proc = await startCityHallProcess(
    prof === undefined ? {} : { denoArgs: ["--cpu-prof", `--cpu-prof-dir=${prof}`] },
  );
  if (typeof proc === "string") return `serve: not run: ${proc}`;
  try {
    const samples = Number(Deno.env.get("BENCH_TS_CPU_SAMPLES") ?? 2_000_000);
    const madd = (startMs: number, n: number) =>
      runTsLoadProcess({
        port: proc.port,
        command: "madd",
        connections: 50,
        samples: n,
        batch: 500,
        series: 20,
        startMs,
        stepMs: 1000,
      });
    await madd(1_600_000_000_000, 200_000); // warm-up: V8 optimizes the hot paths
    let c0 = procCpuMs(proc.pid);
    const m = await madd(1_700_000_000_000, samples);
    const maddUs = (procCpuMs(proc.pid) - c0) * 1000 / m.samples;
    const n = 20_000;
    c0 = procCpuMs(proc.pid);
    const a = await runTsLoadProcess({
      port: proc.port,
      command: "add",
      connections: 50,
      samples: n,
      batch: 1,
      series: 20,
      startMs: 1_800_000_000_000,
      stepMs: 1000,
    });
    const addUs = (procCpuMs(proc.pid) - c0) * 1000 / a.samples;
    c0 = procCpuMs(proc.pid);
    const s = await runLoadProcess({
      port: proc.port,
      command: "set",
      connections: 50,
      pipeline: 1,
      requests: n,
      keyspace: n,
      valueSize: 16,
    });
    const setUs = (procCpuMs(proc.pid) - c0) * 1000 / s.requests;
    const rate = (x: number) => Math.round(x).toLocaleString("en-US");
    return `serve: TS.MADD ${maddUs.toFixed(2)} us CPU/sample (${rate(m.samplesPerSec)}/s wall, ${
      rate(1e6 / maddUs)
    }/s per core); TS.ADD ${addUs.toFixed(1)} us/cmd (${rate(a.samplesPerSec)}/s), SET ${
      setUs.toFixed(1)
    } us/cmd (${rate(s.opsPerSec)}/s)`;
  } finally {
    await proc.close();
  }
}

/**
 * TS.ADD against SET at pipeline 1 from 50 clients, alone (no TS.MADD before them): a warm-up
 * round of each, then BENCH_TS_CPU_ROUNDS (default 4) alternating rounds of 20,000 commands;
 * the server's CPU per command (/proc/<pid>/stat) of each round, and the medians' ratio.
 * BENCH_TS_CPU_PROF=<dir> writes the server's `--cpu-prof` there.
 */
async function addset(): Promise<string> {
  const prof = Deno.env.get("BENCH_TS_CPU_PROF");
  const proc = await startCityHallProcess(
    prof === undefined ? {} : { denoArgs: ["--cpu-prof", `--cpu-prof-dir=${prof}`] },
  );
  if (typeof proc === "string") return `addset: not run: ${proc}`;
  try {
    const n = 20_000;
    const rounds = Number(Deno.env.get("BENCH_TS_CPU_ROUNDS") ?? 4);
    const adds: number[] = [];
    const sets: number[] = [];
    const details: string[] = [];
    /** Main thread's CPU ms and write syscalls (socket writes + WAL writes) of the server. */
    const probe = () => {
      const stat = Deno.readTextFileSync(`/proc/${proc.pid}/task/${proc.pid}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const io = Deno.readTextFileSync(`/proc/${proc.pid}/io`);
      const syscw = Number(/syscw: (\d+)/.exec(io)?.[1] ?? NaN);
      return { main: (Number(f[11]) + Number(f[12])) * 10, sys: Number(f[12]) * 10, syscw };
    };
    const detail = (name: string, p0: ReturnType<typeof probe>, ops: number) => {
      const p1 = probe();
      details.push(
        `${name} main ${((p1.main - p0.main) * 1000 / ops).toFixed(1)} us (system ${
          ((p1.sys - p0.sys) * 1000 / ops).toFixed(1)
        }), writes/op ${((p1.syscw - p0.syscw) / ops).toFixed(3)}`,
      );
    };
    for (let r = -1; r < rounds; r++) {
      let p0 = probe();
      let c0 = procCpuMs(proc.pid);
      const a = await runTsLoadProcess({
        port: proc.port,
        command: "add",
        connections: 50,
        samples: n,
        batch: 1,
        series: 20,
        startMs: 1_800_000_000_000 + (r + 1) * 10_000_000_000,
        stepMs: 1000,
      });
      const addUs = (procCpuMs(proc.pid) - c0) * 1000 / a.samples;
      if (r >= 0) detail("add", p0, a.samples);
      p0 = probe();
      c0 = procCpuMs(proc.pid);
      const s = await runLoadProcess({
        port: proc.port,
        command: "set",
        connections: 50,
        pipeline: 1,
        requests: n,
        keyspace: n,
        valueSize: 16,
      });
      const setUs = (procCpuMs(proc.pid) - c0) * 1000 / s.requests;
      if (r >= 0) detail("set", p0, s.requests);
      if (r >= 0) {
        adds.push(addUs);
        sets.push(setUs);
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(" ");
    return `addset: TS.ADD ${median(adds).toFixed(1)} us CPU/cmd (${list(adds)}), SET ${
      median(sets).toFixed(1)
    } us CPU/cmd (${list(sets)}), ratio of medians ${(median(adds) / median(sets)).toFixed(2)}; ${
      details.join("; ")
    }`;
  } finally {
    await proc.close();
  }
}

const ROWS: Record<string, () => Promise<string>> = {
  madd,
  add,
  range,
  reopen,
  influx,
  serve,
  addset,
};

if (import.meta.main) {
  const wanted = (Deno.env.get("BENCH_TS_CPU") ?? Object.keys(ROWS).join(",")).split(",");
  for (const name of wanted) {
    const row = ROWS[name];
    if (!row) throw new Error(`unknown row ${name} (rows: ${Object.keys(ROWS).join(", ")})`);
    console.log(`${await row()} (load ${load()})`);
  }
}
