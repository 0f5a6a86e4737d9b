/**
 * Memory rows (issue 9's targets), each beside Redis in the same run:
 * - the memtable's bytes per entry beyond key and value, for the keys and values of the SETs
 *   below, against Redis's `used_memory` growth per key beyond key and value after them;
 * - the RSS of `cityhall serve --memtable-mb 16 --cache-mb 16` (started as `deno task start`
 *   starts it) when idle and after 1,000,000 SETs of 100-byte values over 1,000,000 distinct
 *   keys, against `redis-server` (appendfsync always) given the same SETs. Both are driven by
 *   bench/loadgen.ts as its own process (50 connections, pipeline 16, every reply checked). The
 *   RSS is read from /proc/<pid>/status (VmRSS, and VmHWM for the peak).
 *
 * Run alone: `deno run -A bench/server_memory.ts` (BENCH_SCALE scales the SET count).
 *
 * @module
 */

import { Memtable } from "../src/memtable/mod.ts";
import { type Entry, KIND_PUT } from "../src/util/entry.ts";
import { formatRow, type Row, scaled, TABLE_HEADER } from "./harness.ts";
import { runLoadProcess } from "./loadgen.ts";
import { findOnPath, startCityHallProcess, startRedis } from "./server.ts";

const VALUE_SIZE = 100;
const CLIENTS = 50;
const PIPELINE = 16;
/** The flags of the target: small memtable and cache, as on a 1 GB board. */
const SERVE_FLAGS = ["--memtable-mb", "16", "--cache-mb", "16"];
/**
 * When the "after" RSS is read: soon after the last reply, and settled (the figure reported;
 * the server hands freed memory back within seconds once it is quiet: ARCHITECTURE.md
 * § "Memory").
 */
const SOON_MS = 5_000;
const SETTLED_MS = 15_000;
/** How long an idle server runs before its idle RSS is read. */
const IDLE_MS = 2_000;
/** The targets, in MiB. */
const AFTER_TARGET_MIB = 150;
const IDLE_TARGET_MIB = 50;
const MEMTABLE_TARGET_BYTES = 120;
/** The load generator's keys: `key:` and 10 digits. */
const KEY_SIZE = 14;

const mib = (bytes: number) => bytes / 1024 / 1024;

/**
 * VmRSS and VmHWM of process `pid`, and VmRSS split into anonymous memory (heaps, buffers) and
 * file-backed pages (mostly the executable's code: clean, the kernel can drop them), in bytes.
 */
function memoryOf(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
  return {
    rss: kb("VmRSS") * 1024,
    hwm: kb("VmHWM") * 1024,
    anon: kb("RssAnon") * 1024,
    file: kb("RssFile") * 1024,
  };
}

/** `INFO memory`'s used_memory of the Redis on `port`, in bytes. */
async function redisUsedMemory(port: number): Promise<number> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), "info", "memory"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const m = /used_memory:(\d+)/.exec(new TextDecoder().decode(out.stdout));
  return m ? Number(m[1]) : NaN;
}

/** What one server did under the SETs. */
export interface Measured {
  idle: number;
  /** The idle RSS's anonymous and file-backed parts. */
  idleAnon: number;
  idleFile: number;
  soon: number;
  after: number;
  peak: number;
  setsPerSec: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Idle RSS, then the SETs, then the RSS after they settled, of the server `pid` on `port`. */
export async function measure(pid: number, port: number, sets: number): Promise<Measured> {
  await sleep(IDLE_MS);
  const { rss: idle, anon: idleAnon, file: idleFile } = memoryOf(pid);
  let peak = idle;
  const sampler = setInterval(() => peak = Math.max(peak, memoryOf(pid).rss), 200);
  let setsPerSec: number;
  try {
    const r = await runLoadProcess({
      port,
      command: "set",
      connections: CLIENTS,
      pipeline: PIPELINE,
      requests: sets,
      keyspace: sets,
      valueSize: VALUE_SIZE,
    }, 600_000);
    setsPerSec = r.opsPerSec;
    await sleep(SOON_MS);
  } finally {
    clearInterval(sampler);
  }
  const soon = memoryOf(pid).rss;
  await sleep(SETTLED_MS - SOON_MS);
  const now = memoryOf(pid);
  return {
    idle,
    idleAnon,
    idleFile,
    soon,
    after: now.rss,
    peak: Math.max(peak, now.hwm),
    setsPerSec,
  };
}

/**
 * Fills a memtable with `n` entries of the load generator's keys and 100-byte values and
 * returns the growth of V8's heap + external memory per entry beyond the key and value bytes,
 * and the memtable's own figure (`allocatedBytes`, same subtraction). One reused `Entry` is
 * applied (the memtable copies), so the loop itself leaves next to no garbage behind.
 */
function memtableBytesPerEntry(n: number): { process: number; allocated: number } {
  const key = new Uint8Array(KEY_SIZE);
  key.set(new TextEncoder().encode("key:"));
  const value = new Uint8Array(VALUE_SIZE).fill(0x76);
  const entry: Entry = { key, value, seq: 0, kind: KIND_PUT, expireAtMs: 0 };
  const used = () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  const table = new Memtable();
  for (let i = 0; i < n; i++) {
    let x = i;
    for (let d = KEY_SIZE - 1; d >= 4; d--) {
      key[d] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    }
    entry.seq = i + 1;
    table.apply(entry);
  }
  const payload = n * (KEY_SIZE + VALUE_SIZE);
  const result = {
    process: (used() - before - payload) / n,
    allocated: (table.allocatedBytes - payload) / n,
  };
  if (table.count !== n) throw new Error(`memtable holds ${table.count} of ${n} entries`);
  return result;
}

/** Runs the memory rows and returns them. */
export async function serverMemoryBench(log: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    log(row);
  };
  const sets = scaled(1_000_000);
  const memtable = memtableBytesPerEntry(sets);
  const proc = await startCityHallProcess({ args: SERVE_FLAGS });
  if (typeof proc === "string") {
    add({ name: "server RSS", unit: "MiB", cityhall: NaN, note: `not run: ${proc}` });
    return rows;
  }
  let ours: Measured;
  try {
    ours = await measure(proc.pid, proc.port, sets);
  } finally {
    await proc.close();
  }
  let theirs: Measured | undefined;
  let redisBytesPerKey: number | undefined;
  let peerNote = "peer: Redis appendfsync always, same SETs";
  const redisBin = await findOnPath("redis-server");
  if (redisBin === undefined) peerNote = "no peer: redis-server not on PATH";
  else {
    const redis = await startRedis(redisBin);
    try {
      const before = await redisUsedMemory(redis.port);
      theirs = await measure(redis.pid, redis.port, sets);
      const after = await redisUsedMemory(redis.port);
      // Bytes per key beyond the key ("key:" + 10 digits) and the value.
      redisBytesPerKey = (after - before) / sets - (KEY_SIZE + VALUE_SIZE);
    } finally {
      await redis.close();
    }
  }
  add({
    name: "memtable bytes per entry beyond key and value",
    unit: "B",
    cityhall: memtable.process,
    ...(redisBytesPerKey !== undefined ? { denoKv: redisBytesPerKey, peer: "Redis" } : {}),
    lowerIsBetter: true,
    note:
      `${sets.toLocaleString("en-US")} entries of ${KEY_SIZE}-byte keys and ${VALUE_SIZE}-byte ` +
      `values: V8 heap + external growth in this process (Memtable.allocatedBytes says ${
        memtable.allocated.toFixed(0)
      } B); Redis: used_memory growth per key over the SETs of the next row; target <= ${MEMTABLE_TARGET_BYTES} B`,
  });
  const what = `${sets.toLocaleString("en-US")} SETs of ${VALUE_SIZE} B over ${
    sets.toLocaleString("en-US")
  } keys, ${CLIENTS} clients, pipeline ${PIPELINE}`;
  add({
    name: `server RSS after ${sets.toLocaleString("en-US")} SETs (--memtable-mb 16 --cache-mb 16)`,
    unit: "MiB",
    cityhall: mib(ours.after),
    ...(theirs ? { denoKv: mib(theirs.after), peer: "Redis" } : {}),
    lowerIsBetter: true,
    note: `${what}; read ${SETTLED_MS / 1000} s after the last reply (after ${SOON_MS / 1000} s: ${
      mib(ours.soon).toFixed(0)
    } MiB${theirs ? `, Redis ${mib(theirs.soon).toFixed(0)} MiB` : ""}); peak ${
      mib(ours.peak).toFixed(0)
    } MiB${theirs ? ` (Redis ${mib(theirs.peak).toFixed(0)} MiB)` : ""}; ${
      Math.round(ours.setsPerSec).toLocaleString("en-US")
    } SETs/s${
      theirs ? ` (Redis ${Math.round(theirs.setsPerSec).toLocaleString("en-US")}/s)` : ""
    }; target <= ${AFTER_TARGET_MIB} MiB; ${peerNote}`,
  });
  add({
    name: "server RSS idle (--memtable-mb 16 --cache-mb 16)",
    unit: "MiB",
    cityhall: mib(ours.idle),
    ...(theirs ? { denoKv: mib(theirs.idle), peer: "Redis" } : {}),
    lowerIsBetter: true,
    note: `fresh data directory, ${IDLE_MS / 1000} s after start: anonymous ${
      mib(ours.idleAnon).toFixed(1)
    } MiB + file-backed ${
      mib(ours.idleFile).toFixed(1)
    } MiB (the deno executable's code pages, clean); target <= ${IDLE_TARGET_MIB} MiB`,
  });
  return rows;
}

if (import.meta.main) {
  console.log(TABLE_HEADER);
  await serverMemoryBench((row) => console.log(formatRow(row)));
}
