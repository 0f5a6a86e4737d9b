/**
 * The store-level cost of creating a series as the RESP handler's TS.ADD does it (`addNewest`
 * finds the key holding nothing, then `add` with `found: null` creates the series and writes its
 * first sample), beside a SET's engine work (`getEntry`, then one put), over a real database
 * with no timers (`syncMode: "none"`, maintenance off): what `valgrind --tool=cachegrind` can
 * count without wall-clock-driven work (the server's timers fire ~50× as often per command
 * under valgrind). `--heap-prof` writes the sampling heap profile of the measured creations.
 *
 *   valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
 *     deno run -A --v8-flags=--single-threaded,--memory-saver-mode,--max-semi-space-size=4 \
 *     bench/ts_create_cpu.ts [--n 10000] [--set] [--heap-prof <file.heapprofile>]
 *
 * Run it at two `--n` and divide the difference of the instruction counts by the difference
 * of `--n`: instructions per creation (or per SET), start-up and the 20,000 creations made first
 * (a populated memtable, warm code) cancelled out.
 *
 * @module
 */

import { Database } from "../src/mod.ts";
import { TimeSeriesStore } from "../src/timeseries/mod.ts";
import type { WriteOp } from "../src/engine/mod.ts";
import { withHeapProfile } from "./_cpu_profile.ts";

const WARM = 20_000;

async function main(): Promise<void> {
  const flag = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const n = Number(flag("n") ?? 10_000);
  const set = Deno.args.includes("--set");
  const heapProfile = flag("heap-prof");
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-tscreate-" });
  const db = await Database.open(dir, { syncMode: "none" });
  const ts = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const enc = new TextEncoder();
  // Keys in no particular order (as redis-benchmark's __rand_int__): each a cache-missing search.
  const keys = Array.from(
    { length: WARM + n },
    (_, i) => enc.encode(`ts:${(i * 7919) % 1_000_003}`),
  );
  const value16 = enc.encode("0123456789abcdef");
  const sink = { write: (ops: WriteOp[]) => void db.write(ops) };
  const write = (ops: WriteOp[]) => void db.write(ops);
  const one = (key: Uint8Array) => {
    if (set) {
      db.getEntry(key);
      db.write([{ type: "put", key, value: value16 }]);
      return;
    }
    if (ts.addNewest(key, 1000, 42.5, sink, "last") !== -2) throw new Error("key exists");
    ts.add({ key, ts: 1000, value: 42.5 }, { found: null, create: {} }, write);
  };
  try {
    for (let i = 0; i < WARM; i++) one(keys[i]!);
    const measured = () => {
      for (let i = WARM; i < WARM + n; i++) one(keys[i]!);
      return Promise.resolve();
    };
    const t0 = performance.now();
    if (heapProfile !== undefined) await withHeapProfile(heapProfile, measured);
    else await measured();
    const us = (performance.now() - t0) * 1000 / n;
    console.log(`${set ? "SET" : "creating TS.ADD"}: ${us.toFixed(2)} µs each (wall), n ${n}`);
  } finally {
    await ts.close();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
