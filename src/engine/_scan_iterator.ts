/**
 * Range reads: the iterator `Database.scan` returns (live entries of a merged iterator within a
 * bound, in chunks) and the synchronous `readRange`. Private to `src/engine/`.
 *
 * @module
 */

import { ClosedError } from "../errors.ts";
import { compareBytes, prefixEnd, toBytes } from "../util/bytes.ts";
import {
  collectLiveFrom,
  type EntryIterator,
  type EntryKind,
  isDeadAt,
  type PairBuffer,
} from "../util/entry.ts";
import type { ScanRange } from "./types.ts";

/** Entries a scan decodes ahead before it yields them one by one. */
const SCAN_CHUNK_ENTRIES = 256;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The iterator `scan` returns. It decodes up to `SCAN_CHUNK_ENTRIES` live entries at a time
 * synchronously and hands them out one per `next()` as already-resolved promises, which costs
 * far less per key than an async generator. It releases its tables when exhausted or when the
 * consumer stops early (`for await ... break` calls `return`).
 */
export class ScanIterator implements AsyncIterableIterator<[Uint8Array, Uint8Array]> {
  #iterator: EntryIterator;
  #release: () => void;
  #bound: Uint8Array | undefined;
  #reverse: boolean;
  /** Pairs the scan may still hand out after the current chunk (its limit). */
  #left: number;
  #nowMs: () => number;
  #isClosed: () => boolean;
  /** The decoded chunk, refilled in place (`PairBuffer` says why). */
  #chunk: PairBuffer = { pairs: [], count: 0 };
  #index = 0;
  #exhausted = false;

  constructor(
    iterator: EntryIterator,
    release: () => void,
    options: {
      bound: Uint8Array | undefined;
      reverse: boolean;
      limit: number;
      nowMs: () => number;
      isClosed: () => boolean;
    },
  ) {
    this.#iterator = iterator;
    this.#release = release;
    this.#bound = options.bound;
    this.#reverse = options.reverse;
    this.#left = options.limit;
    this.#nowMs = options.nowMs;
    this.#isClosed = options.isClosed;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<[Uint8Array, Uint8Array]>> {
    if (this.#index >= this.#chunk.count) {
      // The tables this scan read are closed with the database.
      if (this.#isClosed() && !this.#exhausted) {
        this.#finish();
        return Promise.reject(new ClosedError("Cannot scan: database is closed"));
      }
      try {
        this.#fill();
      } catch (err) {
        this.#finish();
        return Promise.reject(err);
      }
      if (this.#chunk.count === 0) {
        this.#finish();
        return Promise.resolve(DONE);
      }
    }
    return Promise.resolve({ done: false, value: this.#chunk.pairs[this.#index++]! });
  }

  return(): Promise<IteratorResult<[Uint8Array, Uint8Array]>> {
    this.#finish();
    return Promise.resolve(DONE);
  }

  #finish(): void {
    this.#exhausted = true;
    this.#chunk = { pairs: [], count: 0 };
    this.#index = 0;
    this.#release();
  }

  /** Decodes the next chunk of live entries; an empty chunk means the scan is over. */
  #fill(): void {
    const chunk = this.#chunk;
    chunk.count = 0;
    this.#index = 0;
    if (this.#exhausted) return;
    const it = this.#iterator;
    const bound = this.#bound;
    const reverse = this.#reverse;
    const want = Math.min(SCAN_CHUNK_ENTRIES, this.#left);
    const now = this.#nowMs();
    if (!reverse) {
      // In bulk: it stops short of `want` only at the bound or the end.
      if (it.collectLive !== undefined) it.collectLive(chunk, want, bound, now);
      else collectLiveFrom(it, chunk, want, bound, now);
      this.#left -= chunk.count;
      if (chunk.count < want) this.#exhausted = true;
      return;
    }
    while (chunk.count < want && it.valid()) {
      const e = it.entry();
      if (bound !== undefined) {
        const c = compareBytes(e.key, bound);
        if (reverse ? c < 0 : c >= 0) {
          this.#exhausted = true;
          break;
        }
      }
      if (!isDeadAt(e, now)) chunk.pairs[chunk.count++] = [e.key, e.value];
      if (reverse) it.prev();
      else it.next();
    }
    this.#left -= chunk.count;
  }
}

/** The bounds of a scan range as bytes. */
export function resolveRange(range: ScanRange): { start?: Uint8Array; end?: Uint8Array } {
  if ("prefix" in range) {
    const p = toBytes(range.prefix);
    const end = prefixEnd(p);
    return { ...(p.length > 0 ? { start: p } : {}), ...(end !== undefined ? { end } : {}) };
  }
  return {
    ...(range.start !== undefined ? { start: toBytes(range.start) } : {}),
    ...(range.end !== undefined ? { end: toBytes(range.end) } : {}),
  };
}

/**
 * Positions `iterator` at the first entry of `[start, end)` in the scan's direction: the first
 * key >= `start`, or in reverse the last key < `end`.
 */
export function positionForRange(
  iterator: EntryIterator,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  reverse: boolean,
): void {
  if (reverse) {
    if (end === undefined) iterator.seekToLast();
    else {
      iterator.seekForPrev(end);
      if (iterator.valid() && compareBytes(iterator.entry().key, end) >= 0) iterator.prev();
    }
  } else if (start === undefined) iterator.seekToFirst();
  else iterator.seek(start);
}

/**
 * Up to `limit` live entries of `[start, end)` from a positioned `iterator`, as
 * `[key, value, kind, seq]`, read synchronously.
 */
export function collectRange(
  iterator: EntryIterator,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  options: { limit: number; reverse: boolean; nowMs: number },
): [Uint8Array, Uint8Array, EntryKind, number][] {
  const { limit, reverse, nowMs } = options;
  const out: [Uint8Array, Uint8Array, EntryKind, number][] = [];
  positionForRange(iterator, start, end, reverse);
  while (out.length < limit && iterator.valid()) {
    const e = iterator.entry();
    if (
      reverse
        ? start !== undefined && compareBytes(e.key, start) < 0
        : end !== undefined && compareBytes(e.key, end) >= 0
    ) break;
    if (!isDeadAt(e, nowMs)) out.push([e.key, e.value, e.kind, e.seq]);
    if (reverse) iterator.prev();
    else iterator.next();
  }
  return out;
}
