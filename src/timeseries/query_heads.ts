/**
 * Decoded head chunks kept between reads (ARCHITECTURE.md § "Queries and aggregation"): a read
 * of recent data needs a series' head decoded, and a dashboard asks for the last hour again and
 * again while a sample per second is appended. A kept decoding is reused while the head only
 * grew by appends, decoding just the new samples (`Head.decodeMore`); any other edit changes the
 * head's epoch and the decoding starts over.
 *
 * Invariants: a kept decoding holds the head's first `cursor.n` samples of `cursor.epoch`;
 * arrays handed out are never written again below the length they were handed out with (new
 * samples go past it, a new epoch or growth gets new arrays), so a read's views stay valid
 * whatever is appended meanwhile; the kept arrays' bytes stay within the cache's bound.
 *
 * @module
 */

import { TS_HEAD_CACHE_BYTES_DEFAULT } from "../limits.ts";
import { type Head, type HeadCursor, newHeadCursor, type Samples } from "./head.ts";

/** One kept decoding: arrays with room past `cursor.n` for appends. */
interface Decoded {
  cursor: HeadCursor;
  ts: Float64Array;
  values: Float64Array;
}

/** Samples of room added past a head's count, so appends rarely regrow the arrays. */
const ROOM_SAMPLES_MIN = 64;

/** Decoded heads, least recently read first, bounded in bytes (16 per sample of room). */
export class HeadCache {
  readonly #bytesMax: number;
  readonly #kept = new Map<Head, Decoded>();
  #bytes = 0;

  /** Keeps up to `bytesMax` bytes of decoded samples. */
  constructor(bytesMax = TS_HEAD_CACHE_BYTES_DEFAULT) {
    this.#bytesMax = bytesMax;
  }

  /** Every sample of `head`, decoded (views the caller must not change). */
  samples(head: Head): Samples {
    const n = head.count;
    let d = this.#kept.get(head);
    if (d !== undefined) {
      this.#kept.delete(head);
      this.#bytes -= d.ts.length * 16;
    }
    if (d === undefined || d.cursor.epoch !== head.epoch || d.cursor.n > n) {
      const room = n + Math.max(ROOM_SAMPLES_MIN, n >> 3);
      d = {
        cursor: newHeadCursor(head),
        ts: new Float64Array(room),
        values: new Float64Array(room),
      };
    } else if (d.ts.length < n) {
      const room = n + Math.max(ROOM_SAMPLES_MIN, n >> 3);
      const ts = new Float64Array(room);
      const values = new Float64Array(room);
      ts.set(d.ts.subarray(0, d.cursor.n));
      values.set(d.values.subarray(0, d.cursor.n));
      d = { cursor: d.cursor, ts, values };
    }
    head.decodeMore(d.ts, d.values, d.cursor);
    const size = d.ts.length * 16;
    if (size <= this.#bytesMax / 4) {
      this.#kept.set(head, d);
      this.#bytes += size;
      for (const [h, old] of this.#kept) {
        if (this.#bytes <= this.#bytesMax) break;
        this.#kept.delete(h);
        this.#bytes -= old.ts.length * 16;
      }
    }
    return { ts: d.ts.subarray(0, n), values: d.values.subarray(0, n) };
  }

  /** Bytes of decoded samples kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Drops every kept decoding. */
  clear(): void {
    this.#kept.clear();
    this.#bytes = 0;
  }
}
