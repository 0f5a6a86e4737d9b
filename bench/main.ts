/**
 * `deno task bench`: runs every benchmark section, prints a Markdown table and writes
 * bench/results/latest.json.
 * BENCH_SECTIONS=engine,amplification,server,replication,ingest,promql,console,agent,timeseries,fleet
 * selects
 * sections; BENCH_SCALE scales the sizes (e.g. 0.1 for a quick look).
 */

import { engineBench } from "./engine.ts";
import { amplificationBench } from "./amplification.ts";
import { serverBench } from "./server.ts";
import { replicationBench } from "./replication.ts";
import { ingestBench } from "./ingest.ts";
import { promqlBench } from "./promql.ts";
import { ingestStoreBench, promqlStoreBench } from "./ingest_store.ts";
import { agentBench, consoleBench } from "./console.ts";
import { timeseriesBench } from "./timeseries.ts";
import { fleetBench } from "./fleet.ts";
import { formatRow, ratio, type Row, TABLE_HEADER } from "./harness.ts";

const sections = (Deno.env.get("BENCH_SECTIONS") ??
  "engine,amplification,server,replication,ingest,promql,console,agent,timeseries,fleet").split(
    ",",
  );
const rows: Row[] = [];
const started = new Date();

console.log(
  `CityHall benchmarks, ${started.toISOString()}, Deno ${Deno.version.deno}, ${Deno.build.target}, ` +
    `load avg ${
      Deno.loadavg().map((l) => l.toFixed(1)).join(" ")
    } on ${navigator.hardwareConcurrency} CPUs`,
);
console.log(TABLE_HEADER);
const print = (row: Row) => console.log(formatRow(row));

if (sections.includes("engine")) rows.push(...await engineBench(print));
if (sections.includes("amplification")) rows.push(...await amplificationBench(print));
if (sections.includes("server")) rows.push(...await serverBench(print));
if (sections.includes("replication")) rows.push(...await replicationBench(print));
if (sections.includes("ingest")) rows.push(...await ingestBench(print));
if (sections.includes("ingest")) rows.push(...await ingestStoreBench(print));
if (sections.includes("promql")) rows.push(...promqlBench(print));
if (sections.includes("promql")) rows.push(...await promqlStoreBench(print));
if (sections.includes("console")) rows.push(...await consoleBench(print));
if (sections.includes("agent")) rows.push(...await agentBench(print));
if (sections.includes("timeseries")) rows.push(...await timeseriesBench(print));
if (sections.includes("fleet")) rows.push(...await fleetBench(print));

const out = {
  started: started.toISOString(),
  deno: Deno.version.deno,
  target: Deno.build.target,
  scale: Number(Deno.env.get("BENCH_SCALE") ?? "1"),
  rows: rows.map((r) => ({ ...r, ratio: ratio(r) })),
};
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/latest.json", import.meta.url),
  JSON.stringify(out, null, 2) + "\n",
);
console.log("wrote bench/results/latest.json");
