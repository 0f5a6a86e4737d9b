/**
 * CPU time per scanned key of `Database.scan` (issue 9's prefix-scan row, row 6 of
 * bench/engine.ts), measured in process with `process.cpuUsage()`. On the shared 2-core machine
 * the wall-clock rate of `BENCH_SECTIONS=engine deno task bench` row 6 swings with the other
 * processes' load; the CPU time per key of two builds measured in the same minutes,
 * interleaved, is what a change is judged by.
 *
 *   deno run -A bench/scan_cpu.ts
 *   BENCH_SCAN_CPU_BASE=/path/to/other/checkout deno run -A bench/scan_cpu.ts
 *
 * The dataset is row 6's: 400,000 sensor keys with 60-byte values written in batches of 1,000
 * into a 4 MiB memtable (bloom 10, 64 MiB block cache, no fsync), flushed; then each round is
 * 300 scans `for await (const _ of db.scan({ prefix }, { limit: 1000 }))` over the 8 site
 * prefixes (and the same in reverse). With `BENCH_SCAN_CPU_BASE` both checkouts hold their own
 * copy and run in alternating rounds (`BENCH_SCAN_CPU_ROUNDS`, default 7); each line is the
 * median over rounds, and the best round's CPU time per key (the least disturbed by others).
 * `BENCH_SCAN_CPU_REVERSE=0` skips the reverse scans.
 *
 * @module
 */

import process from "node:process";

type DatabaseModule = typeof import("../src/mod.ts");
type Db = Awaited<ReturnType<DatabaseModule["Database"]["open"]>>;

interface Build {
  name: string;
  module: DatabaseModule;
  db?: Db;
  dir?: string;
}

/** The key of put `i` in bench/engine.ts. */
function sensorKey(i: number, site = i % 8): string {
  const metric = ["temp", "hum", "pres", "vib"][i % 4];
  return `sensor.site${site}.${metric}.${String(1_700_000_000_000 + i * 1000)}`;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function loadBuild(name: string, root: string): Promise<Build> {
  const base = root.endsWith("/") ? root : `${root}/`;
  const url = base.startsWith("file:")
    ? new URL("src/mod.ts", base).href
    : `file://${base}src/mod.ts`;
  return { name, module: await import(url) };
}

/** Row 6's dataset (bench/engine.ts rows 4–6), in a fresh directory. */
async function build(b: Build, n: number): Promise<void> {
  b.dir = await Deno.makeTempDir({ prefix: `cityhall-bench-scancpu-${b.name}-` });
  const db = await b.module.Database.open(b.dir, {
    memtableSizeBytesMax: 4 * 1024 * 1024,
    bloomBitsPerKey: 10,
    syncMode: "none",
    blockCacheSizeBytes: 64 * 1024 * 1024,
  });
  const value = "v".repeat(60);
  for (let s = 0; s < n; s += 1000) {
    await db.write(Array.from({ length: Math.min(1000, n - s) }, (_, j) => ({
      type: "put" as const,
      key: sensorKey(s + j),
      value,
    })));
  }
  await db.flush();
  await db.idle();
  b.db = db;
}

/** One round: `scans` prefix scans of up to 1,000 keys; CPU ns per key and keys/s. */
async function round(db: Db, scans: number, reverse: boolean): Promise<Record<string, number>> {
  let keys = 0;
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  for (let s = 0; s < scans; s++) {
    const prefix = `sensor.site${s % 8}.`;
    let c = 0;
    for await (const _ of db.scan({ prefix }, { limit: 1000, reverse })) c++;
    keys += c;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  if (keys !== scans * 1000) throw new Error(`Scanned ${keys} keys, expected ${scans * 1000}`);
  return { "cpu ns/key": cpu / keys * 1e9, "keys/s": keys / seconds, "keys/CPU s": keys / cpu };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function format(v: number): string {
  return v >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1);
}

if (import.meta.main) {
  const builds = [await loadBuild("this", new URL("../", import.meta.url).href)];
  const baseRoot = Deno.env.get("BENCH_SCAN_CPU_BASE");
  if (baseRoot) builds.unshift(await loadBuild("base", baseRoot));
  const rounds = Number(Deno.env.get("BENCH_SCAN_CPU_ROUNDS") ?? 7);
  for (const b of builds) await build(b, 400_000);
  try {
    const directions = Deno.env.get("BENCH_SCAN_CPU_REVERSE") === "0" ? [false] : [false, true];
    for (const reverse of directions) {
      const results = new Map<string, Record<string, number[]>>();
      // A warm-up round each: the block cache and the JIT.
      for (const b of builds) await round(b.db!, 300, reverse);
      for (let r = 0; r < rounds; r++) {
        // Alternate which build goes first: the second of a pair runs on a warmer heap.
        const order = r % 2 === 0 ? builds : [...builds].reverse();
        for (const b of order) {
          const got = await round(b.db!, 300, reverse);
          const acc = results.get(b.name) ?? {};
          for (const [k, v] of Object.entries(got)) (acc[k] ??= []).push(v);
          results.set(b.name, acc);
        }
      }
      for (const [name, acc] of results) {
        const cells = Object.entries(acc).map(([k, xs]) => `${k} ${format(median(xs))}`);
        const ns = acc["cpu ns/key"]!;
        cells.push(`best cpu ns/key ${format(Math.min(...ns))}`);
        console.log(
          `${reverse ? "reverse" : "forward"} [${name}] median of ${rounds}: ${
            cells.join(", ")
          }; load ${Deno.loadavg()[0]!.toFixed(1)}`,
        );
      }
    }
  } finally {
    for (const b of builds) {
      await b.db?.close();
      if (b.dir) await Deno.remove(b.dir, { recursive: true });
    }
  }
}
