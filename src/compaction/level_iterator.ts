/**
 * The level iterator: one ordered view over the tables of a level whose key ranges are
 * disjoint, walking them one after the other (LevelDB's concatenating iterator over a level's
 * files in `db/version_set.cc`). ARCHITECTURE.md § "Merge iterator".
 *
 * A scan of a leveled tree merges the memtables, the level-0 tables and one of these per deeper
 * level, instead of one child per table: a seek then positions one table per level (not every
 * table of the tree), and each step of the merge compares against a handful of children.
 *
 * Invariants:
 * - `files` are sorted by key and their ranges `[smallestKey, largestKey]` do not overlap
 *   (asserted when the iterator is made), so concatenating them is already in key order.
 * - When valid, the current file's iterator is valid; when the current file runs out, the
 *   iterator moves to the next (or previous) file, skipping empty ones in a bounded loop.
 * - A file's iterator is made the first time the walk reaches the file and kept until the
 *   level iterator is dropped.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { compareBytes } from "../util/bytes.ts";
import { collectLiveFrom, type Entry, type EntryIterator, type PairBuffer } from "../util/entry.ts";

/** One table of a level, as the level iterator needs it. */
export interface LevelFile {
  /** The smallest key in the table. */
  smallestKey: Uint8Array;
  /** The largest key in the table. */
  largestKey: Uint8Array;
  /** A new, unpositioned iterator over the table. */
  iterator(): EntryIterator;
}

/** Concatenates the iterators of key-disjoint tables sorted by key. */
export class LevelIterator implements EntryIterator {
  readonly #files: readonly LevelFile[];
  readonly #iterators: (EntryIterator | undefined)[];
  /** Index of the current file, -1 when not positioned. */
  #index = -1;
  #current: EntryIterator | undefined = undefined;

  /** An unpositioned iterator over `files` (sorted by key, ranges disjoint). */
  constructor(files: readonly LevelFile[]) {
    for (let i = 1; i < files.length; i++) {
      assert(
        compareBytes(files[i - 1]!.largestKey, files[i]!.smallestKey) < 0,
        "LevelIterator: files are sorted and disjoint",
      );
    }
    this.#files = files;
    this.#iterators = new Array<EntryIterator | undefined>(files.length).fill(undefined);
  }

  /** True when positioned at an entry. */
  valid(): boolean {
    return this.#current !== undefined && this.#current.valid();
  }

  /** The current entry. REQUIRES: valid(). */
  entry(): Entry {
    assert(this.valid(), "LevelIterator.entry: not valid");
    return this.#current!.entry();
  }

  /** Positions at the first entry of the first non-empty file. */
  seekToFirst(): void {
    if (this.#files.length === 0) return this.#invalidate();
    this.#open(0).seekToFirst();
    this.#skipForward();
  }

  /** Positions at the last entry of the last non-empty file. */
  seekToLast(): void {
    if (this.#files.length === 0) return this.#invalidate();
    this.#open(this.#files.length - 1).seekToLast();
    this.#skipBackward();
  }

  /** Positions at the first entry whose key is >= `target`. */
  seek(target: Uint8Array): void {
    // The first file whose largest key is >= target holds the answer, or the files after it.
    const files = this.#files;
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(files[mid]!.largestKey, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === files.length) return this.#invalidate();
    this.#open(lo).seek(target);
    this.#skipForward();
  }

  /** Positions at the last entry whose key is <= `target`. */
  seekForPrev(target: Uint8Array): void {
    // The last file whose smallest key is <= target holds the answer, or the files before it.
    const files = this.#files;
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(files[mid]!.smallestKey, target) <= 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return this.#invalidate();
    this.#open(lo - 1).seekForPrev(target);
    this.#skipBackward();
  }

  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void {
    assert(this.valid(), "LevelIterator.next: not valid");
    this.#current!.next();
    this.#skipForward();
  }

  /** Moves to the previous entry. REQUIRES: valid(). */
  prev(): void {
    assert(this.valid(), "LevelIterator.prev: not valid");
    this.#current!.prev();
    this.#skipBackward();
  }

  /** `EntryIterator.collectLive`, file after file. */
  collectLive(
    out: PairBuffer,
    max: number,
    stop: Uint8Array | undefined,
    nowMs: number,
  ): number {
    let moved = 0;
    for (;;) {
      const current = this.#current;
      if (current === undefined) return moved;
      moved += current.collectLive !== undefined
        ? current.collectLive(out, max, stop, nowMs)
        : collectLiveFrom(current, out, max, stop, nowMs);
      if (current.valid()) return moved;
      this.#skipForward();
    }
  }

  #open(index: number): EntryIterator {
    let it = this.#iterators[index];
    if (it === undefined) {
      it = this.#files[index]!.iterator();
      this.#iterators[index] = it;
    }
    this.#index = index;
    this.#current = it;
    return it;
  }

  #invalidate(): void {
    this.#index = -1;
    this.#current = undefined;
  }

  #skipForward(): void {
    while (this.#current !== undefined && !this.#current.valid()) {
      if (this.#index + 1 >= this.#files.length) return this.#invalidate();
      this.#open(this.#index + 1).seekToFirst();
    }
  }

  #skipBackward(): void {
    while (this.#current !== undefined && !this.#current.valid()) {
      if (this.#index <= 0) return this.#invalidate();
      this.#open(this.#index - 1).seekToLast();
    }
  }
}
