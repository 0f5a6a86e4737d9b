/**
 * The memtable: an ordered in-memory table holding the newest entry per user key, as a skip
 * list (LevelDB's `db/skiplist.h`, Pugh 1990). Structure and byte accounting: ARCHITECTURE.md
 * § "Memtable".
 *
 * Why a skip list and not a sorted array or a balanced tree: scan iterators are advanced across
 * `await`s while writers keep inserting on the same thread. A skip list never moves or unlinks
 * a node, so an iterator that holds a node stays valid forever and simply follows the level-0
 * links, which already include keys inserted after it was positioned.
 *
 * Invariants:
 * - Level-0 links (`next[0]` forwards, `prev` backwards) form a doubly linked list of all
 *   nodes in strictly ascending unsigned-byte key order; one node per user key.
 * - A node is never unlinked and its key never changes; replacing a key's value swaps the
 *   node's `entry` in place.
 * - Sequence numbers applied are strictly increasing, so the entry a node holds is always the
 *   newest version of its key.
 * - `sizeBytes` = Σ over nodes of (key bytes + value bytes + `MEMTABLE_ENTRY_OVERHEAD_BYTES`).
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { type Entry, type EntryIterator, KIND_DELETE, KIND_PUT } from "../util/entry.ts";
import { KEY_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";

/**
 * Memory charged per entry on top of its key and value bytes, so that many small entries still
 * fill the memtable's budget. Measured on V8 (Deno 2.9, pointer compression) with a throwaway
 * heap-delta script: a node object (~40 B), its `next` array (~16 B header + 4 B per level,
 * 1.33 levels on average), the `Entry` object (~32 B) and two `Uint8Array` views (~72 B each
 * when they are subarrays of a shared buffer, as the WAL decoder produces) come to ~230 B.
 * Rounded to 256 so that the charge errs on the side of flushing early.
 */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 256;

/**
 * Tallest tower. With branching factor 4 (below), 12 levels keep searches O(log n) up to
 * 4^12 ≈ 16.7 M entries, far more than a 64 MiB memtable can hold at 256 B overhead each.
 */
const HEIGHT_MAX = 12;

/** The seed of the level generator: fixed, so that a memtable's shape is reproducible. */
const LEVEL_SEED = 0x9e3779b9;

/** One key's tower. `next[i]` is the successor at level i; `prev` is the level-0 predecessor. */
class Node {
  /** The newest entry for `key`; replaced in place on overwrite. */
  entry: Entry;
  /** The key, kept beside the entry so the search loop touches one object less. */
  readonly key: Uint8Array;
  /** The first 4 key bytes big-endian (zero-padded): most comparisons stop here. */
  readonly prefix: number;
  /** Forward links, one per level of this tower; `null` ends a level. */
  readonly next: (Node | null)[];
  /** Level-0 backward link; `null` for the first node (never the head sentinel). */
  prev: Node | null;

  constructor(entry: Entry, key: Uint8Array, prefix: number, height: number) {
    this.entry = entry;
    this.key = key;
    this.prefix = prefix;
    // A literal fill keeps the array packed (no holes), so V8 keeps element access fast.
    const next = new Array<Node | null>(height);
    for (let i = 0; i < height; i++) next[i] = null;
    this.next = next;
    this.prev = null;
  }
}

/**
 * The first 4 bytes of `key` as an unsigned big-endian number, missing bytes as 0. If two
 * prefixes differ, they order the keys exactly as `compareBytes` does: at the first differing
 * byte either both keys have real bytes, or the shorter key has a padding 0 against a non-zero
 * byte of a longer key it is a prefix of, and a prefix sorts first.
 */
function keyPrefix(key: Uint8Array): number {
  const n = key.length;
  if (n >= 4) return ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  let p = 0;
  for (let i = 0; i < 4; i++) p = p * 256 + (i < n ? key[i]! : 0);
  return p;
}

/**
 * Orders (`key`, `prefix`) against `node` like `compareBytes(key, node.key)`. When the
 * prefixes are equal, the first min(4, shorter length) bytes are equal real bytes, so the
 * byte loop starts after them.
 */
function compareToNode(key: Uint8Array, prefix: number, node: Node): number {
  const np = node.prefix;
  if (prefix !== np) return prefix < np ? -1 : 1;
  const other = node.key;
  const n = key.length < other.length ? key.length : other.length;
  for (let i = n < 4 ? n : 4; i < n; i++) {
    const d = key[i]! - other[i]!;
    if (d !== 0) return d;
  }
  return key.length - other.length;
}

// Module-private accessors filled in by Memtable's static block: they let the iterator reach
// the skip list without making its nodes part of the public surface.
let memtableFirst: (m: Memtable) => Node | null;
let memtableLast: (m: Memtable) => Node | null;
let memtableFindGreaterOrEqual: (m: Memtable, key: Uint8Array) => Node | null;

/**
 * An ordered in-memory table with the newest entry per user key. Not thread-safe (there are no
 * threads); iterators stay valid across any number of `apply` calls.
 */
export class Memtable {
  /** Sentinel before the first node; its key is never compared. */
  readonly #head: Node;
  /** The last node at level 0, or `null` when empty: makes `seekToLast` O(1). */
  #tail: Node | null = null;
  /** Levels in use (1…HEIGHT_MAX); searches start at `#height - 1`. */
  #height = 1;
  /** xorshift32 state for tower heights. */
  #rng = LEVEL_SEED;
  /** Scratch for the per-level predecessors during an insert, reused to avoid allocation. */
  readonly #splice: Node[];
  #count = 0;
  #sizeBytes = 0;
  #minSeq = 0;
  #maxSeq = 0;

  /** Creates an empty memtable. */
  constructor() {
    const empty = new Uint8Array(0);
    this.#head = new Node(
      { key: empty, seq: 0, kind: KIND_DELETE, expireAtMs: 0, value: empty },
      empty,
      0,
      HEIGHT_MAX,
    );
    this.#splice = new Array<Node>(HEIGHT_MAX);
    for (let i = 0; i < HEIGHT_MAX; i++) this.#splice[i] = this.#head;
  }

  /** Distinct keys held (tombstones included). */
  get count(): number {
    return this.#count;
  }

  /** Charged bytes: key + value + `MEMTABLE_ENTRY_OVERHEAD_BYTES` per key held. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /**
   * The first sequence number applied, or 0 when empty. Seqs only grow, so the memtable covers
   * every write in [minSeq, maxSeq] even if the entry that carried `minSeq` was replaced since.
   */
  get minSeq(): number {
    return this.#minSeq;
  }

  /** The last sequence number applied, or 0 when empty. */
  get maxSeq(): number {
    return this.#maxSeq;
  }

  /** True when nothing was applied. */
  get isEmpty(): boolean {
    return this.#count === 0;
  }

  /**
   * Stores `entry` as the newest version of its key, replacing any older one in place. The
   * memtable keeps references to `entry` and its buffers; the caller must not mutate them.
   * REQUIRES: entry.seq > every seq applied before.
   */
  apply(entry: Entry): void {
    const seq = entry.seq;
    assert(Number.isSafeInteger(seq), "Memtable.apply: seq is not a safe integer");
    assert(seq > this.#maxSeq, "Memtable.apply: seq does not grow");
    assert(entry.key.length <= KEY_SIZE_BYTES_MAX, "Memtable.apply: key too large");
    assert(entry.value.length <= VALUE_SIZE_BYTES_MAX, "Memtable.apply: value too large");
    assert(
      entry.kind === KIND_PUT || entry.value.length === 0,
      "Memtable.apply: tombstone with a value",
    );

    const key = entry.key;
    const prefix = keyPrefix(key);
    const splice = this.#splice;
    let x = this.#head;
    // A node already compared as greater at a higher level needs no second comparison below.
    let bigger: Node | null = null;
    for (let level = this.#height - 1; level >= 0; level--) {
      for (;;) {
        const nx: Node | null = x.next[level]!;
        if (nx === null || nx === bigger) break;
        const c = compareToNode(key, prefix, nx);
        if (c === 0) {
          this.#replace(nx, entry);
          return;
        }
        if (c < 0) {
          bigger = nx;
          break;
        }
        x = nx;
      }
      splice[level] = x;
    }

    const height = this.#randomHeight();
    if (height > this.#height) {
      for (let level = this.#height; level < height; level++) splice[level] = this.#head;
      this.#height = height;
    }
    const node = new Node(entry, key, prefix, height);
    for (let level = 0; level < height; level++) {
      const before = splice[level]!;
      node.next[level] = before.next[level]!;
      before.next[level] = node;
    }
    const before0 = splice[0]!;
    node.prev = before0 === this.#head ? null : before0;
    const after0 = node.next[0]!;
    if (after0 === null) this.#tail = node;
    else after0.prev = node;

    this.#count++;
    this.#sizeBytes += key.length + entry.value.length + MEMTABLE_ENTRY_OVERHEAD_BYTES;
    if (this.#minSeq === 0) this.#minSeq = seq;
    this.#maxSeq = seq;
  }

  /** The newest entry for `key` (tombstones included: the caller decides), or `undefined`. */
  get(key: Uint8Array): Entry | undefined {
    const node = this.#findGreaterOrEqual(key);
    if (node === null || compareToNode(key, keyPrefix(key), node) !== 0) return undefined;
    return node.entry;
  }

  /**
   * A cursor over all entries in key order. It stays valid while entries are applied: moving
   * on from a node follows the live links, so keys inserted ahead of the cursor are seen and no
   * existing key is skipped or repeated. `entry()` returns the node's entry at call time.
   */
  iterator(): MemtableIterator {
    return new MemtableIterator(this);
  }

  /** Swaps `node`'s entry for the newer `entry` with the same key. */
  #replace(node: Node, entry: Entry): void {
    this.#sizeBytes += entry.value.length - node.entry.value.length;
    node.entry = entry;
    if (this.#minSeq === 0) this.#minSeq = entry.seq;
    this.#maxSeq = entry.seq;
  }

  /** A height in 1…HEIGHT_MAX, each extra level with probability 1/4 (LevelDB's branching). */
  #randomHeight(): number {
    let r = this.#rng;
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    r >>>= 0;
    this.#rng = r;
    // Two random bits per level: the level grows while they are both zero.
    let height = 1;
    while (height < HEIGHT_MAX && (r & 3) === 0) {
      height++;
      r >>>= 2;
    }
    return height;
  }

  /** The first node with key ≥ `key`, or `null`. */
  #findGreaterOrEqual(key: Uint8Array): Node | null {
    const prefix = keyPrefix(key);
    let x = this.#head;
    let bigger: Node | null = null;
    for (let level = this.#height - 1; level >= 0; level--) {
      for (;;) {
        const nx: Node | null = x.next[level]!;
        if (nx === null || nx === bigger) break;
        const c = compareToNode(key, prefix, nx);
        if (c === 0) return nx;
        if (c < 0) {
          bigger = nx;
          break;
        }
        x = nx;
      }
    }
    return x.next[0]!;
  }

  /** Node access for `MemtableIterator`, which lives in this module. */
  static {
    memtableFirst = (m) => m.#head.next[0]!;
    memtableLast = (m) => m.#tail;
    memtableFindGreaterOrEqual = (m, key) => m.#findGreaterOrEqual(key);
  }
}

/**
 * A cursor over a `Memtable`, from `Memtable.iterator()`. Holds one node; every move follows
 * live links, so it stays correct across interleaved `apply` calls.
 */
export class MemtableIterator implements EntryIterator {
  readonly #table: Memtable;
  #node: Node | null = null;

  /** Creates an unpositioned cursor over `table`; prefer `table.iterator()`. */
  constructor(table: Memtable) {
    this.#table = table;
  }

  /** True when positioned at an entry. */
  valid(): boolean {
    return this.#node !== null;
  }

  /** The current entry (the newest for its key at call time). REQUIRES: valid(). */
  entry(): Entry {
    const node = this.#node;
    assert(node !== null, "MemtableIterator.entry: not valid");
    return node.entry;
  }

  /** Positions at the first entry. */
  seekToFirst(): void {
    this.#node = memtableFirst(this.#table);
  }

  /** Positions at the last entry. */
  seekToLast(): void {
    this.#node = memtableLast(this.#table);
  }

  /** Positions at the first entry whose key is ≥ `target`. */
  seek(target: Uint8Array): void {
    this.#node = memtableFindGreaterOrEqual(this.#table, target);
  }

  /** Positions at the last entry whose key is ≤ `target`. */
  seekForPrev(target: Uint8Array): void {
    const node = memtableFindGreaterOrEqual(this.#table, target);
    if (node === null) this.#node = memtableLast(this.#table);
    else if (compareToNode(target, keyPrefix(target), node) === 0) this.#node = node;
    else this.#node = node.prev;
  }

  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void {
    const node = this.#node;
    assert(node !== null, "MemtableIterator.next: not valid");
    this.#node = node.next[0]!;
  }

  /** Moves to the previous entry in O(1) through the level-0 back link. REQUIRES: valid(). */
  prev(): void {
    const node = this.#node;
    assert(node !== null, "MemtableIterator.prev: not valid");
    this.#node = node.prev;
  }
}
