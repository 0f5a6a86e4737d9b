/**
 * Sealed chunks of every series, as the engine stores them (`0xFF 0x03 version firstTs` ->
 * `codec.ts` bytes), seen through two layers:
 * - a staging overlay: a command that rewrites chunks (a late sample, TS.DEL, retention)
 *   stages its changes here so that its own later reads see them, and turns them into engine
 *   ops in the one batch it writes (all synchronous, so no other command ever sees a
 *   non-empty overlay);
 * - a cache of decoded chunks, bounded in bytes, keyed by chunk key and the engine entry's
 *   sequence number (a rewritten chunk has a new sequence, so a stale copy is never served).
 *
 * Invariant: the chunks of one series cover disjoint, ordered time ranges, all older than the
 * series' head.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import { TS_CHUNK_CACHE_BYTES_DEFAULT } from "../limits.ts";
import { decodeChunk, encodeChunk } from "./codec.ts";
import type { Samples } from "./head.ts";
import { chunkKey } from "./log.ts";
import { HeadCache } from "./query_heads.ts";

/** One sealed chunk as a read sees it. */
export interface ChunkRef {
  /** Its first timestamp (part of its key). */
  firstTs: number;
  /** Its samples, decoded. */
  samples: Samples;
}

const MAX_CHUNK_SCAN = 1_000_000;

/** Access to sealed chunks with a staging overlay and a decode cache. */
export class ChunkStore {
  readonly #db: Database;
  readonly #cacheBytesMax: number;
  readonly #cache = new Map<string, Samples>();
  #cacheBytes = 0;
  /** version -> firstTs -> staged content (null = deleted). */
  readonly #overlay = new Map<number, Map<number, Samples | null>>();

  /** Reads chunks of `db`, caching up to `cacheBytesMax` bytes of decoded samples. */
  constructor(db: Database, cacheBytesMax = TS_CHUNK_CACHE_BYTES_DEFAULT) {
    this.#db = db;
    this.#cacheBytesMax = cacheBytesMax;
  }

  /** Decoded head chunks for reads (cleared with the chunks'). */
  readonly heads: HeadCache = new HeadCache();

  /** Decoded-cache hits and misses (stats). */
  hits = 0;
  /** Decoded-cache misses. */
  misses = 0;

  #decode(key: Uint8Array, value: Uint8Array, seq: number): Samples {
    const id = `${seq}:${key.join(",")}`;
    const cached = this.#cache.get(id);
    if (cached) {
      this.hits++;
      // LRU: move to the end.
      this.#cache.delete(id);
      this.#cache.set(id, cached);
      return cached;
    }
    this.misses++;
    const { ts, values } = decodeChunk(value);
    const samples = { ts, values };
    const bytes = ts.length * 16 + 64;
    if (bytes <= this.#cacheBytesMax / 4) {
      this.#cache.set(id, samples);
      this.#cacheBytes += bytes;
      for (const [k, v] of this.#cache) {
        if (this.#cacheBytes <= this.#cacheBytesMax) break;
        this.#cache.delete(k);
        this.#cacheBytes -= v.ts.length * 16 + 64;
      }
    }
    return samples;
  }

  /** Drops every cached chunk (after the database content was replaced). */
  clearCache(): void {
    this.heads.clear();
    this.#cache.clear();
    this.#cacheBytes = 0;
  }

  /** Chunks of `version` in the engine whose first timestamp lies in `[from, to]`. */
  #engineRange(version: number, from: number, to: number, limit: number): ChunkRef[] {
    const rows = this.#db.readRange(
      { start: chunkKey(version, from), end: chunkKey(version, to + 1) },
      { limit },
    );
    return rows.map(([key, value, , seq]) => ({
      firstTs: chunkFirstTs(key),
      samples: this.#decode(key, value, seq),
    }));
  }

  /** The engine's last chunk of `version` whose first timestamp is below `before`. */
  #enginePredecessor(version: number, before: number): ChunkRef | undefined {
    if (before <= 0) return undefined;
    const rows = this.#db.readRange(
      { start: chunkKey(version, 0), end: chunkKey(version, before) },
      { limit: 1, reverse: true },
    );
    const row = rows[0];
    if (!row) return undefined;
    return { firstTs: chunkFirstTs(row[0]), samples: this.#decode(row[0], row[1], row[3]) };
  }

  /**
   * The chunks of `version` holding samples in `[from, to]`, in time order (the first one may
   * start before `from`), staged changes included. `expected` (optional) is how many chunks the
   * caller expects to start at or before `to` down to the one before `from`: with nothing
   * staged, one reverse engine read of that many answers, where the general path reads twice
   * (the chunks starting in range, then the one before); too few, and the general path runs.
   */
  overlapping(version: number, from: number, to: number, expected = 0): ChunkRef[] {
    const staged = this.#overlay.get(version);
    if (staged === undefined && expected > 0) {
      const found = this.#engineOverlapping(version, from, to, expected);
      if (found) return found;
    }
    const byFirst = new Map<number, ChunkRef>();
    for (const c of this.#engineRange(version, from, to, MAX_CHUNK_SCAN)) byFirst.set(c.firstTs, c);
    // The chunk that starts before `from` may still hold samples in range.
    let pred: ChunkRef | undefined;
    let before = from;
    for (let i = 0; i <= (staged?.size ?? 0); i++) {
      const p = this.#enginePredecessor(version, before);
      if (!p || staged?.get(p.firstTs) !== null) {
        pred = p;
        break;
      }
      before = p.firstTs; // deleted by the overlay: look further back
    }
    if (staged) {
      for (const [firstTs, samples] of staged) {
        if (firstTs >= from && firstTs <= to) {
          if (samples === null) byFirst.delete(firstTs);
          else byFirst.set(firstTs, { firstTs, samples });
        } else if (firstTs < from && samples !== null && (!pred || firstTs >= pred.firstTs)) {
          pred = { firstTs, samples };
        }
      }
      if (pred && staged.has(pred.firstTs)) {
        const s = staged.get(pred.firstTs);
        pred = s === null || s === undefined ? undefined : { firstTs: pred.firstTs, samples: s };
      }
    }
    const out = [...byFirst.values()].sort((a, b) => a.firstTs - b.firstTs);
    if (pred) {
      const n = pred.samples.ts.length;
      if (n > 0 && pred.samples.ts[n - 1]! >= from) out.unshift(pred);
    }
    return out;
  }

  /**
   * The engine's chunks of `version` holding samples in `[from, to]` from one reverse read of
   * at most `limit` rows (newest first, down to the first chunk starting before `from`), or
   * undefined when `limit` rows did not reach that chunk or the start of the series.
   */
  #engineOverlapping(
    version: number,
    from: number,
    to: number,
    limit: number,
  ): ChunkRef[] | undefined {
    const rows = this.#db.readRange(
      { start: chunkKey(version, 0), end: chunkKey(version, to + 1) },
      { limit, reverse: true },
    );
    const out: ChunkRef[] = [];
    for (const [key, value, , seq] of rows) {
      const firstTs = chunkFirstTs(key);
      const samples = this.#decode(key, value, seq);
      if (firstTs < from) {
        // The chunk before the range: it counts only if it reaches into it.
        const n = samples.ts.length;
        if (n > 0 && samples.ts[n - 1]! >= from) out.push({ firstTs, samples });
        return out.reverse();
      }
      out.push({ firstTs, samples });
    }
    return rows.length < limit ? out.reverse() : undefined;
  }

  /** The last chunk of `version` whose first timestamp is at or before `t` (staged included). */
  last(version: number, t: number): ChunkRef | undefined {
    const staged = this.#overlay.get(version);
    let found: ChunkRef | undefined;
    let before = t + 1;
    for (let i = 0; i <= (staged?.size ?? 0); i++) {
      const p = this.#enginePredecessor(version, before);
      if (!p) break;
      const s = staged?.get(p.firstTs);
      if (s === undefined) {
        found = p;
        break;
      }
      if (s !== null) {
        found = { firstTs: p.firstTs, samples: s };
        break;
      }
      before = p.firstTs; // deleted by the overlay: look further back
    }
    for (const [firstTs, samples] of staged ?? []) {
      if (samples !== null && firstTs <= t && (!found || firstTs > found.firstTs)) {
        found = { firstTs, samples };
      }
    }
    return found;
  }

  /** The first chunk of `version` whose first timestamp is at or after `t` (staged included). */
  next(version: number, t: number): ChunkRef | undefined {
    const staged = this.#overlay.get(version);
    const rows = this.#engineRange(
      version,
      t,
      Number.MAX_SAFE_INTEGER - 1,
      (staged?.size ?? 0) + 1,
    );
    let found: ChunkRef | undefined;
    for (const c of rows) {
      const s = staged?.get(c.firstTs);
      if (s === null) continue;
      found = s === undefined ? c : { firstTs: c.firstTs, samples: s };
      break;
    }
    for (const [firstTs, samples] of staged ?? []) {
      if (samples !== null && firstTs >= t && (!found || firstTs < found.firstTs)) {
        found = { firstTs, samples };
      }
    }
    return found;
  }

  /** The chunk that holds `ts` or would receive it: the last one starting at or before it, else the first. */
  home(version: number, ts: number): ChunkRef | undefined {
    return this.last(version, ts) ?? this.next(version, ts);
  }

  /** Stages new content for the chunk keyed `firstTs` (null deletes it). */
  stage(version: number, firstTs: number, samples: Samples | null): void {
    let staged = this.#overlay.get(version);
    if (!staged) this.#overlay.set(version, staged = new Map());
    staged.set(firstTs, samples);
  }

  /** True when a command staged changes. */
  get hasStaged(): boolean {
    return this.#overlay.size > 0;
  }

  /** Turns staged changes into engine ops (puts and deletes) and clears the overlay. */
  takeStagedOps(): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const [version, staged] of this.#overlay) {
      for (const [firstTs, samples] of staged) {
        const key = chunkKey(version, firstTs);
        if (samples === null || samples.ts.length === 0) ops.push({ type: "delete", key });
        else {
          ops.push({
            type: "put",
            key,
            value: encodeChunk(samples.ts, samples.values, samples.ts.length),
          });
        }
      }
    }
    this.#overlay.clear();
    return ops;
  }

  /** Drops staged changes (a command that failed before writing). */
  discardStaged(): void {
    this.#overlay.clear();
  }

  /** Every chunk key of `version` (deleting a series' data). */
  allKeys(version: number): Uint8Array[] {
    return this.#db.readRange(
      { start: chunkKey(version, 0), end: chunkKey(version + 1, 0) },
      { limit: MAX_CHUNK_SCAN },
    ).map(([key]) => key);
  }
}

/** The first timestamp in a chunk key. */
export function chunkFirstTs(key: Uint8Array): number {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return view.getUint32(10) * 0x1_0000_0000 + view.getUint32(14);
}
