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
 * offset there (its address); key and value bytes are copied into append-only byte chunks. No
 * JS object exists per entry (an `Entry` object and two `Uint8Array` views cost ~300 bytes of
 * V8 heap each): `get` and iterators build an `Entry` only when asked. A record is
 *
 *     +0  prefix     first 4 key bytes, big-endian, zero-padded
 *     +1  keyChunk   index of the byte chunk holding the key
 *     +2  keyStart   offset of the key in that chunk
 *     +3  keyLen     key length in bytes
 *     +4  valChunk   index of the byte chunk holding the value
 *     +5  valStart   offset of the value in that chunk
 *     +6  valLen     value length in bytes
 *     +7  seqHi      sequence number = seqHi * 2^32 + seqLo
 *     +8  seqLo
 *     +9  expHi      expireAtMs = expHi * 2^32 + expLo (0 = never)
 *     +10 expLo
 *     +11 kind       the entry kind
 *     +12 prev       address of the level-0 predecessor (HEAD for the first node)
 *     +13... next      address of the successor at level 0, 1, ... height-1 (HEAD = none)
 *
 * so one step of a search (read a link, compare the target's prefix) touches one cache line,
 * and an insert allocates no JS object, so the garbage collector never copies nodes.
 *
 * Invariants:
 * - Level-0 links (`next[0]` forwards, `prev` backwards) form a doubly linked list of all
 *   nodes in strictly ascending unsigned-byte key order; one node per user key.
 * - A node is never unlinked, never moves and its key never changes; replacing a key's value
 *   rewrites the node's value, seq, expiry and kind fields in place. Addresses are stable, so
 *   iterators hold one.
 * - Byte chunks are append-only: bytes once written never change, so a view handed out by
 *   `get` or an iterator stays correct for as long as it is held.
 * - Sequence numbers applied strictly increase, so a node's entry is the newest of its key.
 * - `sizeBytes` = sum of bytes copied into chunks (keys, and every value ever applied: a replaced
 *   value stays in its chunk) + `MEMTABLE_ENTRY_OVERHEAD_BYTES` per node.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { type Entry, type EntryKind, KIND_DELETE } from "../util/entry.ts";
import { KEY_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";
import { copyInto, fingerSlot, keyPrefix, keyPrefixAt } from "./_keys.ts";
import { MemtableIterator, memtableNodes } from "./iterator.ts";

export { MemtableIterator };

/**
 * Memory charged per key on top of its key and value bytes, so that many small entries still
 * fill the memtable's budget: the node record (13 words + 1.33 tower links on average = 57
 * bytes), plus the slack of the record array, which grows by 1.5× when full, plus the unused
 * tail of byte chunks. Measured on V8 (Deno 2.9) by filling a
 * memtable with 1 M entries of 16-byte keys and 100-byte values and taking the heap + external
 * growth minus the key and value bytes (tests/memtable/memtable_test.ts asserts the bound):
 * see ARCHITECTURE.md § "Byte accounting".
 */
export const MEMTABLE_ENTRY_OVERHEAD_BYTES = 96;

/** Size of a shared byte chunk; keys and values up to a sixteenth of it share chunks. */
const CHUNK_BYTES = 1 << 20;
/** Larger key+value pairs get a chunk of their own, sized exactly. */
const SHARED_ITEM_BYTES_MAX = CHUNK_BYTES >>> 4;

/**
 * Tallest tower. With branching factor 4 (below), 12 levels keep searches O(log n) up to
 * 4^12 ~ 16.7 M entries, far more than a 64 MiB memtable holds.
 */
const HEIGHT_MAX = 12;

// Node record fields, as offsets from the node's address (see the module comment).
const PREFIX = 0;
const KEY_CHUNK = 1;
const KEY_START = 2;
const KEY_LEN = 3;
const VAL_CHUNK = 4;
const VAL_START = 5;
const VAL_LEN = 6;
const SEQ_HI = 7;
const SEQ_LO = 8;
const EXP_HI = 9;
const EXP_LO = 10;
const KIND = 11;
const PREV = 12;
const NEXT = 13;

const TWO_32 = 2 ** 32;

/** Address of the head sentinel. As a link it means "none": nothing ever links to the head. */
const HEAD = 0;

/** Record words allocated up front without a size hint; the array grows from here. */
const CAPACITY_INITIAL = 16 * 1024;

/**
 * Record words reserved per entry a size hint allows: the node (NEXT words) and its tower
 * links (4/3 on average), rounded up.
 */
const HINT_WORDS_PER_ENTRY = NEXT + 2;
/** Smallest charge of an entry the hint counts on: the overhead and a short key and value. */
const HINT_BYTES_PER_ENTRY = MEMTABLE_ENTRY_OVERHEAD_BYTES + 16;
/** Most record words a size hint reserves (4 GiB of budget at the rates above). */
const HINT_WORDS_MAX = 2 ** 29;

/** The seed of the level generator: fixed, so that a memtable's shape is reproducible. */
const LEVEL_SEED = 0x9e3779b9;

const EMPTY = new Uint8Array(0);

/** Insert fingers kept per memtable (a power of two): runs growing at once, hashed. */
const FINGER_SLOTS = 128;
/** Words of one finger: the node, then a start point per level (see `Memtable.#insert`). */
const FINGER_WORDS = 1 + HEIGHT_MAX;

/** VAL_LEN of a new node whose value room (right after its key) is not filled yet. */
const RESERVED_VALUE = 0xffff_ffff;

/**
 * An ordered in-memory table with the newest entry per user key. Not thread-safe (there are no
 * threads); iterators stay valid across any number of `apply` calls.
 */
export class Memtable {
  /** Node records; see the module comment. Replaced by a larger copy when full. */
  #nodes: Uint32Array;
  #nodesUsed = 0;
  /** Append-only byte chunks holding every key and value copied in. */
  readonly #chunks: Uint8Array[] = [];
  /** The shared chunk being filled (the last shared one in `#chunks`), and its fill. */
  #chunk = -1;
  #chunkUsed = 0;
  #count = 0;
  /** The last node at level 0, or HEAD when empty: makes `seekToLast` O(1). */
  #tail = HEAD;
  /** Levels in use (1...HEIGHT_MAX); searches start at `#height - 1`. */
  #height = 1;
  /** xorshift32 state for tower heights. */
  #rng = LEVEL_SEED;
  /** Shared-prefix length found by the last `#compareFrom`. */
  #lcp = 0;
  /** Scratch for the per-level predecessors during an insert, reused to avoid allocation. */
  readonly #splice = new Uint32Array(HEIGHT_MAX);
  /** Insert fingers (see `#insert`): FINGER_SLOTS records of FINGER_WORDS, created on first use. */
  #fingers: Uint32Array | undefined;
  /**
   * Per finger slot, 1 when its last insert went through the finger (a run): only then does
   * `get` ask the finger (see `#fingerGet`), so random keys never pay its comparisons.
   */
  #fingerRuns = new Uint8Array(FINGER_SLOTS);
  /** Slots at 1 in `#fingerRuns`: with none, `get` skips even the slot's hash. */
  #fingerRunCount = 0;
  /** The chunk `#reserve` chose (its return value is the start). */
  #reservedChunk = 0;
  #sizeBytes = 0;
  #minSeq = 0;
  #maxSeq = 0;

  /**
   * Creates an empty memtable. `sizeBytesHint` is the charge it will be flushed at (the
   * engine's memtable budget): the node records for that many small entries are allocated at
   * once, so that filling it never copies them into a larger array. Growing from a small array
   * copied every record ~3 times and touched the copies' fresh pages (page faults and memmove
   * were ~7% of the 256-writer row's CPU); the pages of the unused tail are never touched, so
   * they cost address space, not memory.
   */
  constructor(sizeBytesHint = 0) {
    const hinted = Math.ceil(sizeBytesHint / HINT_BYTES_PER_ENTRY) * HINT_WORDS_PER_ENTRY;
    this.#nodes = new Uint32Array(
      Math.max(CAPACITY_INITIAL, Math.min(HINT_WORDS_MAX, hinted || 0)),
    );
    // The head's key is never compared; its tower has every level, all "none".
    this.#nodesUsed = NEXT + HEIGHT_MAX;
  }

  /** Distinct keys held (tombstones included). */
  get count(): number {
    return this.#count;
  }

  /** Charged bytes: bytes copied in (keys, every value applied) + overhead per key held. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /**
   * Bytes of memory the memtable holds in its own arrays (node records and byte chunks, used or
   * not): what it really costs, against `sizeBytes`, what it is charged.
   */
  get allocatedBytes(): number {
    let bytes = this.#nodes.byteLength;
    for (const chunk of this.#chunks) bytes += chunk.byteLength;
    return bytes;
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
   * Stores `entry` as the newest version of its key, replacing any older one in place. Key and
   * value bytes are copied, so the caller may reuse its buffers afterwards.
   * REQUIRES: entry.seq > every seq applied before.
   */
  apply(entry: Entry): void {
    const key = entry.key;
    const value = entry.value;
    this.applyAt(
      key,
      0,
      key.length,
      value,
      0,
      value.length,
      entry.seq,
      entry.kind,
      entry.expireAtMs,
    );
  }

  /**
   * `apply` for a key and a value given as ranges of byte arrays (the write path passes the
   * WAL record it has just encoded, so that no `Uint8Array` is made per key or value): the key
   * is `keyBytes[keyStart, keyStart + keyLength)`, the value likewise. The bytes are copied.
   * REQUIRES: seq > every seq applied before.
   */
  applyAt(
    keyBytes: Uint8Array,
    keyStart: number,
    keyLength: number,
    valueBytes: Uint8Array,
    valueStart: number,
    valueLength: number,
    seq: number,
    kind: EntryKind,
    expireAtMs: number,
  ): void {
    // Constant messages: a message built before each check costs more than the check.
    assert(Number.isSafeInteger(seq), "Memtable.apply: seq is not a safe integer");
    assert(seq > this.#maxSeq, "Memtable.apply: seq does not grow");
    assert(keyLength <= KEY_SIZE_BYTES_MAX, "Memtable.apply: key too large");
    assert(valueLength <= VALUE_SIZE_BYTES_MAX, "Memtable.apply: value too large");
    assert(kind !== KIND_DELETE || valueLength === 0, "Memtable.apply: tombstone with a value");
    assert(
      Number.isSafeInteger(expireAtMs) && expireAtMs >= 0,
      "Memtable.apply: bad expireAtMs",
    );
    const node = this.#insert(keyBytes, keyStart, keyLength, valueLength);
    this.#setValue(node, valueBytes, valueStart, valueLength);
    const nodes = this.#nodes;
    nodes[node + SEQ_HI] = Math.floor(seq / TWO_32);
    nodes[node + SEQ_LO] = seq >>> 0;
    nodes[node + EXP_HI] = Math.floor(expireAtMs / TWO_32);
    nodes[node + EXP_LO] = expireAtMs >>> 0;
    nodes[node + KIND] = kind;
    if (this.#minSeq === 0) this.#minSeq = seq;
    this.#maxSeq = seq;
  }

  /**
   * The node of the key `kb[ko, ko + kl)`: the existing one, or a new one linked in (its key
   * copied, its value fields still to be set, with room for `vl` value bytes right after the
   * key when they fit the same chunk).
   *
   * Fingers: keys often arrive as runs that each grow at one end (sensor series: a name, then
   * a rising timestamp; a list's items: indexes falling at its head, rising at its tail),
   * interleaved with other runs. Per slot (keys whose bytes up to the last
   * `FINGER_SUFFIX_BYTES` hash to it) the node touched last is kept, with a start point per
   * level: a node below that node's key whose tower reaches the level (or HEAD). When the new
   * key falls between that node and its live level-0 neighbour on either side, the insert
   * needs no search from the head: level 0's predecessor is that node or its predecessor, and
   * each other level the new node's tower needs (one in four inserts needs level 1, one in
   * sixteen level 2...) is walked forward from its start point, which is below the new key
   * either way (nothing lies between the node and its predecessor). A key that is the node's
   * neighbour moves the finger there (a queue's pops walk its items one by one). Otherwise
   * (random keys) the finger costs two or three comparisons of recently used nodes, and the
   * search runs from the head, which leaves the finger on the node it found or linked in.
   *
   * The start points stay strictly below the slot's node: an insert sets the levels of the new
   * node's tower to its predecessors there and keeps the others (below the old node, so below
   * its predecessor and the new node, which follows it or sits right before it); a search from
   * the head records its whole splice; a move forward keeps them all; a move back replaces any
   * that is the node moved to (see `#fingerBack`).
   */
  #insert(kb: Uint8Array, ko: number, kl: number, vl: number): number {
    const prefix = keyPrefixAt(kb, ko, kl);
    const splice = this.#splice;
    const fingers = this.#fingers ??= new Uint32Array(FINGER_SLOTS * FINGER_WORDS);
    const slot = fingerSlot(kb, ko, kl, FINGER_SLOTS);
    const base = slot * FINGER_WORDS;
    let height = 0;
    if (fingers[base] !== HEAD) {
      height = this.#fingerSplice(kb, ko, kl, prefix, fingers, base);
      if (height < 0) {
        this.#setRun(slot, 1);
        return -height;
      }
    }
    const fromHead = height === 0;
    this.#setRun(slot, fromHead ? 0 : 1);
    if (fromHead) {
      // The search compares many keys: against a view of the key its loops index from 0, which
      // costs less than the view (measured ~8% of a random-key insert).
      const key = ko === 0 && kl === kb.length ? kb : kb.subarray(ko, ko + kl);
      const nodes = this.#nodes;
      let x = HEAD;
      // A node already compared as greater at a higher level needs no second comparison below.
      let bigger = HEAD;
      // Every node between x and bigger shares min(lcpLo, lcpHi) leading bytes with the key
      // (it sorts between two keys that share them), so comparisons skip those bytes: sensor
      // keys share ~20 (`sensor.site3.temp.`).
      let lcpLo = 0;
      let lcpHi = 0;
      let found = HEAD;
      for (let level = this.#height - 1; level >= 0; level--) {
        for (;;) {
          const nx = nodes[x + NEXT + level]!;
          if (nx === HEAD || nx === bigger) break;
          const c = this.#compareFrom(key, prefix, nx, lcpLo < lcpHi ? lcpLo : lcpHi);
          if (c <= 0) {
            // Equal: the key is there; the levels below still find its predecessors (each a
            // step or two), so that the finger can start at it.
            if (c === 0) found = nx;
            bigger = nx;
            lcpHi = this.#lcp;
            break;
          }
          x = nx;
          lcpLo = this.#lcp;
        }
        splice[level] = x;
      }
      if (found !== HEAD) {
        fingers[base] = found;
        for (let level = 1; level < HEIGHT_MAX; level++) {
          fingers[base + 1 + level] = level < this.#height ? splice[level]! : HEAD;
        }
        return found;
      }
      height = this.#randomHeight();
      if (height > this.#height) {
        for (let level = this.#height; level < height; level++) splice[level] = HEAD;
        this.#height = height;
      }
    }

    const node = this.#newNode(kb, ko, kl, vl, prefix, height);
    // Read after #newNode, which may have replaced the array with a larger copy.
    const nodes = this.#nodes;
    for (let level = 0; level < height; level++) {
      const link = splice[level]! + NEXT + level;
      nodes[node + NEXT + level] = nodes[link]!;
      nodes[link] = node;
    }
    nodes[node + PREV] = splice[0]!;
    const after = nodes[node + NEXT]!;
    if (after === HEAD) this.#tail = node;
    else nodes[after + PREV] = node;
    this.#count++;
    this.#sizeBytes += MEMTABLE_ENTRY_OVERHEAD_BYTES;
    fingers[base] = node;
    const top = fromHead ? HEIGHT_MAX : height;
    for (let level = 1; level < top; level++) {
      fingers[base + 1 + level] = level < this.#height ? splice[level]! : HEAD;
    }
    return node;
  }

  /**
   * The finger step of `#insert` (see there) for the finger at `fingers[base]`: when the key
   * sorts right after the finger's node or right before it, fills `#splice` for a new node,
   * raises `#height` if needed and returns the node's height; returns -node when the key is
   * the finger's node or a neighbour of it (the finger moves there), 0 when the finger does
   * not help.
   */
  #fingerSplice(
    kb: Uint8Array,
    ko: number,
    kl: number,
    prefix: number,
    fingers: Uint32Array,
    base: number,
  ): number {
    const f = fingers[base]!;
    const c = this.#compareAt(kb, ko, kl, prefix, f, 0);
    if (c === 0) return -f;
    const nodes = this.#nodes;
    // The new node's level-0 predecessor: f, or f's predecessor when the key sorts before f.
    let below = f;
    if (c > 0) {
      const after = nodes[f + NEXT]!;
      if (after !== HEAD) {
        const c2 = this.#compareAt(kb, ko, kl, prefix, after, 0);
        if (c2 > 0) return 0;
        if (c2 === 0) {
          // Moving forward: every start point is below f, so below `after`.
          fingers[base] = after;
          return -after;
        }
      }
    } else {
      below = nodes[f + PREV]!;
      if (below !== HEAD) {
        const c2 = this.#compareAt(kb, ko, kl, prefix, below, 0);
        if (c2 < 0) return 0;
        if (c2 === 0) return -this.#fingerBack(fingers, base, below);
      }
    }
    // No node lies between `below` and the key; the start points are all below the key (they
    // are below f, so at most f's predecessor): only the tower's levels above 0 need a walk.
    const height = this.#randomHeight();
    const splice = this.#splice;
    splice[0] = below;
    for (let level = 1; level < height; level++) {
      let x = fingers[base + 1 + level]!;
      for (;;) {
        const nx = nodes[x + NEXT + level]!;
        if (nx === HEAD || this.#compareAt(kb, ko, kl, prefix, nx, 0) < 0) break;
        x = nx;
      }
      splice[level] = x;
    }
    if (height > this.#height) this.#height = height;
    return height;
  }

  /**
   * Moves the finger at `fingers[base]` back to `node`, its node's level-0 predecessor, and
   * returns `node`. The start points were below the old node, so at most `node`; one that is
   * `node` (its tower reaches that level) takes the start point of the level above, which is
   * below `node` (fixed first, top down) and reaches this level too.
   */
  #fingerBack(fingers: Uint32Array, base: number, node: number): number {
    fingers[base] = node;
    for (let level = this.#height - 1; level >= 1; level--) {
      if (fingers[base + 1 + level] === node) {
        fingers[base + 1 + level] = level + 1 < HEIGHT_MAX ? fingers[base + 2 + level]! : HEAD;
      }
    }
    return node;
  }

  /** The newest entry for `key` (tombstones included: the caller decides), or `undefined`. */
  get(key: Uint8Array): Entry | undefined {
    // Every read asks the active memtable first, and right after a flush it is empty.
    if (this.#count === 0) return undefined;
    const hit = this.#fingerGet(key);
    if (hit !== HEAD) return this.#entryAt(hit);
    const node = this.#findGreaterOrEqual(key);
    if (node === HEAD || this.#compare(key, keyPrefix(key), node) !== 0) return undefined;
    return this.#entryAt(node);
  }

  /**
   * The node of `key` when it is the node of its slot's finger (see `#insert`) or a level-0
   * neighbour of it, which the finger then moves to; HEAD otherwise. A queue reads the item
   * next to the one it popped last (LPOP, RPOP), then deletes it: the read finds it here and
   * leaves the finger on it for the delete, where two searches from the head ran. Only a slot
   * whose last insert went through its finger is asked (a miss stops that until the next one):
   * for random keys the finger's node and its neighbour are cache misses of their own.
   */
  #fingerGet(key: Uint8Array): number {
    const fingers = this.#fingers;
    if (fingers === undefined || this.#fingerRunCount === 0) return HEAD;
    const n = key.length;
    const slot = fingerSlot(key, 0, n, FINGER_SLOTS);
    if (this.#fingerRuns[slot] === 0) return HEAD;
    const base = slot * FINGER_WORDS;
    const f = fingers[base]!;
    const prefix = keyPrefix(key);
    const c = this.#compareAt(key, 0, n, prefix, f, 0);
    if (c === 0) return f;
    const nodes = this.#nodes;
    const near = c > 0 ? nodes[f + NEXT]! : nodes[f + PREV]!;
    if (near === HEAD || this.#compareAt(key, 0, n, prefix, near, 0) !== 0) {
      this.#setRun(slot, 0);
      return HEAD;
    }
    if (c < 0) return this.#fingerBack(fingers, base, near);
    // Moving forward: every start point is below f, so below `near`.
    fingers[base] = near;
    return near;
  }

  /** Sets finger slot `slot`'s entry in `#fingerRuns` to `run` (0 or 1), keeping the count. */
  #setRun(slot: number, run: number): void {
    const runs = this.#fingerRuns;
    this.#fingerRunCount += run - runs[slot]!;
    runs[slot] = run;
  }

  /**
   * A cursor over all entries in key order. It stays valid while entries are applied: moving
   * on from a node follows the live links, so keys inserted ahead of the cursor are seen and no
   * existing key is skipped or repeated. `entry()` returns the node's entry at call time.
   */
  iterator(): MemtableIterator {
    return new MemtableIterator(this);
  }

  /** Builds the `Entry` of `node` (views into the byte chunks). */
  #entryAt(node: number): Entry {
    const nodes = this.#nodes;
    const keyStart = nodes[node + KEY_START]!;
    const valLen = nodes[node + VAL_LEN]!;
    const valStart = nodes[node + VAL_START]!;
    return {
      key: this.#chunks[nodes[node + KEY_CHUNK]!]!.subarray(
        keyStart,
        keyStart + nodes[node + KEY_LEN]!,
      ),
      seq: nodes[node + SEQ_HI]! * TWO_32 + nodes[node + SEQ_LO]!,
      kind: nodes[node + KIND]! as EntryKind,
      expireAtMs: nodes[node + EXP_HI]! * TWO_32 + nodes[node + EXP_LO]!,
      value: valLen === 0
        ? EMPTY
        : this.#chunks[nodes[node + VAL_CHUNK]!]!.subarray(valStart, valStart + valLen),
    };
  }

  /**
   * Room for `bytes` in a chunk: the shared chunk when the item is small and fits, a fresh
   * shared chunk when it is small and does not, or a chunk of its own. Sets `#reservedChunk`
   * to the chunk's index and returns where the item goes in it: at `#chunkUsed` of a shared
   * chunk, or at 0 of its own.
   */
  #reserve(bytes: number): number {
    if (bytes > SHARED_ITEM_BYTES_MAX) {
      this.#chunks.push(new Uint8Array(bytes));
      this.#reservedChunk = this.#chunks.length - 1;
      return 0;
    }
    if (this.#chunk < 0 || this.#chunkUsed + bytes > CHUNK_BYTES) {
      this.#chunks.push(new Uint8Array(CHUNK_BYTES));
      this.#chunk = this.#chunks.length - 1;
      this.#chunkUsed = 0;
    }
    const start = this.#chunkUsed;
    this.#chunkUsed += bytes;
    this.#reservedChunk = this.#chunk;
    return start;
  }

  /**
   * Points `node`'s value fields at `vb[vo, vo + vl)`: at the bytes right after the key when
   * `#newNode` reserved them there (a fresh node has VAL_CHUNK set and VAL_LEN 0), else at a
   * copy in a chunk (a replaced value stays where it was and keeps being charged).
   */
  #setValue(node: number, vb: Uint8Array, vo: number, vl: number): void {
    const nodes = this.#nodes;
    if (vl > 0) {
      let chunk: number;
      let start: number;
      if (nodes[node + VAL_LEN] === RESERVED_VALUE) {
        chunk = nodes[node + VAL_CHUNK]!;
        start = nodes[node + VAL_START]!;
      } else {
        start = this.#reserve(vl);
        chunk = this.#reservedChunk;
      }
      copyInto(this.#chunks[chunk]!, start, vb, vo, vl);
      nodes[node + VAL_CHUNK] = chunk;
      nodes[node + VAL_START] = start;
    }
    nodes[node + VAL_LEN] = vl;
    this.#sizeBytes += vl;
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
    const bytes = this.#chunks[nodes[node + KEY_CHUNK]!]!;
    const start = nodes[node + KEY_START]!;
    const length = nodes[node + KEY_LEN]!;
    const n = key.length < length ? key.length : length;
    for (let i = n < 4 ? n : 4; i < n; i++) {
      const d = key[i]! - bytes[start + i]!;
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
    const bytes = this.#chunks[nodes[node + KEY_CHUNK]!]!;
    const start = nodes[node + KEY_START]!;
    const length = nodes[node + KEY_LEN]!;
    const n = key.length < length ? key.length : length;
    let i = from < 4 ? (n < 4 ? n : 4) : from;
    for (; i < n; i++) {
      const d = key[i]! - bytes[start + i]!;
      if (d !== 0) {
        this.#lcp = i;
        return d;
      }
    }
    this.#lcp = n;
    return key.length - length;
  }

  /**
   * `#compareFrom` for the key `kb[ko, ko + kl)` (the insert side). Sets `#lcp` likewise.
   */
  #compareAt(
    kb: Uint8Array,
    ko: number,
    kl: number,
    prefix: number,
    node: number,
    from: number,
  ): number {
    const nodes = this.#nodes;
    if (from < 4) {
      const nodePrefix = nodes[node + PREFIX]!;
      if (prefix !== nodePrefix) {
        this.#lcp = from;
        return prefix < nodePrefix ? -1 : 1;
      }
    }
    const bytes = this.#chunks[nodes[node + KEY_CHUNK]!]!;
    const start = nodes[node + KEY_START]!;
    const length = nodes[node + KEY_LEN]!;
    const n = kl < length ? kl : length;
    let i = from < 4 ? (n < 4 ? n : 4) : from;
    for (; i < n; i++) {
      const d = kb[ko + i]! - bytes[start + i]!;
      if (d !== 0) {
        this.#lcp = i;
        return d;
      }
    }
    this.#lcp = n;
    return kl - length;
  }

  /**
   * Appends an unlinked node with a tower of `height` for the key `kb[ko, ko + kl)`, copying
   * the key, with room for `vl` value bytes right after it (so a lookup that finds the key
   * finds its first value next to it); returns its address. Its value fields say where that
   * room is, with VAL_LEN `RESERVED_VALUE` until `#setValue` fills it.
   */
  #newNode(
    kb: Uint8Array,
    ko: number,
    kl: number,
    vl: number,
    prefix: number,
    height: number,
  ): number {
    const node = this.#nodesUsed;
    const words = NEXT + height;
    if (node + words > this.#nodes.length) {
      // Growing by 1.5× rather than 2× keeps the average unused tail at ~17% instead of ~33%.
      const capacity = Math.ceil(this.#nodes.length * 1.5);
      // Addresses are Uint32 values.
      assert(capacity <= 2 ** 32, "Memtable: node records over 2^32 words");
      const nodes = new Uint32Array(capacity);
      nodes.set(this.#nodes);
      this.#nodes = nodes;
    }
    const start = this.#reserve(kl + vl);
    const chunk = this.#reservedChunk;
    copyInto(this.#chunks[chunk]!, start, kb, ko, kl);
    const nodes = this.#nodes;
    nodes[node + PREFIX] = prefix;
    nodes[node + KEY_CHUNK] = chunk;
    nodes[node + KEY_START] = start;
    nodes[node + KEY_LEN] = kl;
    nodes[node + VAL_CHUNK] = chunk;
    nodes[node + VAL_START] = start + kl;
    nodes[node + VAL_LEN] = RESERVED_VALUE;
    // PREV and the links are already 0 (HEAD, "none"): a fresh array is zeroed and records
    // are never reused.
    this.#nodesUsed = node + words;
    this.#sizeBytes += kl;
    return node;
  }

  /** A height in 1...HEIGHT_MAX, each extra level with probability 1/4 (LevelDB's branching). */
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

  /** The first node with key >= `key`, or HEAD when there is none. */
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

  /** The last node with key <= `key`, or HEAD when there is none. */
  #findLessOrEqual(key: Uint8Array): number {
    const node = this.#findGreaterOrEqual(key);
    if (node === HEAD) return this.#tail;
    if (this.#compare(key, keyPrefix(key), node) === 0) return node;
    return this.#nodes[node + PREV]!;
  }

  static {
    memtableNodes.first = (m) => m.#nodes[HEAD + NEXT]!;
    memtableNodes.last = (m) => m.#tail;
    memtableNodes.next = (m, node) => m.#nodes[node + NEXT]!;
    memtableNodes.prev = (m, node) => m.#nodes[node + PREV]!;
    memtableNodes.entry = (m, node) => m.#entryAt(node);
    memtableNodes.seq = (m, node) => m.#nodes[node + SEQ_HI]! * TWO_32 + m.#nodes[node + SEQ_LO]!;
    memtableNodes.seek = (m, key) => m.#findGreaterOrEqual(key);
    memtableNodes.seekForPrev = (m, key) => m.#findLessOrEqual(key);
    memtableNodes.height = (m) => m.#height;
    memtableNodes.nextAt = (m, node, level) => m.#nodes[node + NEXT + level]!;
  }
}
