/**
 * The cursor over a `Memtable`. It walks the skip list through `memtableNodes`, accessors that
 * `Memtable`'s static block fills in, so node addresses stay off the public surface.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import type { Entry, EntryIterator } from "../util/entry.ts";
import type { Memtable } from "./memtable.ts";

/** The head sentinel's address: as a link it means "none" (`Memtable`'s `HEAD`). */
const NONE = 0;

/** Node accessors of `Memtable`, filled in by its static block. Private to `src/memtable/`. */
export const memtableNodes = {
  first: (_m: Memtable): number => NONE,
  last: (_m: Memtable): number => NONE,
  next: (_m: Memtable, _node: number): number => NONE,
  prev: (_m: Memtable, _node: number): number => NONE,
  entry: undefined as unknown as (m: Memtable, node: number) => Entry,
  seq: (_m: Memtable, _node: number): number => 0,
  seek: (_m: Memtable, _key: Uint8Array): number => NONE,
  seekForPrev: (_m: Memtable, _key: Uint8Array): number => NONE,
  /** Levels in use, and the successor of `node` at `level` (for tests of the towers). */
  height: (_m: Memtable): number => 1,
  nextAt: (_m: Memtable, _node: number, _level: number): number => NONE,
};

/**
 * A cursor over a `Memtable`, from `Memtable.iterator()`. Holds one node address; every move
 * reads the live links, so it stays correct across interleaved `apply` calls.
 */
export class MemtableIterator implements EntryIterator {
  readonly #table: Memtable;
  /** The current node, or NONE when not positioned. */
  #node = NONE;
  /** The entry built for `#node` at `#cachedSeq`: merges ask for it several times. */
  #cached: Entry | undefined;
  #cachedNode = NONE;
  #cachedSeq = 0;

  /** Creates an unpositioned cursor over `table`; prefer `table.iterator()`. */
  constructor(table: Memtable) {
    this.#table = table;
  }

  /** True when positioned at an entry. */
  valid(): boolean {
    return this.#node !== NONE;
  }

  /** The current entry (the newest for its key at call time). REQUIRES: valid(). */
  entry(): Entry {
    const node = this.#node;
    assert(node !== NONE, "MemtableIterator.entry: not valid");
    const seq = memtableNodes.seq(this.#table, node);
    if (this.#cached === undefined || this.#cachedNode !== node || this.#cachedSeq !== seq) {
      this.#cached = memtableNodes.entry(this.#table, node);
      this.#cachedNode = node;
      this.#cachedSeq = seq;
    }
    return this.#cached;
  }

  /** Positions at the first entry. */
  seekToFirst(): void {
    this.#node = memtableNodes.first(this.#table);
  }

  /** Positions at the last entry. */
  seekToLast(): void {
    this.#node = memtableNodes.last(this.#table);
  }

  /** Positions at the first entry whose key is >= `target`. */
  seek(target: Uint8Array): void {
    this.#node = memtableNodes.seek(this.#table, target);
  }

  /** Positions at the last entry whose key is <= `target`. */
  seekForPrev(target: Uint8Array): void {
    this.#node = memtableNodes.seekForPrev(this.#table, target);
  }

  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void {
    assert(this.#node !== NONE, "MemtableIterator.next: not valid");
    this.#node = memtableNodes.next(this.#table, this.#node);
  }

  /** Moves to the previous entry in O(1) through the level-0 back link. REQUIRES: valid(). */
  prev(): void {
    assert(this.#node !== NONE, "MemtableIterator.prev: not valid");
    this.#node = memtableNodes.prev(this.#table, this.#node);
  }
}
