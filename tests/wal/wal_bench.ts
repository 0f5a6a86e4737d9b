/**
 * WAL throughput on real files (not a test; no timed assertions anywhere):
 *
 *   deno run -A tests/wal/wal_bench.ts [seconds-per-case] [warmup-seconds]
 *
 * Each case first runs its workload for the warm-up time untimed: right after a 32 MiB
 * segment is preallocated and fsynced, the disk of a VM stays busy for a while.
 *
 * 1. raw: `writeAt` of one record + `syncData` in a loop on a preallocated file (the floor),
 *    interleaved second by second with
 * 2. sequential: one writer, `append` then `await durable`, "always" mode.
 * 3. concurrent: 256 writers doing the same at once (group commit).
 * 4. concurrent with sync mode "none" (no fdatasync per group).
 */

import { RealFs } from "../../src/fs/mod.ts";
import { KIND_PUT } from "../../src/util/entry.ts";
import { encodeBatch, encodeRecord, WAL_RECORD_TYPE_BATCH, WalWriter } from "../../src/wal/mod.ts";
import type { WalOp } from "../../src/wal/mod.ts";

const seconds = Number(Deno.args[0] ?? 3);
const warmupSeconds = Number(Deno.args[1] ?? 2);
const fs = new RealFs();
const encoder = new TextEncoder();

function opFor(i: number): WalOp[] {
  return [{
    kind: KIND_PUT,
    key: encoder.encode(`user:${i.toString().padStart(10, "0")}`),
    value: new Uint8Array(64).fill(i & 0xff),
  }];
}

function report(name: string, ops: number, elapsedMs: number, extra = ""): void {
  const rate = Math.round(ops / (elapsedMs / 1000));
  console.log(
    `${name.padEnd(34)} ${String(rate).padStart(8)} ops/s  (${ops} ops in ${
      elapsedMs.toFixed(0)
    } ms)${extra}`,
  );
}

/**
 * The raw loop and the sequential writer, interleaved one second at a time for `seconds`
 * rounds each, so that both see the same disk weather; reports the median round of each.
 */
async function rawVersusSequential(dir: string): Promise<void> {
  const path = `${dir}/raw.bin`;
  const file = fs.open(path, { write: true, create: true });
  const size = 32 << 20;
  const zeros = new Uint8Array(1 << 20);
  for (let at = 0; at < size; at += zeros.length) file.writeAt(zeros, at);
  file.sync();
  const record = encodeRecord(1, WAL_RECORD_TYPE_BATCH, encodeBatch(opFor(1)));
  let offset = 0;
  const raw = (ms: number) => {
    let n = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      file.writeAt(record, offset);
      file.syncData();
      offset = (offset + record.length) % (size - record.length);
      n++;
    }
    return n;
  };
  const writer = WalWriter.open(fs, `${dir}/wal`, { nextSeq: 1 });
  let seq = 0;
  const sequential = async (ms: number) => {
    let n = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await writer.append(opFor(seq++)).durable;
      n++;
    }
    return n;
  };
  raw(warmupSeconds * 500);
  await sequential(warmupSeconds * 500);
  const rawRounds: number[] = [];
  const seqRounds: number[] = [];
  for (let round = 0; round < seconds; round++) {
    rawRounds.push(raw(1000));
    seqRounds.push(await sequential(1000));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`raw writeAt+syncData (preallocated)  rounds: ${rawRounds.join(" ")} ops/s`);
  console.log(`sequential append+await durable      rounds: ${seqRounds.join(" ")} ops/s`);
  report("raw writeAt+syncData, median round", median(rawRounds), 1000);
  report("sequential append+await, median", median(seqRounds), 1000);
  await writer.close();
  file.close();
}

async function concurrent(
  dir: string,
  writers: number,
  syncMode: "always" | "none",
): Promise<void> {
  const writer = WalWriter.open(fs, dir, { nextSeq: 1, syncMode });
  const loop = async (ms: number) => {
    let n = 0;
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (performance.now() < end) {
          await writer.append(opFor(n)).durable;
          n++;
        }
      }),
    );
    return n;
  };
  await loop(warmupSeconds * 1000);
  const syncBefore = countSyncs.value;
  const start = performance.now();
  const n = await loop(seconds * 1000);
  const elapsed = performance.now() - start;
  const segments = writer.segments().length;
  await writer.close();
  report(
    `${writers} concurrent writers (${syncMode})`,
    n,
    elapsed,
    `, ${segments} segments, ${countSyncs.value - syncBefore} fdatasyncs`,
  );
}

// Counts fdatasync calls through a wrapper around the real file system.
const countSyncs = { value: 0 };
const open = fs.open.bind(fs);
fs.open = (path, options) => {
  const file = open(path, options);
  const syncData = file.syncData.bind(file);
  file.syncData = () => {
    countSyncs.value++;
    syncData();
  };
  return file;
};

for (
  const [name, run] of [
    ["raw-vs-sequential", (d: string) => rawVersusSequential(d)],
    ["concurrent", (d: string) => concurrent(d, 256, "always")],
    ["concurrent-none", (d: string) => concurrent(d, 256, "none")],
  ] as const
) {
  const dir = await Deno.makeTempDir({ prefix: `cityhall-wal-bench-${name}-` });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
