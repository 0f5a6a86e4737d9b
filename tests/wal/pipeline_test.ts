/**
 * The WAL's pipelined group commit (ARCHITECTURE.md § "Writer and group commit"): many writers
 * that each wait for their append, syncs off the event loop, groups written while the writers
 * of the previous one run. What must hold whatever the scheduling: an acknowledged op survives
 * a power loss, and after a failed sync every waiting append rejects (none hangs).
 */

import { assert, assertEquals } from "@std/assert";
import { setImmediate } from "node:timers";
import { IoError } from "../../src/errors.ts";
import { FaultFs } from "../../src/fs/mod.ts";
import { WalWriter } from "../../src/wal/mod.ts";
import { withDeadline } from "../_helpers/fuzz.ts";
import { DIR, keysOf, ops, recoverEntries, seededRandom, writeWal } from "./_helpers.ts";

function keyRange(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => `key-${first + i}`);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

interface Run {
  acknowledged: number;
  /** Settles when every writer has stopped (its last append settled or threw). */
  done: Promise<void>;
  stop: () => void;
  /** Key number of the next op. */
  nextKey: () => number;
}

/**
 * `writers` loops, each appending 1-3 ops and awaiting them, until stopped, failed or past
 * `maxSeq` ops in all.
 */
function closedLoop(
  writer: WalWriter,
  writers: number,
  random: () => number,
  maxSeq = Infinity,
): Run {
  let stopped = false;
  let seq = 1;
  const run: Run = {
    acknowledged: 0,
    done: Promise.resolve(),
    stop: () => stopped = true,
    nextKey: () => seq,
  };
  const loops = Array.from({ length: writers }, async () => {
    while (!stopped && seq <= maxSeq) {
      const n = 1 + Math.floor(random() * 3);
      let appended;
      try {
        appended = writer.append(ops(seq, n));
      } catch (err) {
        assert(err instanceof IoError, String(err));
        return;
      }
      seq += n;
      try {
        await appended.durable;
      } catch (err) {
        assert(err instanceof IoError, String(err));
        return;
      }
      run.acknowledged = Math.max(run.acknowledged, appended.seq + n - 1);
    }
  });
  run.done = Promise.all(loops).then(() => {});
  return run;
}

Deno.test("WAL pipelined group commit: 64 waiting writers, power lost at a random moment, lose no acknowledged op", async () => {
  let offThread = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const random = seededRandom(seed);
    const fs = new FaultFs();
    const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 16 * 1024 });
    // A third of the seeds: a sync fails, so the power loss finds written, unsynced groups.
    const failing = random() < 0.33;
    if (failing) fs.failAfter({ sync: 5 + Math.floor(random() * 60) });
    const run = closedLoop(writer, 64, random);
    const turns = 1 + Math.floor(random() * 40);
    for (let t = 0; t < turns; t++) await nextTurn();
    // The moment of the power loss: what is acknowledged now must be on disk.
    const acknowledged = run.acknowledged;
    fs.heal();
    fs.powerLoss(random() < 0.5 ? random : undefined);
    run.stop();
    // Handles died with the power: every writer stops, none waits forever.
    await withDeadline(run.done, 60_000, `seed ${seed}: writers still waiting`);
    await writer.close().catch(() => {});
    offThread += fs.syncsOffThread;
    const { entries } = recoverEntries(fs);
    const msg = `seed ${seed}`;
    assert(entries.length >= acknowledged, `${msg}: lost acknowledged ops`);
    assertEquals(keysOf(entries), keyRange(1, entries.length), msg);
    await writeWal(fs, [ops(entries.length + 1, 1)], { nextSeq: entries.length + 1 });
    assertEquals(recoverEntries(fs).entries.length, entries.length + 1, msg);
  }
  // The writers' CPU time exceeds the simulated file system's sync: the pipeline was used.
  assert(offThread > 0, "no sync ran off the event loop");
});

Deno.test("WAL pipelined group commit: a failed sync rejects the group in flight and the waiting ones, and no writer hangs", async () => {
  let failedWriters = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const random = seededRandom(seed);
    const fs = new FaultFs();
    const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 64 * 1024 });
    fs.failAfter({ sync: 10 + Math.floor(random() * 40) });
    const run = closedLoop(writer, 128, random, 20_000);
    // Every writer stops: its append rejects or throws once a WAL sync failed (the failure may
    // also hit a background preallocation, which is retried, and the writers go on to the end).
    await withDeadline(run.done, 60_000, `seed ${seed}: writers still waiting`);
    fs.heal();
    try {
      writer.append(ops(run.nextKey(), 1));
    } catch (err) {
      assert(err instanceof IoError, String(err));
      failedWriters++;
    }
    await writer.close().catch(() => {});
    const { entries } = recoverEntries(fs);
    assert(entries.length >= run.acknowledged, `seed ${seed}: lost acknowledged ops`);
    assertEquals(keysOf(entries), keyRange(1, entries.length), `seed ${seed}`);
  }
  assert(failedWriters >= 10, `only ${failedWriters} of 20 seeds failed the WAL itself`);
});

Deno.test("WAL pipelined group commit: sync() and close() overtake a sync in flight and settle its group", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 1 << 20 });
  const random = seededRandom(7);
  const run = closedLoop(writer, 64, random);
  let syncs = 0;
  for (let t = 0; t < 200 && fs.syncsOffThread < 3; t++) {
    await writer.sync();
    syncs++;
    await nextTurn();
  }
  assert(fs.syncsOffThread > 0, "no sync ran off the event loop");
  run.stop();
  await writer.close();
  await withDeadline(run.done, 60_000, "writers still waiting after close");
  const { entries } = recoverEntries(fs);
  assert(entries.length >= run.acknowledged, "lost acknowledged ops");
  assertEquals(keysOf(entries), keyRange(1, entries.length));
  assert(syncs > 0);
});

Deno.test("WAL pipelined group commit: a close whose own sync fails still settles the group whose off-thread sync completes", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 1 << 20 });
  let seq = 1;
  let inFlight: Promise<void>[] | undefined;
  // Bursts of 32 appends until one group's sync goes off the event loop (the pacer has
  // measured the writers' CPU time above two of the simulated file system's syncs).
  for (let round = 0; round < 500 && inFlight === undefined; round++) {
    const before = fs.syncsOffThread;
    const burst = Array.from({ length: 32 }, () => writer.append(ops(seq++, 1)).durable);
    // The writer's flush was scheduled first: after this turn it has run.
    await new Promise((resolve) => setImmediate(resolve));
    if (fs.syncsOffThread > before) inFlight = burst;
    else await Promise.all(burst);
  }
  if (inFlight === undefined) throw new Error("no sync ran off the event loop");
  const pending: Promise<void>[] = inFlight;
  // Its sync is in flight and nothing else is queued; close's own sync fails.
  fs.failAfter({ sync: 1 });
  let closeFailed = false;
  await writer.close().catch(() => closeFailed = true);
  assert(closeFailed, "close did not report its failed sync");
  fs.heal();
  // The off-thread sync had made the group durable: its appends resolve, none hangs.
  await withDeadline(Promise.all(pending), 60_000, "appends of the group in flight");
});
