/** Shared helpers for the SSTable tests. */

import { assert, assertEquals } from "@std/assert";
import type { FileSystem } from "../../src/fs/mod.ts";
import {
  BlockCache,
  Table,
  TableBuilder,
  type TableBuilderOptions,
} from "../../src/sstable/mod.ts";
import type { TableProperties } from "../../src/sstable/mod.ts";
import { compareBytes } from "../../src/util/bytes.ts";
import {
  type Entry,
  type EntryIterator,
  isDeadAt,
  KIND_DELETE,
  KIND_PUT,
  type PairBuffer,
} from "../../src/util/entry.ts";
import type { Rng } from "../_helpers/random.ts";

/** Sorts entries by key and drops duplicate keys (keeps the first). */
export function sortUnique(entries: Entry[]): Entry[] {
  entries.sort((a, b) => compareBytes(a.key, b.key));
  const out: Entry[] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last === undefined || compareBytes(last.key, e.key) !== 0) out.push(e);
  }
  return out;
}

/** Random entries with binary keys and values: empty values, tombstones, expiry. */
export function randomEntries(rng: Rng, count: number, options: {
  keyLenMax?: number;
  valueLenMax?: number;
} = {}): Entry[] {
  const keyLenMax = options.keyLenMax ?? 24;
  const valueLenMax = options.valueLenMax ?? 64;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    // Shared prefixes make prefix compression do work.
    const prefix = rng.chance(0.5) ? new Uint8Array([1, 2, 3, rng.int(4)]) : new Uint8Array(0);
    const rest = rng.bytes(1 + rng.int(keyLenMax));
    const key = new Uint8Array(prefix.length + rest.length);
    key.set(prefix);
    key.set(rest, prefix.length);
    const seq = 1 + rng.int(1_000_000);
    if (rng.chance(0.15)) {
      entries.push({ key, seq, kind: KIND_DELETE, expireAtMs: 0, value: new Uint8Array(0) });
    } else {
      const value = rng.chance(0.1) ? new Uint8Array(0) : rng.bytes(rng.int(valueLenMax + 1));
      const expireAtMs = rng.chance(0.2) ? 1_700_000_000_000 + rng.int(1_000_000_000) : 0;
      entries.push({ key, seq, kind: KIND_PUT, expireAtMs, value });
    }
  }
  return sortUnique(entries);
}

/** Writes `entries` (sorted, unique) into a new table at `path`. */
export function writeTable(
  fs: FileSystem,
  path: string,
  entries: Entry[],
  options: TableBuilderOptions = {},
): TableProperties {
  const file = fs.open(path, { write: true, create: true, truncate: true });
  try {
    const builder = new TableBuilder(file, options);
    for (const e of entries) builder.add(e);
    const props = builder.finish();
    file.sync();
    return props;
  } finally {
    file.close();
  }
}

/** Writes and opens a table. */
export function buildTable(
  fs: FileSystem,
  path: string,
  entries: Entry[],
  options: TableBuilderOptions & { cache?: BlockCache; fileNumber?: number } = {},
): Table {
  const { cache, fileNumber, ...builderOptions } = options;
  writeTable(fs, path, entries, builderOptions);
  return Table.open(fs, path, {
    cache: cache ?? new BlockCache(1 << 20),
    fileNumber: fileNumber ?? 1,
  });
}

/** Asserts two entries are equal field by field. */
export function assertEntry(actual: Entry | undefined, expected: Entry | undefined, what = "") {
  if (expected === undefined) {
    assertEquals(actual, undefined, what);
    return;
  }
  if (actual === undefined) throw new Error(`Missing entry: ${what}`);
  assertEquals(actual.key, expected.key, what);
  assertEquals(actual.seq, expected.seq, what);
  assertEquals(actual.kind, expected.kind, what);
  assertEquals(actual.expireAtMs, expected.expireAtMs, what);
  assertEquals(actual.value, expected.value, what);
}

/** Index of the first entry with key ≥ target (entries.length when none). */
export function lowerBound(entries: Entry[], target: Uint8Array): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(entries[mid]!.key, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Asserts the iterator is at entries[i] (or invalid when i is out of range). */
export function assertAt(it: EntryIterator, entries: Entry[], i: number, what: string) {
  if (i < 0 || i >= entries.length) {
    assertEquals(it.valid(), false, `${what}: expected invalid`);
  } else {
    assert(it.valid(), `${what}: expected valid at ${i}`);
    assertEntry(it.entry(), entries[i], `${what}: at ${i}`);
  }
}

/**
 * Checks seek and seekForPrev at `target` against the model, then walks `steps` forward and
 * backward from there.
 */
export function checkSeeks(it: EntryIterator, entries: Entry[], target: Uint8Array, steps = 3) {
  const lb = lowerBound(entries, target);
  const what = `target ${Array.from(target)}`;
  it.seek(target);
  assertAt(it, entries, lb, `seek ${what}`);
  for (let s = 1; s <= steps && it.valid(); s++) {
    it.next();
    assertAt(it, entries, lb + s, `seek+next ${what}`);
  }
  it.seek(target);
  for (let s = 1; s <= steps && it.valid(); s++) {
    it.prev();
    assertAt(it, entries, lb - s, `seek+prev ${what}`);
  }
  const exact = lb < entries.length && compareBytes(entries[lb]!.key, target) === 0;
  const fp = exact ? lb : lb - 1;
  it.seekForPrev(target);
  assertAt(it, entries, fp, `seekForPrev ${what}`);
  for (let s = 1; s <= steps && it.valid(); s++) {
    it.prev();
    assertAt(it, entries, fp - s, `seekForPrev+prev ${what}`);
  }
  it.seekForPrev(target);
  for (let s = 1; s <= steps && it.valid(); s++) {
    it.next();
    assertAt(it, entries, fp + s, `seekForPrev+next ${what}`);
  }
}

/** Targets at every boundary: each key, just after and just before it, before first, after last. */
export function boundaryTargets(entries: Entry[]): Uint8Array[] {
  const targets: Uint8Array[] = [new Uint8Array(0), new Uint8Array(40).fill(0xff)];
  for (const e of entries) {
    targets.push(e.key);
    const after = new Uint8Array(e.key.length + 1);
    after.set(e.key);
    targets.push(after);
    if (e.key.length > 0) {
      const before = e.key.slice();
      const last = before.length - 1;
      if (before[last]! > 0) {
        before[last] = before[last]! - 1;
        targets.push(before);
      } else {
        targets.push(before.subarray(0, last));
      }
    }
  }
  return targets;
}

/**
 * Stop keys that share each possible prefix with a stored key and differ right after it
 * (upwards): where a bulk read that compares keys from the bytes prefix compression settled
 * must tell "above" from "below".
 */
export function prefixTargets(entries: Entry[]): Uint8Array[] {
  const targets: Uint8Array[] = [];
  for (const e of entries) {
    for (let i = 0; i < e.key.length; i++) {
      if (e.key[i] === 0xff) continue;
      const t = e.key.slice(0, i + 1);
      t[i] = t[i]! + 1;
      targets.push(t);
    }
  }
  return targets;
}

/** Reads the whole table forward and backward and compares with the model. */
export function checkFullScan(it: EntryIterator, entries: Entry[]) {
  let i = 0;
  for (it.seekToFirst(); it.valid(); it.next()) assertEntry(it.entry(), entries[i++], "forward");
  assertEquals(i, entries.length);
  i = entries.length - 1;
  for (it.seekToLast(); it.valid(); it.prev()) assertEntry(it.entry(), entries[i--], "backward");
  assertEquals(i, -1);
}

/**
 * Checks `collectLive` against the model: from a seek to `start`, calls of at most `chunk`
 * pairs each until a call comes back short must yield exactly the live entries (at `nowMs`) of
 * `[start, stop)`, leave the iterator at the first entry ≥ `stop` (or invalid), and count every
 * entry they moved past.
 */
export function checkCollectLive(
  it: EntryIterator,
  entries: Entry[],
  start: Uint8Array,
  stop: Uint8Array | undefined,
  chunk: number,
  nowMs: number,
) {
  const what = `start ${Array.from(start)} stop ${stop && Array.from(stop)} chunk ${chunk}`;
  const from = lowerBound(entries, start);
  const to = stop === undefined ? entries.length : Math.max(from, lowerBound(entries, stop));
  const expected = entries.slice(from, to)
    .filter((e) => !isDeadAt(e, nowMs))
    .map((e) => [e.key, e.value]);
  it.seek(start);
  const got: [Uint8Array, Uint8Array][] = [];
  let moved = 0;
  // One buffer for every call, as a scan reuses it: the stale pairs of the previous call stay
  // in its slots and must be overwritten, never counted.
  const out: PairBuffer = { pairs: [], count: 0 };
  for (let calls = 0;; calls++) {
    assert(calls <= entries.length + 1, `${what}: collectLive makes no progress`);
    out.count = 0;
    moved += it.collectLive!(out, chunk, stop, nowMs);
    assert(out.count <= chunk, `${what}: ${out.count} pairs in a chunk of ${chunk}`);
    got.push(...out.pairs.slice(0, out.count));
    if (out.count < chunk) break;
  }
  assertEquals(got, expected, what);
  assertEquals(moved, to - from, `${what}: entries moved past`);
  assertAt(it, entries, to, `${what}: where it stopped`);
}
