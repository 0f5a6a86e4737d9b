/**
 * The pipelined group commit (ARCHITECTURE.md § "Writer and group commit"): with many writers
 * each waiting for its own append, groups go two at a time with their fdatasyncs off the event
 * loop. A group resolves only after an fdatasync that started after it was written completed.
 * FaultFs's off-thread fdatasync completes in a later turn and makes durable only the writes
 * made before it started, so a group acknowledged too early is lost by the power loss.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { IoError } from "../../src/errors.ts";
import type { File, FileSystem } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { WalWriter } from "../../src/wal/mod.ts";
import { DIR, keysOf, op, recoverEntries, seededRandom } from "./_helpers.ts";

function keyRange(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => `key-${first + i}`);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** `fs`, counting the off-thread fdatasyncs its files start. */
function counting(fs: FaultFs): { fs: FileSystem; asyncSyncs: () => number } {
  let asyncSyncs = 0;
  const bind = <T extends object>(target: T, prop: string | symbol) => {
    const v = Reflect.get(target, prop);
    return typeof v === "function" ? v.bind(target) : v;
  };
  const wrapFile = (file: File): File =>
    new Proxy(file, {
      get(target, prop) {
        if (prop === "syncDataAsync") {
          return () => {
            asyncSyncs++;
            return target.syncDataAsync();
          };
        }
        return bind(target, prop);
      },
    });
  const wrapped = new Proxy(fs, {
    get(target, prop) {
      if (prop === "open") {
        return (...args: Parameters<FileSystem["open"]>) => wrapFile(target.open(...args));
      }
      return bind(target, prop);
    },
  });
  return { fs: wrapped, asyncSyncs: () => asyncSyncs };
}

/**
 * `writers` loops, each appending one op and awaiting it, until `stop()` or a failure. Returns
 * the highest acknowledged sequence so far and a promise of the loops' end.
 */
function runWriters(writer: WalWriter, writers: number) {
  let stopped = false;
  let acknowledged = 0;
  let rejected = 0;
  const done = Promise.all(Array.from({ length: writers }, async () => {
    while (!stopped) {
      let appended;
      try {
        appended = writer.append([op(writer.lastSeq + 1)]);
      } catch (err) {
        assert(err instanceof IoError, String(err));
        return;
      }
      try {
        await appended.durable;
      } catch (err) {
        assert(err instanceof IoError, String(err));
        rejected++;
        return;
      }
      assert(writer.durableSeq >= appended.seq, "acknowledged before durableSeq covers it");
      acknowledged = Math.max(acknowledged, appended.seq);
    }
  }));
  return {
    done,
    stop: () => stopped = true,
    acknowledged: () => acknowledged,
    rejected: () => rejected,
  };
}

Deno.test("WalWriter pipelined group commit: a power loss at any moment loses no acknowledged op", async () => {
  let asyncSyncs = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const random = seededRandom(seed);
    const faults = new FaultFs();
    const counted = counting(faults);
    // Small segments: switches happen while an off-thread sync is in flight.
    const writer = WalWriter.open(counted.fs, DIR, {
      nextSeq: 1,
      segmentSizeBytes: 16384,
      // Three seeds in four pipeline every group; the fourth decides by measurement.
      ...(seed % 4 === 0 ? {} : { pipelining: true }),
    });
    // A third of the seeds: a sync fails (an off-thread one, once the pipeline runs).
    if (random() < 0.33) faults.failAfter({ sync: 5 + Math.floor(random() * 60) });
    const run = runWriters(writer, 32 + Math.floor(random() * 160));
    const turns = 1 + Math.floor(random() * 40);
    for (let t = 0; t < turns; t++) await nextTurn();
    run.stop();
    faults.heal();
    faults.powerLoss(random, { outOfOrder: random() < 0.5 });
    await writer.close().catch(() => {});
    await run.done;
    asyncSyncs += counted.asyncSyncs();
    const { entries } = recoverEntries(faults);
    const msg = `seed ${seed}`;
    assert(entries.length >= run.acknowledged(), `${msg}: lost acknowledged ops`);
    assertEquals(keysOf(entries), keyRange(1, entries.length), msg);
  }
  assert(asyncSyncs > 0, "no off-thread fdatasync ran");
});

Deno.test("WalWriter pipelined group commit: sync() and close() settle groups whose sync is in flight", async () => {
  const faults = new FaultFs();
  const counted = counting(faults);
  const writer = WalWriter.open(counted.fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 65536,
    pipelining: true,
  });
  const run = runWriters(writer, 128);
  for (let t = 0; t < 10_000 && counted.asyncSyncs() < 20; t++) await nextTurn();
  assert(counted.asyncSyncs() >= 20, "the pipeline did not run");
  // Everything appended before sync() is durable when it resolves.
  const before = writer.lastSeq;
  await writer.sync();
  assert(writer.durableSeq >= before, `durableSeq ${writer.durableSeq} < ${before}`);
  for (let t = 0; t < 5; t++) await nextTurn();
  run.stop();
  // close() writes and syncs the rest; every writer's last append settles (resolved).
  await writer.close();
  await run.done;
  assertEquals(run.rejected(), 0);
  faults.powerLoss();
  const { entries } = recoverEntries(faults);
  assertEquals(entries.length, writer.lastSeq);
  assertEquals(keysOf(entries), keyRange(1, entries.length));
});

Deno.test("WalWriter pipelined group commit: a failed off-thread fdatasync rejects its group and fails the writer", async () => {
  const faults = new FaultFs();
  const counted = counting(faults);
  const writer = WalWriter.open(counted.fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 65536,
    pipelining: true,
  });
  const run = runWriters(writer, 128);
  for (let t = 0; t < 10_000 && counted.asyncSyncs() < 10; t++) await nextTurn();
  assert(counted.asyncSyncs() >= 10, "the pipeline did not run");
  // Every sync fails from now on (the next one might be a background preallocation's).
  faults.failAfter({ sync: 1 }, { failAll: true });
  for (let t = 0; t < 10_000 && run.rejected() === 0; t++) await nextTurn();
  run.stop();
  await run.done;
  assert(run.rejected() > 0, "no append was rejected");
  assertThrows(() => writer.append([op(writer.lastSeq + 1)]), IoError);
  await assertRejects(() => writer.close(), IoError);
  faults.heal();
  faults.powerLoss();
  const { entries } = recoverEntries(faults);
  assert(entries.length >= run.acknowledged(), "lost acknowledged ops");
});
