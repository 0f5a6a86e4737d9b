/**
 * A byte-bounded cache of decoded data blocks, shared by every open table (LevelDB's
 * `ShardedLRUCache`, without shards: JavaScript has one thread), evicting in CLOCK order
 * (second chance), an approximation of least recently used.
 *
 * Blocks are keyed by (file number, block offset). Lookups go through a map per file, so a
 * lookup is two `Map.get` calls; `evictFile` drops a deleted table's blocks in one step. A
 * table keeps the `CachedBlock` handles it got, one per data block, and `touch` turns a handle
 * back into its block with no map lookup at all: the point-read path's hit is an array index.
 *
 * Why CLOCK and not a strict LRU list: a hit that moves its node to the front of a linked list
 * writes to the two neighbours and the old front, three objects scattered over the heap, and
 * on a warm cache of thousands of blocks each is a cache miss on the read path. Here a hit only
 * sets the node's `referenced` bit; the cost moves to eviction (on a miss, which reads a block
 * from the file anyway): the oldest node is evicted unless its bit is set, in which case the
 * bit is cleared and the node goes to the front for a second round. Blocks hit since they were
 * last examined therefore survive, as in LRU; a cache that never evicts never reorders.
 *
 * Invariants:
 * - `usageBytes` is the sum of `chargeBytes` of the cached blocks and stays <= `capacityBytes`
 *   after every insert (a block larger than the whole cache is not cached).
 * - Cached blocks are immutable; handing the same `Block` to many readers is safe.
 * - One eviction examines each node at most twice: a node sent round again has its bit
 *   cleared, so the sweep ends.
 *
 * @module
 */

import { BLOCK_CACHE_SIZE_BYTES_DEFAULT } from "../limits.ts";
import { assert } from "../util/assert.ts";
import type { Block } from "./block.ts";

/**
 * A cache entry as `lookup` and `insert` hand it out: its block while cached, `undefined` once
 * evicted (so a handle kept by a table never pins an evicted block).
 */
export interface CachedBlock {
  /** The cached block; `undefined` after eviction. */
  readonly block: Block | undefined;
}

interface Node extends CachedBlock {
  fileNumber: number;
  offset: number;
  block: Block | undefined;
  chargeBytes: number;
  /** Hit since the eviction sweep last passed it: spared once. */
  referenced: boolean;
  /** Towards the most recently used end. */
  newer: Node | undefined;
  /** Towards the least recently used end. */
  older: Node | undefined;
}

/** The block cache. */
export class BlockCache {
  /** Most bytes the cache holds. */
  readonly capacityBytes: number;
  /** Lookups that found their block. */
  hits = 0;
  /** Lookups that did not. */
  misses = 0;
  #usageBytes = 0;
  #count = 0;
  #files = new Map<number, Map<number, Node>>();
  /** Most recently inserted (or sent round again by the eviction sweep). */
  #newest: Node | undefined = undefined;
  /** Next in line for eviction (spared if referenced). */
  #oldest: Node | undefined = undefined;

  /** Creates a cache holding at most `capacityBytes` (0 disables caching). */
  constructor(capacityBytes: number = BLOCK_CACHE_SIZE_BYTES_DEFAULT) {
    assert(
      Number.isSafeInteger(capacityBytes) && capacityBytes >= 0,
      "cache capacity is a non-negative integer",
    );
    this.capacityBytes = capacityBytes;
  }

  /** Bytes currently charged to cached blocks. */
  get usageBytes(): number {
    return this.#usageBytes;
  }

  /** Number of cached blocks. */
  get size(): number {
    return this.#count;
  }

  /** The cached block at (`fileNumber`, `offset`), marked as used. */
  get(fileNumber: number, offset: number): Block | undefined {
    return this.lookup(fileNumber, offset)?.block;
  }

  /** The cache entry at (`fileNumber`, `offset`), marked as used; see `touch`. */
  lookup(fileNumber: number, offset: number): CachedBlock | undefined {
    const node = this.#files.get(fileNumber)?.get(offset);
    if (node === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (!node.referenced) node.referenced = true;
    return node;
  }

  /**
   * The block of a handle from `lookup` or `insert` of this cache, marked as used and counted
   * as a hit; `undefined` (nothing counted: the caller's `lookup` counts the miss) when it was
   * evicted since.
   */
  touch(handle: CachedBlock): Block | undefined {
    const node = handle as Node;
    const block = node.block;
    if (block === undefined) return undefined;
    this.hits++;
    // Test first: a store to a line that is already in that state would dirty it for nothing.
    if (!node.referenced) node.referenced = true;
    return block;
  }

  /**
   * Caches `block`, evicting blocks in CLOCK order to stay within capacity. Returns its handle,
   * or `undefined` when the block is larger than the whole cache (not cached).
   */
  insert(fileNumber: number, offset: number, block: Block): CachedBlock | undefined {
    const chargeBytes = block.chargeBytes;
    let file = this.#files.get(fileNumber);
    const old = file?.get(offset);
    if (old !== undefined) this.#remove(old);
    if (chargeBytes > this.capacityBytes) return undefined;
    while (this.#usageBytes + chargeBytes > this.capacityBytes && this.#oldest !== undefined) {
      const oldest = this.#oldest;
      if (oldest.referenced) {
        // Second chance: go round again, unreferenced.
        oldest.referenced = false;
        this.#unlink(oldest);
        this.#pushNewest(oldest);
      } else {
        this.#remove(oldest);
      }
    }
    if (file === undefined || !this.#files.has(fileNumber)) {
      file = new Map();
      this.#files.set(fileNumber, file);
    }
    const node: Node = {
      fileNumber,
      offset,
      block,
      chargeBytes,
      referenced: false,
      newer: undefined,
      older: undefined,
    };
    file.set(offset, node);
    this.#pushNewest(node);
    this.#usageBytes += chargeBytes;
    this.#count++;
    assert(this.#usageBytes <= this.capacityBytes, "cache usage within capacity");
    return node;
  }

  /** Drops every block of `fileNumber` (its table was deleted). */
  evictFile(fileNumber: number): void {
    const file = this.#files.get(fileNumber);
    if (file === undefined) return;
    for (const node of file.values()) {
      this.#unlink(node);
      node.block = undefined;
      this.#usageBytes -= node.chargeBytes;
      this.#count--;
    }
    this.#files.delete(fileNumber);
  }

  /** Drops every block. */
  clear(): void {
    for (let node = this.#newest; node !== undefined; node = node.older) node.block = undefined;
    this.#files.clear();
    this.#newest = undefined;
    this.#oldest = undefined;
    this.#usageBytes = 0;
    this.#count = 0;
  }

  #remove(node: Node): void {
    this.#unlink(node);
    node.block = undefined;
    const file = this.#files.get(node.fileNumber);
    assert(file !== undefined, "cached node has its file map");
    file.delete(node.offset);
    if (file.size === 0) this.#files.delete(node.fileNumber);
    this.#usageBytes -= node.chargeBytes;
    this.#count--;
  }

  #unlink(node: Node): void {
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.#newest = node.older;
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }

  #pushNewest(node: Node): void {
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest !== undefined) this.#newest.newer = node;
    this.#newest = node;
    if (this.#oldest === undefined) this.#oldest = node;
  }
}
