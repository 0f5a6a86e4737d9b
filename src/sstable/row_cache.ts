/**
 * The row cache: entries that point reads found in the SSTables, kept whole so that a repeated
 * read of the same key costs one hash probe instead of a bloom probe, an index search, a block
 * cache lookup and a walk through a data block (RocksDB's `row_cache`). ARCHITECTURE.md
 * § "Row cache".
 *
 * Why: on a warm block cache a point read of a key in a table touches ~20 cache lines spread
 * over megabytes (bloom bits, index keys, the block's restart array and entries), and those
 * misses, not the instructions, bound it. A hit here touches a word of the presence filter, a
 * bucket of four slots, the key's bytes and the row.
 *
 * Structure: buckets of `ROW_CACHE_WAYS` slots, chosen by the key's `bloomHash` (computed once
 * per read and shared with the tables' bloom filters). Each key has two buckets (two
 * multipliers of the hash): it goes to its first bucket while that has room, else to a slot of
 * either, and the first bucket's overflow bit then tells lookups to try the second, so a few
 * keys too many for one bucket do not evict each other on every pass. A slot holds the full
 * 32-bit hash, where the key's bytes lie, a referenced bit, and the row: the `ValueEntry`-shaped
 * object a read returns as it is (no allocation per hit), its value a view into append-only byte
 * chunks owned by the cache. Replacement is CLOCK-like over the key's two buckets: the first slot
 * not hit since the last replacement passed it goes. A key is admitted on its second recent miss
 * (`#seen`), so a scan of keys read once never churns the cache.
 *
 * Invariants:
 * - The cache is only consulted below the memtables (they hold every newer write), and it is
 *   cleared whenever the set of tables changes (`Version.generation`): a flush, a compaction,
 *   a snapshot install. So a cached row is always what the tables would answer.
 * - Bytes copied into chunks are never overwritten, so a view handed to a reader stays correct
 *   however long it is held.
 * - The slot arrays (22 bytes per slot, the presence filter) + `chargedBytes` <= `capacityBytes`:
 *   `chargedBytes` is the key and value bytes of every row admitted since the cache last
 *   started over (chunks are never reused, so a replaced row's bytes stay charged) plus
 *   `ROW_CACHE_ROW_OVERHEAD_BYTES` per row held; when the next row would exceed the budget the
 *   whole cache starts over.
 *
 * @module
 */

import { ROW_CACHE_ROW_OVERHEAD_BYTES } from "../limits.ts";
import type { Entry, EntryKind } from "../util/entry.ts";

/** Slots per bucket. */
const ROW_CACHE_WAYS = 4;
/** Budget bytes per slot: the slot count follows from the capacity. */
const BYTES_PER_SLOT = 128;
/**
 * Bytes of the slot arrays per slot: four words, a row pointer (compressed), the referenced bit
 * and the doorkeeper's eight bits, as bytes.
 */
const SLOT_ARRAY_BYTES = 16 + 4 + 1 + 1;
/**
 * Bits of the presence filter per slot: with the cache full, ~22% of the keys not cached find
 * their bit set (~7% at a third full) and probe a bucket.
 */
const PRESENT_BITS_PER_SLOT = 4;
/** Size of a shared byte chunk; rows larger than a quarter of it get a chunk of their own. */
const CHUNK_BYTES = 64 * 1024;
/**
 * The overflow bit: the top bit of the chunk word of a bucket's first slot, set once a key of
 * that bucket went to its second bucket. Until then (most buckets, always at moderate load) a
 * lookup probes one bucket, so a key that is not cached costs one cache line, not two.
 */
const OVERFLOW = 0x80000000;
/** The chunk index in a chunk word. */
const CHUNK_INDEX = 0x7fffffff;

const EMPTY = new Uint8Array(0);

/**
 * A cached row: what a point read returns (the engine's `ValueEntry`), handed to
 * every reader of the key as it is, so its fields are never written.
 */
export interface CachedRow {
  /** The entry's kind (tombstones are cached too). */
  readonly kind: EntryKind;
  /** The value, a view into the cache's chunk; empty for tombstones. */
  readonly value: Uint8Array;
  /** Expiry as Unix milliseconds; 0 = never. */
  readonly expireAtMs: number;
  /** Sequence number of the write that produced it. */
  readonly seq: number;
}

/** See the module comment. */
export class RowCache {
  /** Most bytes charged to cached rows (0 disables the cache). */
  readonly capacityBytes: number;
  /** Reads answered from the cache. */
  hits = 0;
  /** Reads the cache could not answer. */
  misses = 0;
  /** The `Version.generation` the rows belong to. */
  generation = -1;
  readonly #bucketMask: number;
  /** `32 - log2(buckets)`: the bucket is the top bits of the mixed hash. */
  readonly #bucketShift: number;
  /**
   * Per slot, 4 words: the hash, the chunk index, offset and length of the row's key. A
   * bucket's slots fill one 64-byte cache line, and a key is compared where its bytes lie,
   * without going through the row's objects. Allocated at the first admission: an unused cache
   * costs nothing.
   */
  #slotWords: Uint32Array | undefined;
  /**
   * One bit per hash value modulo its size, set for every row admitted since the last
   * start-over: a small array (16 KiB for the default 4 MiB) that stays in the CPU cache, so a
   * read of a key that is not cached (most reads of most workloads, and every read of a
   * missing key) usually learns it without touching `#slotWords`.
   */
  #present = new Uint32Array(1);
  #presentMask = 31;
  /** The presence filter's words once the first row is admitted. */
  readonly #presentWords: number;
  #referenced: Uint8Array = EMPTY;
  #rows: (CachedRow | undefined)[] = [];
  /**
   * The doorkeeper: one bit per recent miss (8 bits per slot), indexed by the hash; a key is
   * admitted when its bit is already set. Cleared once a quarter of its bits were set, so it
   * keeps telling "seen recently" from "seen ever".
   */
  #seen: Uint8Array = EMPTY;
  #seenSet = 0;
  /** The chunks rows were copied into since the cache last started over; the last is filled. */
  #chunks: Uint8Array[] = [];
  #chunk: Uint8Array = EMPTY;
  #chunkUsed = 0;
  #chargedBytes = 0;
  #rowBytesMax: number;
  /** The slot arrays and the presence filter: charged against the budget before any row. */
  readonly #fixedBytes: number;

  /** A cache of at most `capacityBytes` (0: disabled, every lookup misses). */
  constructor(capacityBytes: number) {
    this.capacityBytes = capacityBytes;
    let bits = 0;
    while (bits < 24 && (2 ** (bits + 1)) * ROW_CACHE_WAYS * BYTES_PER_SLOT <= capacityBytes) {
      bits++;
    }
    this.#bucketMask = 2 ** bits - 1;
    this.#bucketShift = 32 - bits;
    // One row may not take more than a sixteenth of the budget.
    this.#rowBytesMax = Math.floor(capacityBytes / 16);
    const slots = (this.#bucketMask + 1) * ROW_CACHE_WAYS;
    this.#presentWords = Math.max(1, (slots * PRESENT_BITS_PER_SLOT) / 32);
    this.#fixedBytes = slots * SLOT_ARRAY_BYTES + this.#presentWords * 4;
  }

  /** Bytes charged to the rows held now (the slot arrays' fixed share not included). */
  get chargedBytes(): number {
    return this.#chargedBytes;
  }

  /** The cached row of `key` (whose `bloomHash` is `hash`), or `undefined`. */
  get(key: Uint8Array, hash: number): CachedRow | undefined {
    const bit = hash & this.#presentMask;
    if ((this.#present[bit >>> 5]! & (1 << (bit & 31))) !== 0) {
      const first = this.#bucket(hash) * ROW_CACHE_WAYS;
      let s = this.#find(key, hash, first);
      if (s < 0 && this.#slotWords![first * 4 + 1]! >= OVERFLOW) {
        s = this.#find(key, hash, this.#otherBucket(hash) * ROW_CACHE_WAYS);
      }
      // An emptied slot's words are 0: no key matches them (the empty key's hash is not 0).
      const row = s >= 0 ? this.#rows[s] : undefined;
      if (row !== undefined) {
        if (this.#referenced[s] === 0) this.#referenced[s] = 1;
        this.hits++;
        return row;
      }
    }
    this.misses++;
    return undefined;
  }

  /** The slot of `key` among the bucket's from `first`, or -1. */
  #find(key: Uint8Array, hash: number, first: number): number {
    const words = this.#slotWords!;
    const n = key.length;
    for (let s = first; s < first + ROW_CACHE_WAYS; s++) {
      const w = s * 4;
      if (words[w] !== hash || words[w + 3] !== n) continue;
      const bytes = this.#chunks[words[w + 1]! & CHUNK_INDEX]!;
      const start = words[w + 2]!;
      // From the end: keys of one hash that differ are rare, and neighbouring keys share
      // long prefixes, so the end tells them apart soonest.
      let i = n - 1;
      while (i >= 0 && bytes[start + i] === key[i]) i--;
      if (i < 0) return s;
    }
    return -1;
  }

  /**
   * Offers `entry`, just read from the tables for `key` (hash `hash`) after `get` missed. It is
   * copied in on the key's second recent miss, and the row is returned; otherwise `undefined`.
   * The cache keeps no reference to `entry`.
   */
  offer(key: Uint8Array, hash: number, entry: Entry): CachedRow | undefined {
    if (this.capacityBytes === 0) return undefined;
    const charge = key.length + entry.value.length + ROW_CACHE_ROW_OVERHEAD_BYTES;
    if (charge > this.#rowBytesMax || this.#fixedBytes + charge > this.capacityBytes) {
      return undefined;
    }
    const slots = (this.#bucketMask + 1) * ROW_CACHE_WAYS;
    if (this.#seen.length === 0) this.#seen = new Uint8Array(slots);
    const seen = this.#seen;
    const seenBit = hash & (slots * 8 - 1);
    const mask = 1 << (seenBit & 7);
    if ((seen[seenBit >>> 3]! & mask) === 0) {
      seen[seenBit >>> 3] = seen[seenBit >>> 3]! | mask;
      if (++this.#seenSet > slots * 2) {
        seen.fill(0);
        this.#seenSet = 0;
      }
      return undefined;
    }
    if (this.#fixedBytes + this.#chargedBytes + charge > this.capacityBytes) this.#reset();
    let words = this.#slotWords;
    if (words === undefined) {
      words = this.#slotWords = new Uint32Array(slots * 4);
      this.#referenced = new Uint8Array(slots);
      this.#rows = new Array<CachedRow | undefined>(slots).fill(undefined);
      // Nothing was admitted yet, so no bit of the one-word filter is set.
      this.#present = new Uint32Array(this.#presentWords);
      this.#presentMask = this.#presentWords * 32 - 1;
    }
    const first = this.#bucket(hash) * ROW_CACHE_WAYS;
    const slot = this.#victim(first, this.#otherBucket(hash) * ROW_CACHE_WAYS);
    if (slot < first || slot >= first + ROW_CACHE_WAYS) {
      words[first * 4 + 1] = words[first * 4 + 1]! | OVERFLOW;
    }
    const value = entry.value;
    const bytes = this.#room(key.length + value.length);
    const start = this.#chunkUsed - key.length - value.length;
    bytes.set(key, start);
    if (value.length > 0) bytes.set(value, start + key.length);
    // The replaced row's bytes stay in their chunk (views of them may be held), so only its
    // overhead is given back.
    if (this.#rows[slot] !== undefined) this.#chargedBytes -= ROW_CACHE_ROW_OVERHEAD_BYTES;
    const w = slot * 4;
    words[w] = hash;
    words[w + 1] = (words[w + 1]! & OVERFLOW) | (this.#chunks.length - 1);
    words[w + 2] = start;
    words[w + 3] = key.length;
    const bit = hash & this.#presentMask;
    this.#present[bit >>> 5] = this.#present[bit >>> 5]! | (1 << (bit & 31));
    this.#referenced[slot] = 0;
    const row: CachedRow = {
      kind: entry.kind,
      value: value.length === 0
        ? EMPTY
        : new Uint8Array(bytes.buffer, bytes.byteOffset + start + key.length, value.length),
      expireAtMs: entry.expireAtMs,
      seq: entry.seq,
    };
    this.#rows[slot] = row;
    this.#chargedBytes += charge;
    return row;
  }

  /**
   * The slot a new row takes among the key's two buckets (from `first` and `second`): the first
   * empty one (its own bucket's first), else the first not hit since the sweep last passed it,
   * clearing the referenced bits as the sweep goes (CLOCK over both buckets).
   */
  #victim(first: number, second: number): number {
    const rows = this.#rows;
    for (let s = first; s < first + ROW_CACHE_WAYS; s++) if (rows[s] === undefined) return s;
    for (let s = second; s < second + ROW_CACHE_WAYS; s++) if (rows[s] === undefined) return s;
    const referenced = this.#referenced;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2 * ROW_CACHE_WAYS; i++) {
        const s = i < ROW_CACHE_WAYS ? first + i : second + i - ROW_CACHE_WAYS;
        if (referenced[s] === 0) return s;
        referenced[s] = 0;
      }
    }
    return first;
  }

  /** Drops every row and starts serving `generation`. */
  clear(generation: number): void {
    this.generation = generation;
    if (this.#chargedBytes > 0) this.#reset();
  }

  #reset(): void {
    if (this.#slotWords !== undefined) {
      this.#slotWords.fill(0);
      this.#referenced.fill(0);
      this.#rows.fill(undefined);
      this.#present.fill(0);
    }
    this.#chunks = [];
    this.#chunk = EMPTY;
    this.#chunkUsed = 0;
    this.#chargedBytes = 0;
  }

  /** A chunk with `bytes` reserved at its end (`#chunkUsed` moved past them). */
  #room(bytes: number): Uint8Array {
    if (bytes > CHUNK_BYTES / 4) {
      // A chunk of its own: `#chunkUsed` must describe it, so it becomes the current one.
      this.#chunk = new Uint8Array(bytes);
      this.#chunks.push(this.#chunk);
      this.#chunkUsed = bytes;
      return this.#chunk;
    }
    if (this.#chunkUsed + bytes > this.#chunk.length) {
      this.#chunk = new Uint8Array(CHUNK_BYTES);
      this.#chunks.push(this.#chunk);
      this.#chunkUsed = 0;
    }
    this.#chunkUsed += bytes;
    return this.#chunk;
  }

  #bucket(hash: number): number {
    // The bloom hash's low bits are its weakest: multiply, then take the top bits (with no
    // bits, `>>> 32` shifts by 0 and the mask of 0 still gives bucket 0).
    return (Math.imul(hash, 0x9e3779b1) >>> this.#bucketShift) & this.#bucketMask;
  }

  /**
   * The key's second bucket, from another multiplier: a key whose own bucket is full of hot
   * rows goes there, so a few keys too many for one bucket do not evict each other.
   */
  #otherBucket(hash: number): number {
    return (Math.imul(hash, 0x85ebca6b) >>> this.#bucketShift) & this.#bucketMask;
  }
}
