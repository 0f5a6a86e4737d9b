/**
 * CPU time of TS.MRANGE … GROUPBY site REDUCE avg (issue 10's 100 series × 1 h row), measured
 * where it is spent, so that two builds can be compared on a machine whose load swings
 * wall-clock latencies (bench/ts_cpu.ts has the write-path rows):
 *
 * - `store`: `TimeSeriesStore.mrange` in this process (label filter, range reads, merge,
 *   reducer), CPU ms per query from `process.cpuUsage()`;
 * - `resp`: the whole command against a `cityhall serve` child process over RESP, CPU ms per
 *   query of the server process (`/proc/<pid>/stat` utime + stime), so the client's parsing of
 *   the multi-megabyte reply is not counted; wall-clock p50 beside it.
 *
 * The data: the seeded sensor generator's 100 series (labels `kind`, `site` as in
 * bench/timeseries.ts) over `BENCH_TS_QUERY_HOURS` hours (default 6) at 1 Hz, checkpointed
 * and flushed as that benchmark leaves them.
 *
 *   deno run -A --unstable-kv bench/ts_query_cpu.ts
 *   BENCH_TS_QUERY=store deno run -A --unstable-kv --cpu-prof bench/ts_query_cpu.ts
 *
 * @module
 */

import process from "node:process";
import { Database } from "../src/mod.ts";
import { parseFilters, TimeSeriesStore } from "../src/timeseries/mod.ts";
import { generateSensors } from "../tests/_helpers/sensors.ts";
import { percentile, RawClient, timeOrdered } from "./_ts_tools.ts";
import { startCityHallProcess } from "./server.ts";
import { startServer } from "../src/server/mod.ts";
import { RespWriter } from "../src/server/resp_writer.ts";
import { writeSamples } from "../src/server/commands/_ts_reply.ts";

const enc = new TextEncoder();
const SEED = 20240601;
const QUERIES = 30;

/** CPU milliseconds of this process so far. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU milliseconds of process `pid` so far (utime + stime, clock ticks of 10 ms). */
function procCpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function load(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

/** Writes the 100 series into `dir` and returns the query's `from` (last hour). */
async function prepare(dir: string, seconds: number): Promise<number> {
  const series = generateSensors(SEED, 100, seconds);
  const keys = series.map((s) => enc.encode(s.name));
  const db = await Database.open(dir, { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    for (let i = 0; i < series.length; i++) {
      await store.create(keys[i]!, {
        labels: [["kind", series[i]!.kind], ["site", `site${i % 5}`]],
      }).durable;
    }
    for (const batch of timeOrdered(series, keys, 60_000)) await store.madd(batch).durable;
    await store.persistAll();
    await db.flush();
  } finally {
    await store.close();
    await db.close();
  }
  return Math.max(...series.map((s) => s.ts.at(-1)!)) - 3_600_000;
}

const FILTER = "kind=(wander,counter,onoff,noisy)";

/** A server on `dir`: a child process, or (`inproc`, for --cpu-prof) one in this process. */
async function serverFor(
  dir: string,
  inproc: boolean,
): Promise<{ port: number; cpuMs(): number; close(): Promise<void> }> {
  if (!inproc) {
    const proc = await startCityHallProcess({ dataDir: dir });
    if (typeof proc === "string") throw new Error(proc);
    return { port: proc.port, cpuMs: () => procCpuMs(proc.pid), close: () => proc.close() };
  }
  const db = await Database.open(dir, { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const server = await startServer(db, { port: 0, timeseries: store });
  return {
    port: server.addr.port,
    cpuMs, // the client's share included
    close: async () => {
      await server.close();
      await store.close();
      await db.close();
    },
  };
}

async function main(): Promise<void> {
  const parts = (Deno.env.get("BENCH_TS_QUERY") ?? "store,resp").split(",");
  const hours = Number(Deno.env.get("BENCH_TS_QUERY_HOURS") ?? "6");
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-tsquery-" });
  try {
    const from = await prepare(dir, hours * 3600);
    if (parts.includes("store")) {
      const db = await Database.open(dir, { syncMode: "none" });
      const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
      const filters = parseFilters([FILTER]);
      const args = { from, to: Number.MAX_SAFE_INTEGER };
      const group = { label: "site", reducer: "avg" as const };
      let points = 0;
      for (let i = 0; i < 5; i++) store.mrange(filters, args, group); // warm-up
      const c0 = cpuMs();
      for (let i = 0; i < QUERIES; i++) {
        points = store.mrange(filters, args, group).reduce((n, r) => n + r.points.ts.length, 0);
      }
      const per = (cpuMs() - c0) / QUERIES;
      // The same plus the reply's encoding (no socket).
      const c1 = cpuMs();
      for (let i = 0; i < QUERIES; i++) {
        const out = new RespWriter();
        // As the RESP front end asks: results in reused buffers, encoded before the next query.
        const results = store.mrange(filters, args, group, { scratch: true });
        out.array(results.length);
        for (const r of results) {
          writeSamples(out, r.points.ts, r.points.values, r.points.ts.length);
        }
        out.take();
      }
      const encoded = (cpuMs() - c1) / QUERIES;
      console.log(
        `store: ${per.toFixed(2)} ms CPU per TS.MRANGE GROUPBY, ${
          encoded.toFixed(2)
        } with the reply encoded (${points} points; load ${load()})`,
      );
      await store.close();
      await db.close();
    }
    if (parts.includes("resp")) {
      const proc = await serverFor(dir, parts.includes("inproc"));
      const client = await RawClient.connect(proc.port);
      try {
        const command = [
          "TS.MRANGE",
          String(from),
          "+",
          "FILTER",
          FILTER,
          "GROUPBY",
          "site",
          "REDUCE",
          "avg",
        ];
        for (let i = 0; i < 5; i++) await client.command(command); // warm-up
        const wall: number[] = [];
        let bytes = 0;
        const c0 = proc.cpuMs();
        for (let i = 0; i < QUERIES; i++) {
          const t0 = performance.now();
          bytes = (await client.command(command)).bytes;
          wall.push(performance.now() - t0);
        }
        const per = (proc.cpuMs() - c0) / QUERIES;
        wall.sort((a, b) => a - b);
        console.log(
          `resp: ${per.toFixed(1)} ms server CPU per query, wall p50 ${
            percentile(wall, 0.5).toFixed(1)
          } ms (${(bytes / 1e6).toFixed(1)} MB reply; load ${load()})`,
        );
      } finally {
        client.close();
        await proc.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
