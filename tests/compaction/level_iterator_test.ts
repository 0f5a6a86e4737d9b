import { assertEquals, assertThrows } from "@std/assert";
import { type LevelFile, LevelIterator, MergeIterator } from "../../src/compaction/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { BlockCache } from "../../src/sstable/mod.ts";
import { AssertionError } from "../../src/util/assert.ts";
import { compareBytes } from "../../src/util/bytes.ts";
import type { Entry } from "../../src/util/entry.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import {
  boundaryTargets,
  buildTable,
  checkCollectLive,
  checkFullScan,
  checkSeeks,
  prefixTargets,
  randomEntries,
} from "../sstable/_helpers.ts";

/** Splits sorted entries into real tables of random sizes, with empty files in between. */
function levelOf(rng: Rng, entries: Entry[]): LevelFile[] {
  const fs = new FaultFs();
  const cache = new BlockCache(1 << 20);
  const files: LevelFile[] = [];
  const empty = (after: Uint8Array, before: Uint8Array | undefined): LevelFile | undefined => {
    // An empty file's range lies strictly between its neighbours' keys, when there is room.
    const key = new Uint8Array([...after, 0]);
    if (before !== undefined && compareBytes(key, before) >= 0) return undefined;
    return { smallestKey: key, largestKey: key, iterator: () => new MergeIterator([]) };
  };
  let i = 0;
  while (i < entries.length) {
    const n = 1 + rng.int(Math.min(40, entries.length - i));
    const part = entries.slice(i, i + n);
    const table = buildTable(fs, `t${files.length}.sst`, part, {
      cache,
      fileNumber: files.length + 1,
      blockSizeBytes: 64 + rng.int(256),
    });
    files.push({
      smallestKey: part[0]!.key,
      largestKey: part[part.length - 1]!.key,
      iterator: () => table.iterator(),
    });
    i += n;
    if (rng.chance(0.2)) {
      const e = empty(part[part.length - 1]!.key, entries[i]?.key);
      if (e !== undefined) files.push(e);
    }
  }
  return files;
}

Deno.test("LevelIterator walks disjoint tables as one: scans and seeks at every boundary", () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  for (const count of [0, 1, 2, 50, 300]) {
    const entries = randomEntries(rng, count);
    const it = new LevelIterator(levelOf(rng, entries));
    checkFullScan(it, entries);
    for (const t of boundaryTargets(entries)) checkSeeks(it, entries, t, 3);
  }
});

Deno.test("LevelIterator.collectLive reads across files (empty ones too), in chunks, up to a stop key", () => {
  const rng = new Rng(seedFromEnv());
  const nowMs = 1_700_000_000_000 + 500_000_000;
  for (const count of [0, 1, 50, 300]) {
    const entries = randomEntries(rng, count);
    const it = new LevelIterator(levelOf(rng, entries));
    const targets = boundaryTargets(entries);
    const stops = [...targets, ...prefixTargets(entries)];
    for (const start of targets) {
      const stop = rng.chance(0.2) ? undefined : rng.pick(stops);
      checkCollectLive(it, entries, start, stop, rng.pick([1, 7, 1000]), nowMs);
    }
  }
});

Deno.test("LevelIterator refuses overlapping or unsorted files", () => {
  const file = (a: number, b: number): LevelFile => ({
    smallestKey: new Uint8Array([a]),
    largestKey: new Uint8Array([b]),
    iterator: () => new MergeIterator([]),
  });
  assertThrows(() => new LevelIterator([file(1, 5), file(5, 9)]), AssertionError);
  assertThrows(() => new LevelIterator([file(6, 9), file(1, 5)]), AssertionError);
  const ok = new LevelIterator([file(1, 5), file(6, 9)]);
  ok.seekToFirst();
  assertEquals(ok.valid(), false);
});
