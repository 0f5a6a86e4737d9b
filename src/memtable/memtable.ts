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
 * Layout: like LevelDB's arena, every node is a record in one `Uint32Array` and is named by its
 * offset there (its address); keys are copied back to back into one byte arena. A record is
 *
 *     +0 prefix   first 4 key bytes, big-endian, zero-padded
 *     +1 index    position of the node's entry in `#entries`
 *     +2 keyStart offset of the key in the key arena
 *     +3 keyLen   key length in bytes
 *     +4 prev     address of the level-0 predecessor (HEAD for the first node)
 *     +5… next    address of the successor at level 0, 1, … height-1 (HEAD = none)
 *
 * so one step of a search (read a link, compare the target's prefix) touches one cache line,
 * and an insert allocates no JS object, so the garbage collector never copies nodes. Measured
 * on 500 K random 16-byte keys, this fills ~3× faster than one JS object per node did.
 *
 * Invariants:
 * - Level-0 links (`next[0]` forwards, `prev` backwards) form a doubly linked list of all
 *   nodes in strictly ascending unsigned-byte key order; one node per user key.
 * - A node is never unlinked, never moves and its key never changes; replacing a key's value
 *   swaps the node's entry in place. Addresses are stable, so iterators hold one.
 * - Sequence numbers applied strictly increase, so a node's entry is the newest of its key.
 * - `sizeBytes` = Σ over nodes of (key bytes + value bytes + `MEMTABLE_ENTRY_OVERHEAD_BYTES`).
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { type Entry, type EntryIterator, KIND_DELETE, KIND_PUT } from "../util/entry.ts";
import { KEY_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";

/**
 * Memory charged per entry on top of its key and value bytes, so that many small entries still
 * fill the memtable's budget. Measured on V8 (Deno 2.9, pointer compression) by filling a
 * memtable with 134 K entries (16-byte keys, 100-byte values: one 64 MiB memtable) and taking
 * the heap + external growth minus the key and value bytes: ~345 B per entry when key and value
 * are views into a shared buffer (as a decoder makes them), ~420 B when each has its own
 * `ArrayBuffer`. That is the `Entry` object (~72 B), two `Uint8Array` views (~110 B each), the
 * key copy and node record (~40 B) and the slack of half-filled arrays after doubling. 384 sits
 * between the two cases.
 */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 384;

/**
 * Tallest tower. With branching factor 4 (below), 12 levels keep searches O(log n) up to
 * 4^12 ≈ 16.7 M entries, far more than a 64 MiB memtable holds at 384 B overhead each.
 */
const HEIGHT_MAX = 12;

// Node record fields, as offsets from the node's address (see the module comment).
const PREFIX = 0;
const INDEX = 1;
const KEY_START = 2;
const KEY_LEN = 3;
const PREV = 4;
const NEXT = 5;

/** Address of the head sentinel. As a link it means "none": nothing ever links to the head. */
const HEAD = 0;

/** Record words and key-arena bytes allocated up front; both double from here. */
const CAPACITY_INITIAL = 16 * 1024;

/** The seed of the level generator: fixed, so that a memtable's shape is reproducible. */
const LEVEL_SEED = 0x9e3779b9;

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

// Module-private accessors filled in by Memtable's static block: they let the iterator walk
// the skip list without making node addresses part of the public surface.
let nodeFirst: (m: Memtable) => number;
let nodeLast: (m: Memtable) => number;
let nodeNext: (m: Memtable, node: number) => number;
let nodePrev: (m: Memtable, node: number) => number;
let nodeEntry: (m: Memtable, node: number) => Entry;
let nodeSeek: (m: Memtable, key: Uint8Array) => number;
let nodeSeekForPrev: (m: Memtable, key: Uint8Array) => number;

/**
 * An ordered in-memory table with the newest entry per user key. Not thread-safe (there are no
 * threads); iterators stay valid across any number of `apply` calls.
 */
export class Memtable {
  /** Node records; see the module comment. Replaced by a larger copy when full. */
  #nodes: Uint32Array;
  #nodesUsed = 0;
  /** Copies of every key, back to back. Replaced by a larger copy when full. */
  #arena: Uint8Array;
  #arenaUsed = 0;
  /** The newest entry per node, by the node's INDEX field; [0] belongs to the head. */
  readonly #entries: Entry[] = [];
  /** The last node at level 0, or HEAD when empty: makes `seekToLast` O(1). */
  #tail = HEAD;
  /** Levels in use (1…HEIGHT_MAX); searches start at `#height - 1`. */
  #height = 1;
  /** xorshift32 state for tower heights. */
  #rng = LEVEL_SEED;
  /** Scratch for the per-level predecessors during an insert, reused to avoid allocation. */
  /** Shared-prefix length found by the last `#compareFrom`. */
  #lcp = 0;
  readonly #splice = new Uint32Array(HEIGHT_MAX);
  #sizeBytes = 0;
  #minSeq = 0;
  #maxSeq = 0;

  /** Creates an empty memtable. */
  constructor() {
    this.#nodes = new Uint32Array(CAPACITY_INITIAL);
    this.#arena = new Uint8Array(CAPACITY_INITIAL);
    const empty = new Uint8Array(0);
    // The head's key is never compared; its tower has every level, all "none".
    this.#newNode(
      { key: empty, seq: 0, kind: KIND_DELETE, expireAtMs: 0, value: empty },
      0,
      HEIGHT_MAX,
    );
  }

  /** Distinct keys held (tombstones included). */
  get count(): number {
    return this.#entries.length - 1;
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
    return this.#entries.length === 1;
  }

  /**
   * Stores `entry` as the newest version of its key, replacing any older one in place. The key
   * bytes are copied; the entry object and its value are kept by reference, so the caller must
   * not mutate them afterwards. REQUIRES: entry.seq > every seq applied before.
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
    const nodes = this.#nodes;
    const splice = this.#splice;
    let x = HEAD;
    // A node already compared as greater at a higher level needs no second comparison below.
    let bigger = HEAD;
    // Every node between x and bigger shares min(lcpLo, lcpHi) leading bytes with the key
    // (it sorts between two keys that share them), so comparisons skip those bytes: sensor
    // keys share ~20 (`sensor.site3.temp.`).
    let lcpLo = 0;
    let lcpHi = 0;
    for (let level = this.#height - 1; level >= 0; level--) {
      for (;;) {
        const nx = nodes[x + NEXT + level]!;
        if (nx === HEAD || nx === bigger) break;
        const c = this.#compareFrom(key, prefix, nx, lcpLo < lcpHi ? lcpLo : lcpHi);
        if (c === 0) {
          this.#replace(nx, entry);
          return;
        }
        if (c < 0) {
          bigger = nx;
          lcpHi = this.#lcp;
          break;
        }
        x = nx;
        lcpLo = this.#lcp;
      }
      splice[level] = x;
    }

    const height = this.#randomHeight();
    if (height > this.#height) {
      for (let level = this.#height; level < height; level++) splice[level] = HEAD;
      this.#height = height;
    }
    const node = this.#newNode(entry, prefix, height);
    // Re-read: #newNode may have replaced the array with a larger copy.
    const grownNodes = this.#nodes;
    for (let level = 0; level < height; level++) {
      const link = splice[level]! + NEXT + level;
      grownNodes[node + NEXT + level] = grownNodes[link]!;
      grownNodes[link] = node;
    }
    grownNodes[node + PREV] = splice[0]!;
    const after = grownNodes[node + NEXT]!;
    if (after === HEAD) this.#tail = node;
    else grownNodes[after + PREV] = node;

    this.#sizeBytes += key.length + entry.value.length + MEMTABLE_ENTRY_OVERHEAD_BYTES;
    if (this.#minSeq === 0) this.#minSeq = seq;
    this.#maxSeq = seq;
  }

  /** The newest entry for `key` (tombstones included: the caller decides), or `undefined`. */
  get(key: Uint8Array): Entry | undefined {
    const node = this.#findGreaterOrEqual(key);
    if (node === HEAD || this.#compare(key, keyPrefix(key), node) !== 0) return undefined;
    return this.#entries[this.#nodes[node + INDEX]!]!;
  }

  /**
   * A cursor over all entries in key order. It stays valid while entries are applied: moving
   * on from a node follows the live links, so keys inserted ahead of the cursor are seen and no
   * existing key is skipped or repeated. `entry()` returns the node's entry at call time.
   */
  iterator(): MemtableIterator {
    return new MemtableIterator(this);
  }

  /**
   * Orders (`key`, `prefix`) against `node`'s key like `compareBytes`. When the prefixes are
   * equal, the first min(4, shorter length) bytes are equal real bytes, so the byte loop
   * starts after them.
   */
  #compare(key: Uint8Array, prefix: number, node: number): number {
    const nodes = this.#nodes;
    const nodePrefix = nodes[node + PREFIX]!;
    if (prefix !== nodePrefix) return prefix < nodePrefix ? -1 : 1;
    const arena = this.#arena;
    const start = nodes[node + KEY_START]!;
    const length = nodes[node + KEY_LEN]!;
    const n = key.length < length ? key.length : length;
    for (let i = n < 4 ? n : 4; i < n; i++) {
      const d = key[i]! - arena[start + i]!;
      if (d !== 0) return d;
    }
    return key.length - length;
  }

  /**
   * `#compare` for searches that know `key` shares its first `from` bytes with `node`'s key
   * (see `apply`), so the byte loop starts there. Sets `#lcp` to a lower bound of the bytes
   * the two keys share (exact when the byte loop ran).
   */
  #compareFrom(key: Uint8Array, prefix: number, node: number, from: number): number {
    const nodes = this.#nodes;
    if (from < 4) {
      const nodePrefix = nodes[node + PREFIX]!;
      if (prefix !== nodePrefix) {
        this.#lcp = from;
        return prefix < nodePrefix ? -1 : 1;
      }
    }
    const arena = this.#arena;
    const start = nodes[node + KEY_START]!;
    const length = nodes[node + KEY_LEN]!;
    const n = key.length < length ? key.length : length;
    let i = from < 4 ? (n < 4 ? n : 4) : from;
    for (; i < n; i++) {
      const d = key[i]! - arena[start + i]!;
      if (d !== 0) {
        this.#lcp = i;
        return d;
      }
    }
    this.#lcp = n;
    return key.length - length;
  }

  /** Appends an unlinked node with a tower of `height` and a copy of the key; its address. */
  #newNode(entry: Entry, prefix: number, height: number): number {
    const node = this.#nodesUsed;
    const words = NEXT + height;
    if (node + words > this.#nodes.length) {
      // Addresses are Uint32 values.
      assert(this.#nodes.length * 2 <= 2 ** 32, "Memtable: node records over 2^32 words");
      const nodes = new Uint32Array(this.#nodes.length * 2);
      nodes.set(this.#nodes);
      this.#nodes = nodes;
    }
    const key = entry.key;
    if (this.#arenaUsed + key.length > this.#arena.length) {
      let capacity = this.#arena.length * 2;
      while (capacity < this.#arenaUsed + key.length) capacity *= 2;
      // Key offsets are Uint32 values.
      assert(capacity <= 2 ** 32, "Memtable: key arena over 4 GiB");
      const arena = new Uint8Array(capacity);
      arena.set(this.#arena.subarray(0, this.#arenaUsed));
      this.#arena = arena;
    }
    const nodes = this.#nodes;
    nodes[node + PREFIX] = prefix;
    nodes[node + INDEX] = this.#entries.length;
    nodes[node + KEY_START] = this.#arenaUsed;
    nodes[node + KEY_LEN] = key.length;
    // PREV and the links are already 0 (HEAD, "none"): a fresh array is zeroed and records
    // are never reused.
    this.#entries.push(entry);
    this.#arena.set(key, this.#arenaUsed);
    this.#arenaUsed += key.length;
    this.#nodesUsed = node + words;
    return node;
  }

  /** Swaps `node`'s entry for the newer `entry` with the same key. */
  #replace(node: number, entry: Entry): void {
    const entries = this.#entries;
    const index = this.#nodes[node + INDEX]!;
    this.#sizeBytes += entry.value.length - entries[index]!.value.length;
    entries[index] = entry;
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
    // Two random bits per level: the tower grows while both are zero.
    let height = 1;
    while (height < HEIGHT_MAX && (r & 3) === 0) {
      height++;
      r >>>= 2;
    }
    return height;
  }

  /** The first node with key ≥ `key`, or HEAD when there is none. */
  #findGreaterOrEqual(key: Uint8Array): number {
    const prefix = keyPrefix(key);
    const nodes = this.#nodes;
    let x = HEAD;
    let bigger = HEAD;
    let lcpLo = 0;
    let lcpHi = 0;
    for (let level = this.#height - 1; level >= 0; level--) {
      for (;;) {
        const nx = nodes[x + NEXT + level]!;
        if (nx === HEAD || nx === bigger) break;
        const c = this.#compareFrom(key, prefix, nx, lcpLo < lcpHi ? lcpLo : lcpHi);
        if (c === 0) return nx;
        if (c < 0) {
          bigger = nx;
          lcpHi = this.#lcp;
          break;
        }
        x = nx;
        lcpLo = this.#lcp;
      }
    }
    return nodes[x + NEXT]!;
  }

  /** The last node with key ≤ `key`, or HEAD when there is none. */
  #findLessOrEqual(key: Uint8Array): number {
    const node = this.#findGreaterOrEqual(key);
    if (node === HEAD) return this.#tail;
    if (this.#compare(key, keyPrefix(key), node) === 0) return node;
    return this.#nodes[node + PREV]!;
  }

  static {
    nodeFirst = (m) => m.#nodes[HEAD + NEXT]!;
    nodeLast = (m) => m.#tail;
    nodeNext = (m, node) => m.#nodes[node + NEXT]!;
    nodePrev = (m, node) => m.#nodes[node + PREV]!;
    nodeEntry = (m, node) => m.#entries[m.#nodes[node + INDEX]!]!;
    nodeSeek = (m, key) => m.#findGreaterOrEqual(key);
    nodeSeekForPrev = (m, key) => m.#findLessOrEqual(key);
  }
}

/**
 * A cursor over a `Memtable`, from `Memtable.iterator()`. Holds one node address; every move
 * reads the live links, so it stays correct across interleaved `apply` calls.
 */
export class MemtableIterator implements EntryIterator {
  readonly #table: Memtable;
  /** The current node, or HEAD when not positioned. */
  #node = HEAD;

  /** Creates an unpositioned cursor over `table`; prefer `table.iterator()`. */
  constructor(table: Memtable) {
    this.#table = table;
  }

  /** True when positioned at an entry. */
  valid(): boolean {
    return this.#node !== HEAD;
  }

  /** The current entry (the newest for its key at call time). REQUIRES: valid(). */
  entry(): Entry {
    assert(this.#node !== HEAD, "MemtableIterator.entry: not valid");
    return nodeEntry(this.#table, this.#node);
  }

  /** Positions at the first entry. */
  seekToFirst(): void {
    this.#node = nodeFirst(this.#table);
  }

  /** Positions at the last entry. */
  seekToLast(): void {
    this.#node = nodeLast(this.#table);
  }

  /** Positions at the first entry whose key is ≥ `target`. */
  seek(target: Uint8Array): void {
    this.#node = nodeSeek(this.#table, target);
  }

  /** Positions at the last entry whose key is ≤ `target`. */
  seekForPrev(target: Uint8Array): void {
    this.#node = nodeSeekForPrev(this.#table, target);
  }

  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void {
    assert(this.#node !== HEAD, "MemtableIterator.next: not valid");
    this.#node = nodeNext(this.#table, this.#node);
  }

  /** Moves to the previous entry in O(1) through the level-0 back link. REQUIRES: valid(). */
  prev(): void {
    assert(this.#node !== HEAD, "MemtableIterator.prev: not valid");
    this.#node = nodePrev(this.#table, this.#node);
  }
}
