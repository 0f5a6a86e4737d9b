/**
 * The A/B behind the V8 flags of `deno task start` and `deno task compile` (ARCHITECTURE.md
 * § "Memory"): for each flag set, interleaved over `ROUNDS` rounds, one `cityhall serve` process
 * (started as bench/server.ts starts it, with `--v8-flags=SET`) is measured for
 * - its idle RSS 2 s after start, and its RSS 15 s after 1,000,000 SETs of 100-byte values over
 *   1,000,000 keys with `--memtable-mb 16 --cache-mb 16` (bench/server_memory.ts's `measure`),
 *   with the CPU time per SET of those SETs;
 * - its CPU time per command (utime + stime from /proc/PID/stat) under `redis-benchmark -c 50`
 *   for SET, LPUSH, HSET and LRANGE_100 (after a warm-up run of each);
 * - its CPU time per sample under TS.MADD from 50 clients (bench/ts_loadgen.ts);
 * and a second process, restarted on a copy of a data directory that holds 10,000 series
 * filled with an hour minus two minutes of 1 Hz samples (filled once, before the first round,
 * as bench/timeseries.ts's row 4 fills it), for its most RSS while a minute arrives in real
 * time (10,000 samples/s): row 4's figure.
 * CPU per operation, not throughput, is compared: the machine is shared.
 *
 * Run: `deno run -A bench/v8_flags.ts '--max-semi-space-size=1' '--memory-saver-mode,--max-semi-space-size=4' …`
 * (each argument one flag set, comma-separated as `--v8-flags=` takes them; "" for none).
 * ROUNDS (default 2), BENCH_SCALE scales the SET and sample counts (not the 10,000 series);
 * RB_N and MADD_N set the redis-benchmark requests and TS.MADD samples per measurement, SETS
 * the SETs (0: none).
 *
 * @module
 */

import { scaled } from "./harness.ts";
import { startCityHallProcess } from "./server.ts";
import { measure } from "./server_memory.ts";
import { runTsLoadProcess } from "./ts_loadgen.ts";

const CLIENTS = 50;
const SERIES = 10_000;
const HOUR_S = 3600;
const LIVE_S = 60;
const FILL_START_MS = 1_700_000_000_000;
const REDIS_BENCHMARK_TESTS = ["set", "lpush", "hset", "lrange_100"];

const mib = (bytes: number) => bytes / 1024 / 1024;
const dec = new TextDecoder();

/** CPU time (user + system) of process `pid`, in milliseconds (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** VmRSS of process `pid`, in bytes. */
function rssOf(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(text)?.[1] ?? NaN) * 1024;
}

/** One `redis-benchmark` run of `test` with `n` requests from 50 clients. */
async function redisBenchmark(port: number, test: string, n: number): Promise<void> {
  const out = await new Deno.Command("redis-benchmark", {
    args: ["-p", String(port), "-t", test, "-n", String(n), "-c", String(CLIENTS), "-q"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`redis-benchmark ${test}: ${dec.decode(out.stderr)}`);
}

/** What one flag set measured in one round. */
interface Result {
  idleMiB: number;
  afterSetsMiB: number;
  peakSetsMiB: number;
  setUs: number;
  /** CPU µs per command, by redis-benchmark test. */
  commandUs: Record<string, number>;
  maddUsPerSample: number;
  tsMostMiB: number;
}

/** Fills `dir` with the 10,000 series, as row 4 of bench/timeseries.ts does before its restart. */
async function fillSeries(dir: string): Promise<void> {
  const proc = await startCityHallProcess({ dataDir: dir });
  if (typeof proc === "string") throw new Error(proc);
  try {
    await runTsLoadProcess({
      port: proc.port,
      command: "madd",
      connections: CLIENTS,
      samples: SERIES * (HOUR_S - 2 * LIVE_S),
      batch: 1000,
      series: SERIES / CLIENTS,
      startMs: FILL_START_MS,
      stepMs: 1000,
    }, 3_600_000);
  } finally {
    await proc.close();
  }
}

/** Most RSS of a server restarted with `v8Flags` on a copy of `filled` while a minute arrives. */
async function seriesLiveRss(filled: string, v8Flags: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-v8-ts-" });
  try {
    const cp = await new Deno.Command("cp", { args: ["-a", `${filled}/.`, dir] }).output();
    if (!cp.success) throw new Error(`cp: ${dec.decode(cp.stderr)}`);
    const proc = await startCityHallProcess({ dataDir: dir, v8Flags });
    if (typeof proc === "string") throw new Error(proc);
    let most = 0;
    const sampler = setInterval(() => most = Math.max(most, rssOf(proc.pid)), 1000);
    try {
      await runTsLoadProcess({
        port: proc.port,
        command: "madd",
        connections: CLIENTS,
        samples: SERIES * LIVE_S,
        batch: SERIES / CLIENTS,
        series: SERIES / CLIENTS,
        startMs: FILL_START_MS + (HOUR_S - 2 * LIVE_S) * 1000,
        stepMs: 1000,
        intervalMs: 1000,
      }, 600_000);
      most = Math.max(most, rssOf(proc.pid));
    } finally {
      clearInterval(sampler);
      await proc.close();
    }
    return most;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The idle RSS 2 s after start, for runs without the SETs. */
async function idleOnly(pid: number): Promise<{ idle: number; after: number; peak: number }> {
  await new Promise((r) => setTimeout(r, 2_000));
  return { idle: rssOf(pid), after: NaN, peak: NaN };
}

/** Every figure but row 4's, for one flag set. */
async function measureServer(v8Flags: string): Promise<Omit<Result, "tsMostMiB">> {
  const proc = await startCityHallProcess({
    v8Flags,
    args: ["--memtable-mb", "16", "--cache-mb", "16"],
  });
  if (typeof proc === "string") throw new Error(proc);
  try {
    // SETS=0 skips the SETs (and their RSS): only the idle RSS is read then.
    const sets = Number(Deno.env.get("SETS") ?? scaled(1_000_000));
    const c0 = cpuMs(proc.pid);
    const m = sets > 0 ? await measure(proc.pid, proc.port, sets) : await idleOnly(proc.pid);
    // measure() idles 2 s first and settles 15 s after: both are next to no CPU.
    const setUs = (cpuMs(proc.pid) - c0) * 1000 / sets;
    const commandUs: Record<string, number> = {};
    const n = Number(Deno.env.get("RB_N") ?? scaled(100_000));
    for (const test of REDIS_BENCHMARK_TESTS) {
      await redisBenchmark(proc.port, test, n / 5);
      const t0 = cpuMs(proc.pid);
      await redisBenchmark(proc.port, test, n);
      commandUs[test] = (cpuMs(proc.pid) - t0) * 1000 / n;
    }
    const madd = {
      port: proc.port,
      command: "madd" as const,
      connections: CLIENTS,
      batch: 500,
      series: 20,
      stepMs: 1000,
    };
    const samples = Number(Deno.env.get("MADD_N") ?? scaled(1_000_000));
    await runTsLoadProcess({ ...madd, samples: samples / 5, startMs: 1.6e12 });
    const m0 = cpuMs(proc.pid);
    const r = await runTsLoadProcess({ ...madd, samples, startMs: 1.7e12 });
    return {
      idleMiB: mib(m.idle),
      afterSetsMiB: mib(m.after),
      peakSetsMiB: mib(m.peak),
      setUs,
      commandUs,
      maddUsPerSample: (cpuMs(proc.pid) - m0) * 1000 / r.samples,
    };
  } finally {
    await proc.close();
  }
}

function line(flags: string, r: Result): string {
  const cmds = REDIS_BENCHMARK_TESTS.map((t) => `${t} ${r.commandUs[t]!.toFixed(1)}`).join(" ");
  return `[${flags || "none"}] idle ${r.idleMiB.toFixed(1)} MiB | 1M SETs: after ${
    r.afterSetsMiB.toFixed(0)
  } peak ${r.peakSetsMiB.toFixed(0)} MiB, ${r.setUs.toFixed(1)} µs/SET | rb µs/cmd: ${cmds} | ` +
    `madd ${r.maddUsPerSample.toFixed(2)} µs/sample | ts 10k most ${r.tsMostMiB.toFixed(0)} MiB`;
}

if (import.meta.main) {
  const sets = Deno.args.length > 0 ? Deno.args : ["--max-semi-space-size=1"];
  const rounds = Number(Deno.env.get("ROUNDS") ?? 2);
  // ONLY=server or ONLY=ts runs half the measurements (the two halves can run side by side:
  // RSS does not depend on the machine's load, and CPU per operation little).
  const only = Deno.env.get("ONLY");
  // FILLED=DIR reuses a data directory filled by an earlier run (kept, not removed).
  const given = Deno.env.get("FILLED");
  const filled = given ?? await Deno.makeTempDir({ prefix: "cityhall-bench-v8-fill-" });
  try {
    if (only !== "server" && given === undefined) {
      const t0 = performance.now();
      await fillSeries(filled);
      console.log(`filled ${SERIES} series in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    for (let round = 0; round < rounds; round++) {
      for (const flags of sets) {
        const r = only === "ts" ? undefined : await measureServer(flags);
        const tsMostMiB = only === "server" ? NaN : mib(await seriesLiveRss(filled, flags));
        console.log(
          r === undefined
            ? `round ${round + 1} [${flags || "none"}] ts 10k most ${tsMostMiB.toFixed(0)} MiB`
            : `round ${round + 1} ${line(flags, { ...r, tsMostMiB })}`,
        );
      }
    }
  } finally {
    if (given === undefined) await Deno.remove(filled, { recursive: true }).catch(() => {});
  }
}
