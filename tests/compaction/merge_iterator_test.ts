import { assert, assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { MergeIterator } from "../../src/compaction/mod.ts";
import { Memtable } from "../../src/memtable/mod.ts";
import {
  type Entry,
  type EntryIterator,
  isDeadAt,
  KIND_DELETE,
  KIND_PUT,
  type PairBuffer,
} from "../../src/util/entry.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { BlockCache } from "../../src/sstable/mod.ts";
import { buildTable } from "../sstable/_helpers.ts";
import { compareBytes } from "../../src/util/bytes.ts";
import { AssertionError } from "../../src/util/assert.ts";
import { randomFn, seedsFromEnv } from "../_helpers/random.ts";

const random = randomFn;
const seeds = seedsFromEnv;

/**
 * An SSTable-like child over sorted entries. Like a block iterator that decodes keys into one
 * buffer, it rewrites the same key buffer on every move, so a merge that keeps a child's key
 * across that child's move reads garbage.
 */
class ReusingArrayIterator implements EntryIterator {
  readonly #entries: Entry[];
  readonly #keyBuffer = new Uint8Array(64);
  readonly #reuse: boolean;
  #index = -1;
  #current: Entry | undefined;

  /** With `reuse` false, entries keep their own keys, as the engine's sources hand them out. */
  constructor(entries: Entry[], reuse = true) {
    this.#entries = entries;
    this.#reuse = reuse;
  }

  valid(): boolean {
    return this.#current !== undefined;
  }

  entry(): Entry {
    const e = this.#current;
    if (e === undefined) throw new Error("ReusingArrayIterator.entry: not valid");
    return e;
  }

  seekToFirst(): void {
    this.#moveTo(0);
  }

  seekToLast(): void {
    this.#moveTo(this.#entries.length - 1);
  }

  seek(target: Uint8Array): void {
    this.#moveTo(this.#entries.findIndex((e) => compareBytes(e.key, target) >= 0));
  }

  seekForPrev(target: Uint8Array): void {
    this.#moveTo(this.#entries.findLastIndex((e) => compareBytes(e.key, target) <= 0));
  }

  next(): void {
    assert(this.valid());
    this.#moveTo(this.#index + 1);
  }

  prev(): void {
    assert(this.valid());
    this.#moveTo(this.#index - 1);
  }

  #moveTo(index: number): void {
    this.#index = index;
    const e = index >= 0 ? this.#entries[index] : undefined;
    if (e === undefined) {
      this.#current = undefined;
      this.#keyBuffer.fill(0xaa);
      return;
    }
    if (!this.#reuse) {
      this.#current = e;
      return;
    }
    this.#keyBuffer.fill(0xaa);
    this.#keyBuffer.set(e.key);
    this.#current = { ...e, key: this.#keyBuffer.subarray(0, e.key.length) };
  }
}

/** Keys drawn from a small space, so children overlap; includes 0x00, 0xff and the empty key. */
function randomKey(rand: () => number): Uint8Array {
  const n = Math.floor(rand() * 60);
  if (n === 0) return new Uint8Array(0);
  if (n < 20) return new Uint8Array([n * 13 & 0xff]);
  if (n < 40) return new Uint8Array([0x00, n * 7 & 0xff]);
  return new Uint8Array([0xff, n & 0xff, 0xff]);
}

function hex(key: Uint8Array): string {
  return Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Copies an entry out of a child, whose key buffer may change when it moves. */
function snapshot(e: Entry): Entry {
  return { ...e, key: e.key.slice() };
}

interface Setup {
  merge: MergeIterator;
  /** The newest entry per key, in key order. */
  model: Entry[];
}

/** When the expiring entries of `randomSetup(rand, { expiry: true })` are past. */
const NOW_MS = 1_700_000_000_000;

/**
 * Random overlapping children. With `tables`, some children are real SSTables of tiny blocks
 * (which read in bulk through their own `collectLive`) and the array children keep their keys
 * (bulk reads hand keys out, so sources must not rewrite them, as the engine's do not); with
 * `expiry`, some puts expire before or after `NOW_MS`.
 */
function randomSetup(
  rand: () => number,
  options: { tables?: boolean; expiry?: boolean } = {},
): Setup {
  const childCount = 1 + Math.floor(rand() * 8);
  const perChild: Map<string, Entry>[] = [];
  for (let c = 0; c < childCount; c++) {
    const entries = new Map<string, Entry>();
    // A quarter of the children are empty.
    const size = rand() < 0.25 ? 0 : Math.floor(rand() * 40);
    for (let i = 0; i < size; i++) {
      const key = randomKey(rand);
      const kind = rand() < 0.3 ? KIND_DELETE : KIND_PUT;
      const value = kind === KIND_PUT ? new Uint8Array([c, i]) : new Uint8Array(0);
      const expireAtMs = options.expiry && kind === KIND_PUT && rand() < 0.3
        ? NOW_MS - 5 + Math.floor(rand() * 10)
        : 0;
      entries.set(hex(key), { key, seq: 0, kind, expireAtMs, value });
    }
    perChild.push(entries);
  }
  // Unique seqs in random order across children, so the newest version sits anywhere.
  const all = perChild.flatMap((m) => [...m.values()]);
  const seqs = all.map((_, i) => i + 1).sort(() => rand() - 0.5);
  all.forEach((e, i) => (e.seq = seqs[i]!));

  const newest = new Map<string, Entry>();
  for (const e of all) {
    const old = newest.get(hex(e.key));
    if (old === undefined || e.seq > old.seq) newest.set(hex(e.key), e);
  }
  const model = [...newest.values()].sort((a, b) => compareBytes(a.key, b.key));

  const fs = new FaultFs();
  const cache = new BlockCache(1 << 20);
  const children = perChild.map((m, c): EntryIterator => {
    const sorted = [...m.values()].sort((a, b) => compareBytes(a.key, b.key));
    if (options.tables && rand() < 0.4) {
      const table = buildTable(fs, `${c}.sst`, sorted, {
        cache,
        fileNumber: c + 1,
        blockSizeBytes: 32 + Math.floor(rand() * 96),
      });
      return table.iterator();
    }
    if (rand() < 0.5) return new ReusingArrayIterator(sorted, !options.tables);
    // A memtable child: its seqs must grow as applied, its contents do not depend on order.
    const table = new Memtable();
    for (const e of sorted.toSorted((a, b) => a.seq - b.seq)) table.apply(e);
    return table.iterator();
  });
  return { merge: new MergeIterator(children), model };
}

function current(it: EntryIterator): Entry | undefined {
  return it.valid() ? snapshot(it.entry()) : undefined;
}

function lowerBound(sorted: Entry[], target: Uint8Array): number {
  let i = 0;
  while (i < sorted.length && compareBytes(sorted[i]!.key, target) < 0) i++;
  return i;
}

Deno.test("MergeIterator yields the newest entry per key in both directions, checked against a model", () => {
  for (const seed of seeds(200)) {
    const rand = random(seed);
    const { merge, model } = randomSetup(rand);
    const label = `seed ${seed}`;

    const fwd: Entry[] = [];
    for (merge.seekToFirst(); merge.valid(); merge.next()) fwd.push(snapshot(merge.entry()));
    assertEquals(fwd, model, label);
    const bwd: Entry[] = [];
    for (merge.seekToLast(); merge.valid(); merge.prev()) bwd.push(snapshot(merge.entry()));
    assertEquals(bwd, model.toReversed(), label);
  }
});

Deno.test("MergeIterator.seek() and seekForPrev() land on the model's neighbours", () => {
  for (const seed of seeds(100)) {
    const rand = random(seed);
    const { merge, model } = randomSetup(rand);
    const targets = [...model.map((e) => e.key), new Uint8Array(0), new Uint8Array([0xff, 0xff])];
    for (let i = 0; i < 30; i++) targets.push(randomKey(rand));
    for (const target of targets) {
      const label = `seed ${seed} target ${hex(target)}`;
      const index = lowerBound(model, target);
      const exact = index < model.length && compareBytes(model[index]!.key, target) === 0;
      merge.seek(target);
      assertEquals(current(merge), model[index], label);
      merge.seekForPrev(target);
      assertEquals(current(merge), exact ? model[index] : model[index - 1], label);
    }
  }
});

Deno.test("MergeIterator switches direction anywhere, like a cursor over the model", () => {
  for (const seed of seeds(200)) {
    const rand = random(seed);
    const { merge, model } = randomSetup(rand);
    if (model.length === 0) continue;
    let position = Math.floor(rand() * model.length);
    merge.seek(model[position]!.key);
    // Half the walks start in reverse mode.
    if (rand() < 0.5) merge.seekForPrev(model[position]!.key);
    for (let step = 0; step < 100; step++) {
      const label = `seed ${seed} step ${step}`;
      assertEquals(current(merge), model[position], label);
      if (rand() < 0.5) {
        merge.next();
        position++;
      } else {
        merge.prev();
        position--;
      }
      if (position < 0 || position >= model.length) {
        assert(!merge.valid(), label);
        position = Math.floor(rand() * model.length);
        if (rand() < 0.5) merge.seek(model[position]!.key);
        else merge.seekForPrev(model[position]!.key);
      }
    }
  }
});

Deno.test("MergeIterator.collectLive yields the model's live entries before a stop key, in chunks", () => {
  // Children of every kind: bulk-reading tables, buffer-reusing arrays and memtables, with
  // tombstones and expiry; stops anywhere, including keys several children hold.
  for (const seed of seeds(150)) {
    const rand = random(seed);
    const { merge, model } = randomSetup(rand, { tables: true, expiry: true });
    const targets = [...model.map((e) => e.key), new Uint8Array(0), new Uint8Array([0xff, 0xff])];
    for (let i = 0; i < 10; i++) targets.push(randomKey(rand));
    for (let i = 0; i < 30; i++) {
      const start = targets[Math.floor(rand() * targets.length)]!;
      const stop = rand() < 0.2 ? undefined : targets[Math.floor(rand() * targets.length)]!;
      const chunk = [1, 2, 5, 1000][Math.floor(rand() * 4)]!;
      const label = `seed ${seed} start ${hex(start)} stop ${stop && hex(stop)} chunk ${chunk}`;
      const from = lowerBound(model, start);
      const to = stop === undefined ? model.length : Math.max(from, lowerBound(model, stop));
      const expected = model.slice(from, to)
        .filter((e) => !isDeadAt(e, NOW_MS))
        .map((e) => [e.key, e.value]);
      // Half the reads begin from a reverse position: the first call turns the children.
      merge.seek(start);
      if (rand() < 0.5 && merge.valid()) {
        merge.seekForPrev(merge.entry().key.slice());
      }
      const got: [Uint8Array, Uint8Array][] = [];
      let moved = 0;
      // One buffer reused as a scan reuses it (stale pairs in its slots).
      const out: PairBuffer = { pairs: [], count: 0 };
      for (let calls = 0;; calls++) {
        assert(calls <= model.length + 1, `${label}: no progress`);
        out.count = 0;
        moved += merge.collectLive(out, chunk, stop, NOW_MS);
        got.push(...out.pairs.slice(0, out.count));
        if (out.count < chunk) break;
      }
      assertEquals(got, expected, label);
      assertEquals(moved, to - from, label);
      assertEquals(current(merge), model[to], label);
      // The merge goes on as a cursor after a bulk read, both ways.
      if (to > 0 && rand() < 0.5) {
        if (merge.valid()) merge.prev();
        else merge.seekToLast();
        assertEquals(current(merge), model[to - 1], `${label}: prev after`);
      } else if (merge.valid()) {
        merge.next();
        assertEquals(current(merge), model[to + 1], `${label}: next after`);
      }
    }
  }
});

function put(key: number[], seq: number): Entry {
  return { key: new Uint8Array(key), seq, kind: KIND_PUT, expireAtMs: 0, value: new Uint8Array() };
}

function del(key: number[], seq: number): Entry {
  return {
    key: new Uint8Array(key),
    seq,
    kind: KIND_DELETE,
    expireAtMs: 0,
    value: new Uint8Array(),
  };
}

Deno.test("MergeIterator lets the highest seq win wherever it is and yields tombstones", () => {
  const older = new ReusingArrayIterator([put([1], 1), put([2], 5), put([3], 3)]);
  const newer = new ReusingArrayIterator([del([1], 4), put([2], 2), put([4], 6)]);
  const middle = new ReusingArrayIterator([put([1], 2), put([3], 7)]);
  const merge = new MergeIterator([older, newer, middle]);
  const seen: [number, number, number][] = [];
  for (merge.seekToFirst(); merge.valid(); merge.next()) {
    const e = merge.entry();
    seen.push([e.key[0]!, e.seq, e.kind]);
  }
  assertEquals(seen, [[1, 4, KIND_DELETE], [2, 5, KIND_PUT], [3, 7, KIND_PUT], [4, 6, KIND_PUT]]);
  merge.seekForPrev(new Uint8Array([2, 0]));
  assertStrictEquals(merge.entry().seq, 5);
  merge.prev();
  assertStrictEquals(merge.entry().seq, 4);
  merge.next();
  assertStrictEquals(merge.entry().seq, 5);
  merge.next();
  assertStrictEquals(merge.entry().seq, 7);
});

Deno.test("MergeIterator over no children or only empty children is never valid", () => {
  for (const children of [[], [new ReusingArrayIterator([]), new Memtable().iterator()]]) {
    const merge = new MergeIterator(children);
    assert(!merge.valid());
    merge.seekToFirst();
    assert(!merge.valid());
    merge.seekToLast();
    assert(!merge.valid());
    merge.seek(new Uint8Array(0));
    assert(!merge.valid());
    merge.seekForPrev(new Uint8Array([0xff]));
    assert(!merge.valid());
    assertThrows(() => merge.entry(), AssertionError);
    assertThrows(() => merge.next(), AssertionError);
    assertThrows(() => merge.prev(), AssertionError);
  }
});

Deno.test("MergeIterator with one child is that child", () => {
  const table = new Memtable();
  [[0x00], [], [0xff, 0xff], [0x10]].forEach((k, i) => table.apply(put(k, i + 1)));
  const merge = new MergeIterator([table.iterator()]);
  const keys: string[] = [];
  for (merge.seekToFirst(); merge.valid(); merge.next()) keys.push(hex(merge.entry().key));
  assertEquals(keys, ["", "00", "10", "ffff"]);
});
