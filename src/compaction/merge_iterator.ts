/**
 * The merging iterator: one ordered view over several sources (memtables and SSTables), as
 * LevelDB's `table/merger.cc`, with a binary heap instead of a linear scan over children.
 * ARCHITECTURE.md § "Merge iterator".
 *
 * Invariants:
 * - Within each child, keys are unique and ascending (each source keeps one entry per key).
 * - When positioned, `#heap[0]` is the current child. Going forward the heap is a min-heap on
 *   key; going in reverse a max-heap on key. Among children at the same key the one with the
 *   highest seq is on top (then the lower child index), so the top is the newest version.
 * - Every valid child is in the heap and every child in the heap is valid. Children at the
 *   current key stay there until the iterator moves, then all of them move past it together,
 *   so each user key is yielded once.
 *
 * Tombstones and expired entries are yielded like any other entry: the engine's scan filters
 * them with `isDeadAt`, and compaction decides what it may drop.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { compareBytes } from "../util/bytes.ts";
import {
  collectLiveFrom,
  type Entry,
  type EntryIterator,
  isDeadAt,
  type PairBuffer,
} from "../util/entry.ts";

/**
 * Most children one merge takes. A scan merges the memtables, every level-0 table and one
 * table per deeper level; thousands would mean compaction fell hopelessly behind.
 */
export const MERGE_ITERATOR_CHILDREN_MAX = 4096;

/**
 * True when `a` and `b` hold the same bytes, compared from the end: the merge compares keys
 * of different children standing near each other in sort order, which share a long prefix and
 * often the last bytes too (millisecond timestamps ending in `000`), so a forward loop, or a
 * last-byte check then a forward loop, walks most of the key before it finds the difference.
 */
function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  let i = a.length;
  if (i !== b.length) return false;
  while (i > 0) {
    i--;
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/** The placeholder key of a child not in the heap (never compared). */
const NO_KEY = new Uint8Array(0);

const FORWARD = 0;
const REVERSE = 1;

/**
 * Merges child iterators into one iterator that yields each user key once, with the entry of
 * the highest seq among the children that hold the key. If two children hold the same key with
 * the same seq (they should not), the child listed first wins.
 *
 * Direction may change at any time: `next()` after `prev()` (or the reverse) re-seeks every
 * child around the current key, like LevelDB's MergingIterator.
 *
 * A memtable child sees keys inserted while the merge runs only where it has not passed yet;
 * such keys are newer than the scan, so a merge behaves like a scan that started slightly
 * earlier for them.
 */
export class MergeIterator implements EntryIterator {
  readonly #children: EntryIterator[];
  /** Child indices, heap-ordered by `#above`; `#heap[0]` is the current child. */
  readonly #heap: number[];
  #heapSize = 0;
  /**
   * Each heap member's key as of its last move. Nodes' keys never change under a child, so the
   * heap compares these instead of calling `entry()` twice per comparison.
   */
  readonly #keys: Uint8Array[];
  /** Children taken off the heap at the current key while they move past it. */
  readonly #scratch: number[];
  #direction = FORWARD;

  /** Creates an unpositioned merge of `children`, which it now owns and moves. */
  constructor(children: readonly EntryIterator[]) {
    assert(
      children.length <= MERGE_ITERATOR_CHILDREN_MAX,
      "MergeIterator: too many children",
    );
    this.#children = [...children];
    // Arrays, not Int32Arrays: a scan makes a merge, and a typed array's own buffer costs µs.
    this.#heap = new Array<number>(children.length).fill(0);
    this.#keys = new Array<Uint8Array>(children.length).fill(NO_KEY);
    this.#scratch = new Array<number>(children.length).fill(0);
  }

  /** True when positioned at an entry. */
  valid(): boolean {
    return this.#heapSize > 0;
  }

  /** The newest entry at the current key. REQUIRES: valid(). */
  entry(): Entry {
    assert(this.#heapSize > 0, "MergeIterator.entry: not valid");
    return this.#children[this.#heap[0]!]!.entry();
  }

  /** Positions at the first key of any child. */
  seekToFirst(): void {
    for (const child of this.#children) child.seekToFirst();
    this.#rebuild(FORWARD);
  }

  /** Positions at the last key of any child. */
  seekToLast(): void {
    for (const child of this.#children) child.seekToLast();
    this.#rebuild(REVERSE);
  }

  /** Positions at the first key >= `target` of any child. */
  seek(target: Uint8Array): void {
    for (const child of this.#children) child.seek(target);
    this.#rebuild(FORWARD);
  }

  /** Positions at the last key <= `target` of any child. */
  seekForPrev(target: Uint8Array): void {
    for (const child of this.#children) child.seekForPrev(target);
    this.#rebuild(REVERSE);
  }

  /** Moves to the next user key. REQUIRES: valid(). */
  next(): void {
    assert(this.#heapSize > 0, "MergeIterator.next: not valid");
    if (this.#direction === FORWARD) this.#advance();
    else this.#turn(FORWARD);
  }

  /** Moves to the previous user key. REQUIRES: valid(). */
  prev(): void {
    assert(this.#heapSize > 0, "MergeIterator.prev: not valid");
    if (this.#direction === REVERSE) this.#advance();
    else this.#turn(REVERSE);
  }

  /**
   * `EntryIterator.collectLive`: the current child alone holds every key below the nearest key
   * of the other children, so it reads in bulk up to there with no heap work per key; only a
   * key that several children hold goes through the merge step. Moving forward from a reverse
   * position goes through `next()` (it turns every child).
   */
  collectLive(
    out: PairBuffer,
    max: number,
    stop: Uint8Array | undefined,
    nowMs: number,
  ): number {
    if (this.#direction !== FORWARD) return collectLiveFrom(this, out, max, stop, nowMs);
    const children = this.#children;
    const heap = this.#heap;
    const keys = this.#keys;
    let moved = 0;
    while (out.count < max && this.#heapSize > 0) {
      const size = this.#heapSize;
      const top = heap[0]!;
      // The nearest key of the other children: the second or third heap slot (a min-heap).
      let limit = stop;
      if (size > 1) {
        let other = keys[heap[1]!]!;
        if (size > 2 && compareBytes(keys[heap[2]!]!, other) < 0) other = keys[heap[2]!]!;
        if (limit === undefined || compareBytes(other, limit) < 0) limit = other;
      }
      const child = children[top]!;
      const n = child.collectLive !== undefined
        ? child.collectLive(out, max, limit, nowMs)
        : collectLiveFrom(child, out, max, limit, nowMs);
      if (n > 0) {
        moved += n;
        if (child.valid()) keys[top] = child.entry().key;
        else {
          heap[0] = heap[size - 1]!;
          this.#heapSize = size - 1;
        }
        this.#siftDown(0);
        continue;
      }
      // The current child stands at `stop`, or at a key another child holds too: one step of
      // the merge, which moves every child at that key.
      if (out.count >= max) break;
      const e = child.entry();
      if (stop !== undefined && compareBytes(e.key, stop) >= 0) break;
      if (!isDeadAt(e, nowMs)) out.pairs[out.count++] = [e.key, e.value];
      this.#advance();
      moved++;
    }
    return moved;
  }

  /** Moves every child at the current key one step in the current direction. */
  #advance(): void {
    const children = this.#children;
    const heap = this.#heap;
    const keys = this.#keys;
    const forward = this.#direction === FORWARD;
    const top = heap[0]!;
    const key = keys[top]!;
    const size = this.#heapSize;
    // Children at the current key form a subtree around the root (a parent never orders after
    // its child), so when neither child of the root shares the key, only the root moves: move
    // it and sift it down, one sift instead of a pop and a push.
    const shared = (size > 1 && sameKey(keys[heap[1]!]!, key)) ||
      (size > 2 && sameKey(keys[heap[2]!]!, key));
    if (!shared) {
      const child = children[top]!;
      if (forward) child.next();
      else child.prev();
      if (child.valid()) {
        keys[top] = child.entry().key;
      } else {
        heap[0] = heap[size - 1]!;
        this.#heapSize = size - 1;
      }
      this.#siftDown(0);
      return;
    }
    // Take all children at the current key off the heap before moving any: a child may reuse
    // its key buffer when it moves, and `key` must stay intact for the comparisons.
    const scratch = this.#scratch;
    let taken = 0;
    scratch[taken++] = this.#pop();
    while (this.#heapSize > 0 && sameKey(keys[heap[0]!]!, key)) {
      scratch[taken++] = this.#pop();
    }
    for (let i = 0; i < taken; i++) {
      const index = scratch[i]!;
      const child = children[index]!;
      if (forward) child.next();
      else child.prev();
      if (child.valid()) this.#push(index);
    }
  }

  /**
   * Reverses direction: repositions every child at the first key after (FORWARD) or the last
   * key before (REVERSE) the current key. The children behind the current child stand on the
   * wrong side of it, so each is re-seeked, which also moves the children at the current key.
   */
  #turn(direction: number): void {
    // A copy: children may reuse their key buffers as they move.
    const target = this.entry().key.slice();
    for (const child of this.#children) {
      if (direction === FORWARD) {
        child.seek(target);
        if (child.valid() && sameKey(child.entry().key, target)) child.next();
      } else {
        child.seekForPrev(target);
        if (child.valid() && sameKey(child.entry().key, target)) child.prev();
      }
    }
    this.#rebuild(direction);
  }

  /** Sets the direction and heapifies every valid child (bottom-up, O(children)). */
  #rebuild(direction: number): void {
    this.#direction = direction;
    const children = this.#children;
    const heap = this.#heap;
    let size = 0;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      if (!child.valid()) continue;
      heap[size++] = i;
      this.#keys[i] = child.entry().key;
    }
    this.#heapSize = size;
    for (let i = (size >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /**
   * True when child `a` belongs above child `b`: its key comes first in the current direction,
   * or the keys are equal and `a` is newer (higher seq, then lower index).
   */
  #above(a: number, b: number): boolean {
    const c = compareBytes(this.#keys[a]!, this.#keys[b]!);
    if (c !== 0) return this.#direction === FORWARD ? c < 0 : c > 0;
    // Seqs are read fresh: a memtable child's entry may have been replaced by a newer one.
    const seqA = this.#children[a]!.entry().seq;
    const seqB = this.#children[b]!.entry().seq;
    if (seqA !== seqB) return seqA > seqB;
    return a < b;
  }

  /** Adds child `index` (which must be valid) to the heap. */
  #push(index: number): void {
    this.#keys[index] = this.#children[index]!.entry().key;
    const heap = this.#heap;
    let i = this.#heapSize++;
    heap[i] = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#above(heap[i]!, heap[parent]!)) break;
      const t = heap[i]!;
      heap[i] = heap[parent]!;
      heap[parent] = t;
      i = parent;
    }
  }

  /** Removes and returns the top child index. REQUIRES: the heap is not empty. */
  #pop(): number {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = --this.#heapSize;
    if (last > 0) {
      heap[0] = heap[last]!;
      this.#siftDown(0);
    }
    return top;
  }

  /** Restores heap order below position `i`. */
  #siftDown(i: number): void {
    const heap = this.#heap;
    const size = this.#heapSize;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) return;
      const right = left + 1;
      let best = left;
      if (right < size && this.#above(heap[right]!, heap[left]!)) best = right;
      if (!this.#above(heap[best]!, heap[i]!)) return;
      const t = heap[i]!;
      heap[i] = heap[best]!;
      heap[best] = t;
      i = best;
    }
  }
}
