/**
 * CPU time per durable put of the engine's write path (issue 9's 256-writer row), measured in
 * process with `process.cpuUsage()`. On the shared 2-core machine the wall-clock rate of
 * `BENCH_SECTIONS=engine deno task bench` row 2 swings with the other processes' load; the CPU
 * time per put of two builds measured in the same minutes, interleaved, is what a change is
 * judged by.
 *
 *   deno run -A bench/write_cpu.ts                    # every row, this checkout
 *   deno run -A bench/write_cpu.ts writers memtable   # chosen rows
 *   BENCH_WRITE_CPU_BASE=/path/to/other/checkout deno run -A bench/write_cpu.ts
 *
 * With `BENCH_WRITE_CPU_BASE` every row runs on both checkouts in the same process, in
 * alternating rounds (`BENCH_WRITE_CPU_ROUNDS`, default 5), and prints the median of each.
 *
 *   deno run -A bench/write_cpu.ts --cpu-prof out.cpuprofile   # where a writers round spends
 *
 * `--cpu-prof` runs one warm-up round of the writers row, then writes a sampling CPU profile
 * (50 µs interval) of one more round of this checkout (open it in Chrome's DevTools).
 *
 * Rows: `writers` (row 2 of bench/engine.ts: 200,000 durable puts of sensor keys from 256
 * concurrent writers, sync "always"; CPU µs per put, puts/s, and puts per CPU second),
 * `memtable` (100,000 inserts of the same keys into a fresh memtable, and of random keys; ns
 * per insert, wall clock: no I/O).
 *
 * @module
 */

import process from "node:process";
import { withCpuProfile } from "./_cpu_profile.ts";

type DatabaseModule = typeof import("../src/mod.ts");
type MemtableModule = typeof import("../src/memtable/mod.ts");

interface Build {
  name: string;
  db: DatabaseModule;
  memtable: MemtableModule;
}

/** The key of put `i` in bench/engine.ts. */
function sensorKey(i: number, site = i % 8): string {
  const metric = ["temp", "hum", "pres", "vib"][i % 4];
  return `sensor.site${site}.${metric}.${String(1_700_000_000_000 + i * 1000)}`;
}

/** The value of put `i` in bench/engine.ts. */
function sensorValue(i: number): string {
  return (20 + Math.sin(i / 50) * 5).toFixed(2);
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function load(): string {
  return Deno.loadavg()[0]!.toFixed(1);
}

async function loadBuild(name: string, root: string): Promise<Build> {
  const base = root.endsWith("/") ? root : `${root}/`;
  const url = (path: string) =>
    base.startsWith("file:") ? new URL(path, base).href : `file://${base}${path}`;
  return {
    name,
    db: await import(url("src/mod.ts")),
    memtable: await import(url("src/memtable/mod.ts")),
  };
}

/** One round of the 256-writer row: CPU µs per put and puts/s. */
async function writersRound(build: Build, n: number): Promise<Record<string, number>> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-writecpu-" });
  try {
    const db = await build.db.Database.open(dir);
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next < n) {
        const i = next++;
        await db.put(sensorKey(i), sensorValue(i));
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - cpu0;
    await db.close();
    return {
      "cpu µs/put": cpu / n * 1e6,
      "puts/s": n / seconds,
      "puts/CPU s": n / cpu,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** One round of memtable inserts: ns per insert of sensor keys and of random keys. */
function memtableRound(build: Build, n: number): Record<string, number> {
  const enc = new TextEncoder();
  const value = enc.encode("21.33");
  const out: Record<string, number> = {};
  let state = 1;
  const sets: [string, Uint8Array[]][] = [
    ["sensor ns/insert", Array.from({ length: n }, (_, i) => enc.encode(sensorKey(i)))],
    [
      "random ns/insert",
      Array.from({ length: n }, () => {
        state = (state * 48271) % 2147483647;
        return enc.encode(`user:${state}`);
      }),
    ],
  ];
  for (const [name, keys] of sets) {
    const m = new build.memtable.Memtable();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      m.apply({ key: keys[i]!, seq: i + 1, kind: 1, expireAtMs: 0, value });
    }
    out[name] = (performance.now() - t0) / n * 1e6;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function format(v: number): string {
  return v >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2);
}

/** Writes a sampling CPU profile of one writers round (after one warm-up round) to `path`. */
async function profileWriters(build: Build, path: string): Promise<void> {
  await writersRound(build, 200_000);
  const got = await withCpuProfile(path, () => writersRound(build, 200_000));
  console.log(`profiled round: cpu µs/put ${format(got["cpu µs/put"]!)}; wrote ${path}`);
}

if (import.meta.main) {
  const builds = [await loadBuild("this", new URL("../", import.meta.url).href)];
  const profileAt = Deno.args.indexOf("--cpu-prof");
  if (profileAt >= 0) {
    await profileWriters(builds[0]!, Deno.args[profileAt + 1] ?? "write_cpu.cpuprofile");
    Deno.exit(0);
  }
  const rows = Deno.args.length > 0 ? Deno.args : ["writers", "memtable"];
  const baseRoot = Deno.env.get("BENCH_WRITE_CPU_BASE");
  if (baseRoot) builds.unshift(await loadBuild("base", baseRoot));
  const rounds = Number(Deno.env.get("BENCH_WRITE_CPU_ROUNDS") ?? (baseRoot ? 5 : 3));
  for (const row of rows) {
    const results = new Map<string, Record<string, number[]>>();
    for (let r = 0; r < rounds; r++) {
      // Alternate which build goes first: the second of a pair runs on a warmer heap.
      const order = r % 2 === 0 ? builds : [...builds].reverse();
      for (const build of order) {
        const got = row === "writers"
          ? await writersRound(build, 200_000)
          : row === "memtable"
          ? memtableRound(build, 100_000)
          : undefined;
        if (!got) throw new Error(`Unknown row: ${row} (rows: writers, memtable)`);
        const acc = results.get(build.name) ?? {};
        for (const [k, v] of Object.entries(got)) (acc[k] ??= []).push(v);
        results.set(build.name, acc);
      }
    }
    for (const [name, acc] of results) {
      const cells = Object.entries(acc).map(([k, xs]) => `${k} ${format(median(xs))}`);
      console.log(`${row} [${name}] median of ${rounds}: ${cells.join(", ")}; load ${load()}`);
    }
  }
}
