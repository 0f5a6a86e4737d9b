/**
 * Ingest benchmarks (section `ingest`): Influx line protocol parsing of Telegraf-sized batches
 * (5,000 lines, plain and gzip'ed) and Prometheus remote-write decoding (Snappy + protobuf),
 * each in samples per second. Parsing only: storing is the time-series store's row.
 */

import { parseInflux } from "../src/ingest/influx.ts";
import {
  decodeRemoteWrite,
  encodeRemoteWrite,
  type SeriesToWrite,
} from "../src/ingest/remote_write.ts";
import process from "node:process";
import { type Row, scaled } from "./harness.ts";

const LINES_PER_BATCH = 5_000;
const T_NS = 1_700_000_000_000_000_000n;

/** A Telegraf-like batch: cpu, mem, disk, net, system lines from 25 hosts, 10 s apart. */
export function telegrafBatch(batch: number): string {
  const lines: string[] = [];
  let i = 0;
  while (lines.length < LINES_PER_BATCH) {
    const host = `edge-${String(i % 25).padStart(2, "0")}`;
    const ts = (T_NS + BigInt(batch * 1000 + Math.floor(i / 25)) * 10_000_000_000n).toString();
    const r = (k: number) => ((i * 7919 + k * 104729) % 10000) / 100;
    switch (i % 5) {
      case 0:
        lines.push(
          `cpu,cpu=cpu-total,host=${host},site=plant-${i % 3} usage_user=${r(1)},usage_system=${
            r(2)
          },usage_idle=${r(3)},usage_iowait=${r(4)},usage_irq=0,usage_softirq=${
            r(5)
          },usage_steal=0,usage_guest=0,usage_guest_nice=0,usage_nice=${r(6)} ${ts}`,
        );
        break;
      case 1:
        lines.push(
          `mem,host=${host},site=plant-${i % 3} active=${1000000 + i}i,available=${
            2000000 + i
          }i,available_percent=${r(7)},buffered=${i * 3}i,cached=${i * 5}i,free=${
            i * 11
          }i,total=8254341120i,used=${i * 13}i,used_percent=${r(8)} ${ts}`,
        );
        break;
      case 2:
        lines.push(
          `disk,device=sda1,fstype=ext4,host=${host},mode=rw,path=/,site=plant-${i % 3} free=${
            5000000000 + i
          }i,inodes_free=${
            300000 + i
          }i,inodes_total=1921360i,inodes_used=${i}i,total=31440191488i,used=${
            1000000 + i
          }i,used_percent=${r(9)} ${ts}`,
        );
        break;
      case 3:
        lines.push(
          `net,host=${host},interface=eth0,site=plant-${i % 3} bytes_recv=${i * 1500}i,bytes_sent=${
            i * 900
          }i,drop_in=0i,drop_out=0i,err_in=0i,err_out=0i,packets_recv=${i * 3}i,packets_sent=${
            i * 2
          }i ${ts}`,
        );
        break;
      default:
        lines.push(
          `system,host=${host},site=plant-${i % 3} load1=${r(10)},load15=${r(11)},load5=${
            r(12)
          },n_cpus=4i,n_users=1i,uptime=${100000 + i}i,uptime_format="1 day, 3:46" ${ts}`,
        );
    }
    i++;
  }
  return lines.join("\n") + "\n";
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return await new Response(stream).text();
}

/** A remote-write request like Prometheus sends: 2,000 samples, 8 labels per series. */
export function remoteWriteBody(batch: number): Uint8Array {
  const series: SeriesToWrite[] = [];
  for (let s = 0; s < 500; s++) {
    const labels: [string, string][] = [
      [
        "__name__",
        ["node_cpu_seconds_total", "node_memory_Active_bytes", "http_requests_total"][s % 3]!,
      ],
      ["instance", `edge-${s % 25}:9100`],
      ["job", "node"],
      ["site", `plant-${s % 3}`],
      ["cpu", String(s % 4)],
      ["mode", ["user", "system", "idle", "iowait"][s % 4]!],
      ["region", "eu-west"],
      ["env", "prod"],
    ];
    const timestamps = [0, 1, 2, 3].map((k) => 1_700_000_000_000 + (batch * 4 + k) * 15_000);
    const values = Float64Array.from(timestamps, (t, k) => (t / 1000) * 0.37 + s + k / 7);
    series.push({ labels, timestamps, values });
  }
  return encodeRemoteWrite(series);
}

/**
 * Runs `fn` and returns [samples per wall second, samples per CPU second]. CPU time counts
 * only this process's work, so it stays meaningful on a machine shared with other jobs.
 */
async function measure(fn: () => Promise<number> | number): Promise<[number, number]> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const samples = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return [samples / wall, samples / ((cpu.user + cpu.system) / 1e6)];
}

function perCpu(rate: number): string {
  return `${Math.round(rate).toLocaleString("en-US")}/s per CPU second`;
}

/** Runs the ingest rows. */
export async function ingestBench(print: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    print(row);
  };
  const batches = scaled(40);
  const texts = Array.from({ length: Math.min(batches, 8) }, (_, b) => telegrafBatch(b));
  // Warm up the parser so the JIT has compiled it.
  for (const t of texts) parseInflux(t, "ns", 0);
  const [parseRate, parseCpu] = await measure(() => {
    let samples = 0;
    for (let b = 0; b < batches; b++) {
      samples += parseInflux(texts[b % texts.length]!, "ns", 0).samples;
    }
    return samples;
  });
  const perBatch = parseInflux(texts[0]!, "ns", 0).samples;
  add({
    name: "Influx line protocol parse (5,000-line Telegraf batches)",
    unit: "samples/s",
    cityhall: parseRate,
    note: `${batches} batches of ${perBatch} samples; ${perCpu(parseCpu)}; target >= 1,000,000`,
  });
  const gz = await Promise.all(texts.map(gzip));
  const [gzRate, gzCpu] = await measure(async () => {
    let samples = 0;
    for (let b = 0; b < batches; b++) {
      samples += parseInflux(await gunzip(gz[b % gz.length]!), "ns", 0).samples;
    }
    return samples;
  });
  add({
    name: "Influx line protocol gunzip + parse (5,000-line batches)",
    unit: "samples/s",
    cityhall: gzRate,
    note: `gzip body ${Math.round(gz[0]!.length / 1024)} KiB per batch; ${perCpu(gzCpu)}`,
  });
  const bodies = Array.from({ length: 8 }, (_, b) => remoteWriteBody(b));
  for (const body of bodies) decodeRemoteWrite(body);
  const requests = scaled(200);
  const [rwRate, rwCpu] = await measure(() => {
    let samples = 0;
    for (let r = 0; r < requests; r++) {
      samples += decodeRemoteWrite(bodies[r % bodies.length]!).samples;
    }
    return samples;
  });
  add({
    name: "Remote write decode (Snappy + protobuf, 2,000-sample requests)",
    unit: "samples/s",
    cityhall: rwRate,
    note: `${requests} requests of ${Math.round(bodies[0]!.length / 1024)} KiB; ${perCpu(rwCpu)}`,
  });
  return rows;
}
