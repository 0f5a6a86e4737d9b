/**
 * What an edge reads of its own WAL for the uplink: record payloads for RECORDS frames, how
 * many WAL bytes the hub still lacks, when a sequence became durable, and the frames kept for
 * RESUME after a cut link.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import {
  LAG_SAMPLES_MAX,
  UPLINK_RESUME_CACHE_BYTES_MAX,
  UPLINK_RESUME_FRAMES_MAX,
  WAL_RECORD_HEADER_BYTES,
} from "../limits.ts";
import { WAL_SEGMENT_HEADER_BYTES } from "../wal/format.ts";
import { type EdgeStateStore, sampledTimeOf } from "./edge_state.ts";

/** The batch payloads of whole WAL records back to back (as `WalFeed.read` returns them). */
export function payloadsOf(records: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(records.buffer, records.byteOffset, records.length);
  let at = 0;
  // Bounded: each pass consumes a record of at least one header.
  while (at + WAL_RECORD_HEADER_BYTES <= records.length) {
    const length = view.getUint32(at, true);
    out.push(records.subarray(at + WAL_RECORD_HEADER_BYTES, at + WAL_RECORD_HEADER_BYTES + length));
    at += WAL_RECORD_HEADER_BYTES + length;
  }
  return out;
}

/** WAL bytes holding sequences above `seq` (estimated from segment sizes, as replication's lag). */
export function walBytesAbove(db: Database, seq: number): number {
  let bytes = 0;
  for (const s of db.walSegments()) {
    if (s.firstSeq === 0 || s.lastSeq <= seq) continue;
    const count = s.lastSeq - s.firstSeq + 1;
    const behind = s.lastSeq - Math.max(seq, s.firstSeq - 1);
    bytes += Math.round((s.sizeBytes - WAL_SEGMENT_HEADER_BYTES) * behind / count);
  }
  return bytes;
}

/**
 * When sequences became durable: one sample a second while the process runs (in memory), and
 * the store's coarse samples for what was written before it started.
 */
export class DurableTimes {
  readonly #fine: [number, number][] = [];
  readonly #store: EdgeStateStore;

  constructor(store: EdgeStateStore) {
    this.#store = store;
  }

  /** `seq` is durable at `nowMs`. */
  note(seq: number, nowMs: number): void {
    const last = this.#fine[this.#fine.length - 1];
    if (last === undefined || (seq > last[0] && nowMs - last[1] >= 1000)) {
      this.#fine.push([seq, nowMs]);
      if (this.#fine.length > LAG_SAMPLES_MAX) this.#fine.splice(0, this.#fine.length >> 1);
    }
  }

  /** When `seq` became durable, at the latest; undefined when unknown. */
  timeOf(seq: number): number | undefined {
    const coarse = sampledTimeOf(this.#store.state.samples, seq);
    const first = this.#fine[0];
    if (first === undefined || seq < first[0]) return coarse ?? first?.[1];
    return sampledTimeOf(this.#fine, seq) ?? coarse;
  }
}

/** Encoded RECORDS frames the edge sent last, for RESUME (bounded in count and bytes). */
export class ResumeCache {
  readonly #frames: { crc: number; bodyLength: number; bytes: Uint8Array; lastSeq: number }[] = [];
  #bytes = 0;

  /** Keeps `bytes` (a whole encoded frame) that ends at sequence `lastSeq`. */
  add(bytes: Uint8Array, lastSeq: number): void {
    if (bytes.length > UPLINK_RESUME_CACHE_BYTES_MAX) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, 12);
    this.#frames.push({
      crc: view.getUint32(8, true),
      bodyLength: view.getUint32(4, true),
      bytes,
      lastSeq,
    });
    this.#bytes += bytes.length;
    while (
      this.#frames.length > UPLINK_RESUME_FRAMES_MAX ||
      this.#bytes > UPLINK_RESUME_CACHE_BYTES_MAX
    ) {
      this.#bytes -= this.#frames.shift()!.bytes.length;
    }
  }

  /** The kept frame with this header crc and body length, if any. */
  find(crc: number, bodyLength: number): { bytes: Uint8Array; lastSeq: number } | undefined {
    return this.#frames.find((f) => f.crc === crc && f.bodyLength === bodyLength);
  }
}
