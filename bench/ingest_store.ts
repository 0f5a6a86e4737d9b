/**
 * Issue 11's targets over the real time-series store (rows in sections `ingest` and `promql`):
 *
 * - gzip'ed 5,000-line Telegraf batches gunzipped, parsed and **durably stored** (`--sync
 *   always`: each batch's reply would wait for its fdatasync), in samples per second, in-process
 *   and through `POST /write` of a real HTTP server (4 concurrent Telegraf-like clients);
 * - `sum by (site) (rate(x[5m]))` over 500 counters × 6 h at step 60 s, from the store
 *   (`StoreSource`) instead of the in-memory source.
 */

import { gunzipSync, gzipSync } from "node:zlib";
import process from "node:process";
import { Database } from "../src/mod.ts";
import { TimeSeriesStore } from "../src/timeseries/mod.ts";
import { startHttpServer } from "../src/http/mod.ts";
import { parseInflux } from "../src/ingest/influx.ts";
import { ingestSamples } from "../src/ingest/store_writer.ts";
import { rangeQuery } from "../src/promql/mod.ts";
import { StoreSource } from "../src/promql/store_source.ts";
import { silentLogger } from "../src/util/log.ts";
import { type Row, scaled } from "./harness.ts";
import { counterSeries, HOURS, T0 } from "./promql.ts";
import { compareWithPrometheus } from "./promql_peer.ts";
import { telegrafBatch } from "./ingest.ts";

function perCpu(samples: number, cpu: { user: number; system: number }): string {
  const rate = samples / ((cpu.user + cpu.system) / 1e6);
  return `${Math.round(rate).toLocaleString("en-US")}/s per CPU second`;
}

/** Gzip'ed batches with distinct timestamps (batch b is 10 s × b later). */
function batches(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, b) => new Uint8Array(gzipSync(telegrafBatch(b))));
}

/** Rows: parsed and durably stored, in-process and over HTTP. */
export async function ingestStoreBench(print: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const count = scaled(40);
  const bodies = batches(count);
  {
    const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-ingest-" });
    const db = await Database.open(dir, { syncMode: "always" });
    const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    try {
      // Warm-up on a separate batch range (later timestamps would be appends too).
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let samples = 0;
      const pending: Promise<void>[] = [];
      for (const body of bodies) {
        const batch = parseInflux(new TextDecoder().decode(gunzipSync(body)), "ns", 0);
        const r = ingestSamples(store, {
          samples: batch.samples,
          seriesOf: (i) => batch.series[i]!,
          ids: { of: batch.seriesIds, targets: batch.distinct },
          timestamps: batch.timestamps,
          values: batch.values,
        });
        samples += r.written;
        // Like 4 Telegraf agents: up to 4 batches wait for their fsync at once.
        pending.push(r.durable);
        if (pending.length >= 4) await pending.shift();
      }
      await Promise.all(pending);
      const wall = (performance.now() - t0) / 1000;
      const row: Row = {
        name: "Influx gzip'ed 5,000-line batches parsed and durably stored (in-process)",
        unit: "samples/s",
        cityhall: samples / wall,
        note: `${count} batches, ${samples} samples, sync always; ${
          perCpu(samples, process.cpuUsage(cpu0))
        }; target >= 1,000,000`,
      };
      rows.push(row);
      print(row);
    } finally {
      await store.close();
      await db.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
  {
    const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-ingest-http-" });
    const db = await Database.open(dir, { syncMode: "always" });
    const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    const server = await startHttpServer(db, {
      hostname: "127.0.0.1",
      port: 0,
      logger: silentLogger,
      timeseries: store,
    });
    try {
      const perBatch = parseInflux(telegrafBatch(0), "ns", 0).samples;
      let next = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const client = async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const r = await fetch(`${server.url}/write?db=telegraf`, {
            method: "POST",
            headers: { "Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8" },
            body: body as Uint8Array<ArrayBuffer>,
          });
          await r.body?.cancel();
          if (r.status !== 204) throw new Error(`POST /write answered ${r.status}`);
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      const wall = (performance.now() - t0) / 1000;
      const samples = perBatch * bodies.length;
      const row: Row = {
        name: "Influx POST /write, gzip'ed 5,000-line batches, 4 clients, durably stored",
        unit: "samples/s",
        cityhall: samples / wall,
        note: `${count} batches; clients in the same process (their CPU counted too): ${
          perCpu(samples, process.cpuUsage(cpu0))
        }; target >= 1,000,000`,
      };
      rows.push(row);
      print(row);
    } finally {
      await server.shutdown();
      await store.close();
      await db.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
  return rows;
}

/** Row: the PromQL latency target over the real store. */
export async function promqlStoreBench(print: (row: Row) => void): Promise<Row[]> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-promql-" });
  const db = await Database.open(dir, { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    // The same data as the in-memory row (bench/promql.ts), written through ingest.
    const series = counterSeries(500);
    for (const c of series) {
      const { __name__: name, ...rest } = c.labels;
      const labels = Object.entries(rest).sort(([a], [b]) => a < b ? -1 : 1);
      const target = {
        key: `${name}{${labels.map(([k, v]) => `${k}="${v}"`).join(",")}}`,
        name: name!,
        labels,
      };
      await ingestSamples(store, {
        samples: c.ts.length,
        seriesOf: () => target,
        timestamps: c.ts,
        values: c.vs,
      }).durable;
    }
    await store.persistAll();
    const src = new StoreSource(store);
    const q = "sum by (site) (rate(x[5m]))";
    const end = T0 + HOURS * 3_600_000;
    const runs = scaled(20);
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < runs + 3; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      rangeQuery(src, q, T0, end, 60_000);
      const t = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i >= 3) {
        wall.push(t);
        cpu.push((c.user + c.system) / 1000);
      }
    }
    wall.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const row: Row = {
      name: `PromQL range ${q}, 500 series x 6 h, step 60 s, from the store`,
      unit: "ms",
      cityhall: wall[Math.floor(wall.length / 2)]!,
      lowerIsBetter: true,
      note: `p50 of ${runs}; p90 ${
        wall[Math.min(wall.length - 1, Math.floor(wall.length * 0.9))]!.toFixed(1)
      } ms; CPU p50 ${
        cpu[Math.floor(cpu.length / 2)]!.toFixed(1)
      } ms; sealed chunks decoded through the chunk cache; target <= 100 ms`,
    };
    print(row);
    return [row, ...await compareWithPrometheus(db, store, series, print)];
  } finally {
    await store.close();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}
