/**
 * Fleet benchmarks (`BENCH_SECTIONS=fleet deno task bench`), against issue 12's targets (the
 * "peer" column):
 *
 * 1. The factory: 100 sensors at 1 Hz for 8 h offline (2.88M samples of the seeded sensor
 *    generator, one TS.MADD of 100 samples per second), then the link returns at
 *    `--uplink-rate-limit 128KiB`: time until caught up and bytes on the wire (target ≤ 60 s,
 *    ≤ 6 MB); the same without a rate limit (CHUNKS, and raw RECORDS for comparison).
 * 2. 50 sites × 100 sensors live into one hub (a `cityhall hub` process): the hub's CPU per
 *    1,000 samples, and write-to-hub-durable latency p50/p99 (the edge's write to the hub's
 *    acknowledgement, which follows the hub's fsync).
 * 3. Bytes per sample on the wire, live and in catch-up.
 *
 * Sizes scale with BENCH_SCALE (0.1 = 288,000 samples, 48 s of live load).
 */

import { Database } from "../src/engine/mod.ts";
import { RealFs } from "../src/fs/mod.ts";
import { startHub } from "../src/fleet/hub.ts";
import { addSite } from "../src/fleet/sites.ts";
import { openEdgeDatabase, startUplink } from "../src/fleet/uplink.ts";
import { type SampleIn, TimeSeriesStore } from "../src/timeseries/mod.ts";
import { generateSensors, type SensorSeries } from "../tests/_helpers/sensors.ts";
import { type Row, scaled } from "./harness.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const KiB = 1024;

const utf8 = new TextEncoder();

/** 100 seeded sensors (`tests/_helpers/sensors.ts`), one TS.MADD-sized batch per second. */
class Sensors {
  readonly #series: SensorSeries[];
  readonly #keys: Uint8Array[];

  constructor(count: number, seconds: number, seed = 42) {
    this.#series = generateSensors(seed, count, seconds);
    this.#keys = this.#series.map((s) => utf8.encode(s.name));
  }

  /** Creates the series (labels: the sensor's kind). */
  async create(store: TimeSeriesStore): Promise<void> {
    const durable = [];
    for (let i = 0; i < this.#series.length; i++) {
      durable.push(
        store.create(this.#keys[i]!, { labels: [["kind", this.#series[i]!.kind]] }).durable,
      );
    }
    await Promise.all(durable); // one group commit, not one fsync per series
  }

  /** The samples of second `s`: one per sensor (a sensor missing that second is skipped). */
  batch(s: number): SampleIn[] {
    const out: SampleIn[] = [];
    for (let i = 0; i < this.#series.length; i++) {
      const series = this.#series[i]!;
      if (s < series.ts.length) {
        out.push({ key: this.#keys[i]!, ts: series.ts[s]!, value: series.values[s]! });
      }
    }
    return out;
  }
}

/** An edge directory holding `seconds` of 100 sensors, its WAL kept for the hub; samples. */
async function offlineEdge(seconds: number): Promise<{ dir: string; samples: number }> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-factory-" });
  const { db } = await openEdgeDatabase(dir, "factory", { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const sensors = new Sensors(100, seconds);
  await sensors.create(store);
  let samples = 0;
  for (let s = 0; s < seconds; s++) {
    const batch = sensors.batch(s);
    samples += batch.length;
    await store.madd(batch).durable;
  }
  await db.sync();
  await store.close();
  await db.close();
  return { dir, samples };
}

/** Catches `edgeDir` up with a fresh hub (with its time-series layer); time and wire bytes. */
async function catchUp(
  edgeDir: string,
  rateLimitBytesPerSec: number | undefined,
  catchUpChunks = true,
): Promise<{ seconds: number; bytes: number }> {
  const hubDir = await Deno.makeTempDir({ prefix: "cityhall-bench-hub-" });
  const hubDb = await Database.open(hubDir);
  const timeseries = TimeSeriesStore.open(hubDb);
  const hub = startHub(hubDb, { hostname: "127.0.0.1", port: 0, timeseries });
  const token = await addSite(new RealFs(), hubDir, "factory");
  const { db, store } = await openEdgeDatabase(edgeDir, "factory");
  try {
    const started = performance.now();
    const uplink = startUplink(db, store, {
      hub: `127.0.0.1:${hub.addr.port}`,
      site: "factory",
      token,
      catchUpChunks,
      ...(rateLimitBytesPerSec !== undefined ? { rateLimitBytesPerSec } : {}),
    });
    await uplink.waitForAck(db.lastSeq);
    const seconds = (performance.now() - started) / 1000;
    const bytes = uplink.status().wireBytes;
    await uplink.close();
    return { seconds, bytes };
  } finally {
    await db.close();
    await hub.close();
    await timeseries.close();
    await hubDb.close();
    await Deno.remove(hubDir, { recursive: true });
  }
}

/** CPU seconds (user + system) a process has used, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
}

/** 50 edges in this process, one `cityhall hub` process; hub CPU and ack latency. */
async function fleetLive(
  sites: number,
  seconds: number,
): Promise<{ cpuMsPer1k: number; p50: number; p99: number; bytesPerSample: number }> {
  const hubDir = await Deno.makeTempDir({ prefix: "cityhall-bench-fleet-" });
  const tokens: string[] = [];
  for (let i = 0; i < sites; i++) tokens.push(await addSite(new RealFs(), hubDir, `site${i}`));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      MAIN,
      "hub",
      "--data-dir",
      hubDir,
      "--port",
      "0",
      "--no-http",
      "--sync-port",
      "0",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let syncPort = 0;
  while (syncPort === 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`hub exited:\n${log}`);
    log += value;
    const m = log.match(/msg="listening" .*sync_listen=\S+:(\d+)/);
    if (m) syncPort = Number(m[1]);
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* the hub's log */ }
  })();
  const edges: {
    dir: string;
    db: Database;
    ts: TimeSeriesStore;
    uplink: ReturnType<typeof startUplink>;
    sensors: Sensors;
  }[] = [];
  const latencies: number[] = [];
  try {
    for (let i = 0; i < sites; i++) {
      const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-site-" });
      const { db, store } = await openEdgeDatabase(dir, `site${i}`);
      const uplink = startUplink(db, store, {
        hub: `127.0.0.1:${syncPort}`,
        site: `site${i}`,
        token: tokens[i]!,
      });
      const ts = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
      const sensors = new Sensors(100, seconds + 1, i);
      await sensors.create(ts);
      edges.push({ dir, db, ts, uplink, sensors });
    }
    await Promise.all(edges.map((e) => e.uplink.waitForAck(0)));
    // Warm up one second, then measure.
    const tick = async (s: number, record: boolean) => {
      await Promise.all(edges.map(async (e) => {
        const t0 = performance.now();
        await e.ts.madd(e.sensors.batch(s)).durable;
        await e.uplink.waitForAck(e.db.lastSeq);
        if (record) latencies.push(performance.now() - t0);
      }));
    };
    await tick(0, false);
    const cpu0 = await cpuSeconds(child.pid);
    const wire0 = edges.reduce((n, e) => n + e.uplink.status().wireBytes, 0);
    const started = performance.now();
    for (let s = 1; s <= seconds; s++) {
      const due = started + s * 1000;
      await tick(s, true);
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const wall = (performance.now() - started) / 1000;
    const cpu = (await cpuSeconds(child.pid)) - cpu0;
    const wire = edges.reduce((n, e) => n + e.uplink.status().wireBytes, 0) - wire0;
    const samples = sites * 100 * seconds;
    latencies.sort((a, b) => a - b);
    console.log(
      `(fleet live: ${samples} samples in ${wall.toFixed(1)} s, hub CPU ${cpu.toFixed(2)} s)`,
    );
    return {
      cpuMsPer1k: (cpu * 1000) / (samples / 1000),
      p50: latencies[Math.floor(latencies.length * 0.5)]!,
      p99: latencies[Math.floor(latencies.length * 0.99)]!,
      bytesPerSample: wire / samples,
    };
  } finally {
    for (const e of edges) {
      await e.uplink.close();
      await e.ts.close();
      await e.db.close();
      await Deno.remove(e.dir, { recursive: true });
    }
    child.kill("SIGTERM");
    await child.status;
    await drain.catch(() => {});
    await Deno.remove(hubDir, { recursive: true });
  }
}

/** The fleet section. */
export async function fleetBench(print: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    print(row);
  };
  const seconds = scaled(8 * 3600);
  const { dir, samples } = await offlineEdge(seconds);
  const label = `${samples.toLocaleString("en-US")} samples`;
  const copyOf = async () => {
    const copy = `${dir}-copy`;
    await Deno.remove(copy, { recursive: true }).catch(() => {});
    await Deno.mkdir(copy);
    await new Deno.Command("cp", { args: ["-a", `${dir}/.`, copy] }).output();
    return copy;
  };
  try {
    let copy = await copyOf();
    const records = await catchUp(copy, undefined, false);
    await Deno.remove(copy, { recursive: true });
    copy = await copyOf();
    const free = await catchUp(copy, undefined);
    await Deno.remove(copy, { recursive: true });
    const limited = await catchUp(dir, 128 * KiB);
    add({
      name: `factory catch-up at --uplink-rate-limit 128KiB (${label}, time series)`,
      unit: "s",
      cityhall: limited.seconds,
      denoKv: 60 * seconds / (8 * 3600),
      peer: "issue 12 target (60 s for 2.88M)",
      lowerIsBetter: true,
      note: `${(limited.bytes / 1e6).toFixed(2)} MB on the wire (target ${
        (6 * seconds / (8 * 3600)).toFixed(2)
      } MB)`,
    });
    add({
      name: `factory catch-up bytes per sample at 128KiB/s, CHUNKS (${label})`,
      unit: "B",
      cityhall: limited.bytes / samples,
      denoKv: 2,
      peer: "issue 12 target",
      lowerIsBetter: true,
    });
    add({
      name: `factory catch-up without a rate limit, CHUNKS (${label})`,
      unit: "s",
      cityhall: free.seconds,
      lowerIsBetter: true,
      note: `${(free.bytes / samples).toFixed(2)} B per sample at zstd level 3`,
    });
    add({
      name: `factory catch-up without a rate limit, raw RECORDS (${label})`,
      unit: "B",
      cityhall: records.bytes / samples,
      lowerIsBetter: true,
      note: `bytes per sample; ${records.seconds.toFixed(1)} s`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const live = await fleetLive(50, scaled(480) > 30 ? 30 : Math.max(5, scaled(480)));
  add({
    name: "50 sites × 100 sensors at 1 Hz into one hub: hub CPU per 1,000 samples",
    unit: "ms",
    cityhall: live.cpuMsPer1k,
    lowerIsBetter: true,
  });
  add({
    name: "50 sites × 100 sensors: edge write → hub durable ack, p50",
    unit: "ms",
    cityhall: live.p50,
    lowerIsBetter: true,
    note: `p99 ${live.p99.toFixed(1)} ms`,
  });
  add({
    name: "bytes per sample on the wire, live (a frame per second per site)",
    unit: "B",
    cityhall: live.bytesPerSample,
    lowerIsBetter: true,
  });
  return rows;
}
