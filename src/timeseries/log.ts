/**
 * What the time-series layer writes besides chunks: its log ops (`KIND_LOG` values, one list
 * of entries per batch) and the per-series state record (`0xFF 0x02 version`).
 * ARCHITECTURE.md § "Time-series log ops" and § "Series state record" document the bytes.
 *
 * Every change to a series' in-memory state is an entry, applied by one function
 * (`SeriesSet.apply` in `series_set.ts`) on the leader while it builds the batch, on a replica
 * when the batch arrives, and at open when the WAL is replayed. Entries are idempotent
 * (setting a sample, deleting a range, trimming through a time), because a replay starts from
 * the newest state record, which may already reflect the batch being replayed.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import {
  internalKey,
  internalKeyInto,
  SPACE_TS_CHUNK,
  SPACE_TS_LOG,
  SPACE_TS_REGISTRY,
  SPACE_TS_STATE,
} from "../keyspace/mod.ts";
import { ByteReader, ByteWriter } from "../util/buffers.ts";
import { allocBytes, copyBytes } from "../util/bytes.ts";
import { crc32c, maskCrc } from "../util/crc32c.ts";
import { Head } from "./head.ts";

/** Log format version (first byte of a log op value). */
export const TS_LOG_FORMAT = 1;
/** State record format version. */
export const TS_STATE_FORMAT = 1;

/** Entry types. On disk: never renumber. */
export const ENTRY_SAMPLES = 1;
/** Delete head samples in a range. On disk: never renumber. */
export const ENTRY_DELETE = 2;
/** Drop head samples through a time (they were sealed). On disk: never renumber. */
export const ENTRY_SEAL = 3;
/** The state record was rewritten in this batch (sealed statistics, checkpoint). */
export const ENTRY_STATE = 4;
/** Metadata or key changed: reload them. On disk: never renumber. */
export const ENTRY_META = 5;
/** The series is gone. On disk: never renumber. */
export const ENTRY_DROP = 6;

/** Statistics of a series' sealed chunks (kept in memory and in the state record). */
export interface SealedStats {
  /** Newest sealed timestamp; -1 when nothing is sealed. Head samples are all newer. */
  lastSealedTs: number;
  /** Value at `lastSealedTs`. */
  lastSealedValue: number;
  /** Samples in sealed chunks. */
  sealedSamples: number;
  /** Sealed chunks. */
  sealedChunks: number;
  /** Oldest sealed timestamp (valid when `sealedChunks` > 0). */
  firstSealedTs: number;
}

/** One entry of a log op. */
export type LogEntry =
  | {
    type: typeof ENTRY_SAMPLES;
    version: number;
    /**
     * Timestamps; their number is the entry's. A typed array where the writer knows the count
     * in advance (a bulk run: no array growth per sample), else an array.
     */
    ts: number[] | Float64Array;
    /**
     * Values of `ts[0 ... ts.length)` (the array may be longer). A typed array, not `number[]`:
     * V8 may canonicalise a NaN stored into a JavaScript array, and ingest stores NaN payloads
     * (staleness markers) that replay and replicas must see as written.
     */
    values: Float64Array;
  }
  | { type: typeof ENTRY_DELETE; version: number; from: number; to: number }
  | { type: typeof ENTRY_SEAL; version: number; throughTs: number }
  | { type: typeof ENTRY_STATE; version: number; stats: SealedStats }
  | { type: typeof ENTRY_META; version: number }
  | { type: typeof ENTRY_DROP; version: number };

/** The key every time-series log op carries. */
export const TS_LOG_KEY: Uint8Array = internalKey(SPACE_TS_LOG);

/** `0xFF 0x01 version`: the registry entry (value = user key). */
export function registryKey(version: number): Uint8Array {
  // Carved from a slab: only ever passed to the engine (which copies what it stores) or read
  // with, never kept.
  return internalKeyInto(allocBytes(10), SPACE_TS_REGISTRY, [version]);
}

/** `0xFF 0x02 version`: the state record. */
export function stateKey(version: number): Uint8Array {
  return internalKey(SPACE_TS_STATE, version);
}

/** `0xFF 0x03 version firstTs`: a sealed chunk. */
export function chunkKey(version: number, firstTs: number): Uint8Array {
  return internalKey(SPACE_TS_CHUNK, version, firstTs);
}

function writeStats(out: ByteWriter, s: SealedStats): void {
  out.varint(s.lastSealedTs + 1);
  out.f64(s.lastSealedValue);
  out.varint(s.sealedSamples);
  out.varint(s.sealedChunks);
  out.varint(s.firstSealedTs);
}

function readStats(input: ByteReader): SealedStats {
  return {
    lastSealedTs: input.varint() - 1,
    lastSealedValue: input.f64(),
    sealedSamples: input.varint(),
    sealedChunks: input.varint(),
    firstSealedTs: input.varint(),
  };
}

/** Statistics of a series with nothing sealed. */
export function emptyStats(): SealedStats {
  return {
    lastSealedTs: -1,
    lastSealedValue: 0,
    sealedSamples: 0,
    sealedChunks: 0,
    firstSealedTs: 0,
  };
}

/**
 * The writer `encodeLog` and `encodeState` reuse: a fresh `ByteWriter` per command cost two
 * malloc'ed buffers (its own and `finish`'s copy), ~15% of a TS.ADD's work in the store.
 * Grows to the largest log op (<= `TS_LOG_OP_BYTES_MAX` plus one entry) or state record, and
 * stays.
 */
const logWriter = new ByteWriter(1024);

/** Encodes entries as one log op value (a fresh copy; small ones carved from a shared slab). */
export function encodeLog(entries: readonly LogEntry[]): Uint8Array {
  const out = logWriter;
  out.truncate(0);
  out.byte(TS_LOG_FORMAT);
  for (const e of entries) {
    out.byte(e.type);
    out.varint(e.version);
    switch (e.type) {
      case ENTRY_SAMPLES:
        out.varint(e.ts.length);
        encodeSamples(e.ts, e.values, out);
        break;
      case ENTRY_DELETE:
        out.varint(e.from);
        out.varint(e.to);
        break;
      case ENTRY_SEAL:
        out.varint(e.throughTs);
        break;
      case ENTRY_STATE:
        writeStats(out, e.stats);
        break;
    }
  }
  return out.copy();
}

/** Where `encodeSampleLog` writes (a log op of one sample takes at most 28 bytes). */
const oneScratch = new Uint8Array(32);
/** The value of `encodeSampleLog`, as bytes. */
const oneValue = new Float64Array(1);
const oneValueBytes = new Uint8Array(oneValue.buffer);

/**
 * The log op of one SAMPLES entry of one sample: the bytes `encodeLog` gives for
 * `[{ type: ENTRY_SAMPLES, version, ts: [ts], values: Float64Array.of(value) }]`, without the
 * entry, its arrays and the shared writer (TS.ADD's common case). A fresh copy.
 * REQUIRES: `version` and `ts` are safe integers >= 0.
 */
export function encodeSampleLog(version: number, ts: number, value: number): Uint8Array {
  const buf = oneScratch;
  buf[0] = TS_LOG_FORMAT;
  buf[1] = ENTRY_SAMPLES;
  let p = 2;
  let z = version;
  while (z >= 0x80) {
    buf[p++] = (z & 0x7f) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[p++] = z;
  buf[p++] = 1; // samples
  z = ts;
  while (z >= 0x80) {
    buf[p++] = (z & 0x7f) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[p++] = z;
  // Through a typed array, as `encodeSamples` reads the entry's values.
  oneValue[0] = value;
  const vb = oneValueBytes;
  if (LITTLE_ENDIAN) { for (let b = 0; b < 8; b++) buf[p + b] = vb[b]!; }
  else for (let b = 0; b < 8; b++) buf[p + b] = vb[7 - b]!;
  return copyBytes(buf, 0, p + 8);
}

/** The buffer `valueBytes` views (see `encodeSamples`). */
let valueBytesOf: ArrayBufferLike | undefined;
let valueBytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The samples of a SAMPLES entry after its count: the first timestamp as a varint, each later
 * one as the zigzag varint of its difference, each followed by its value's 8 bytes
 * little-endian, copied byte by byte so a NaN keeps its payload, written straight into `out`
 * (a scratch array and a view of it per entry, copied into `out`, were one more copy and
 * allocation per entry). Bytes as `ByteWriter.varint`/`svarint`/`f64From` would write.
 */
function encodeSamples(ts: ArrayLike<number>, values: Float64Array, out: ByteWriter): void {
  const n = ts.length;
  // A varint of a safe integer or of a zigzag'ed difference takes at most 8 bytes.
  const buf = out.room(n * 18);
  // A byte view of the values' buffer, kept while it is the same one (the batch's values slab):
  // a view per entry was a tenth of what a TS.MADD of 200 one-sample entries allocated.
  if (values.buffer !== valueBytesOf) {
    valueBytesOf = values.buffer;
    valueBytes = new Uint8Array(values.buffer);
  }
  const vb = valueBytes;
  const base = values.byteOffset;
  let p = out.length;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    let z = i === 0 ? t : t - prev;
    if (i > 0) z = z < 0 ? -2 * z - 1 : 2 * z;
    while (z >= 0x80) {
      buf[p++] = (z & 0x7f) | 0x80;
      z = Math.floor(z / 128);
    }
    buf[p++] = z;
    const o = base + 8 * i;
    if (LITTLE_ENDIAN) {
      buf[p] = vb[o]!;
      buf[p + 1] = vb[o + 1]!;
      buf[p + 2] = vb[o + 2]!;
      buf[p + 3] = vb[o + 3]!;
      buf[p + 4] = vb[o + 4]!;
      buf[p + 5] = vb[o + 5]!;
      buf[p + 6] = vb[o + 6]!;
      buf[p + 7] = vb[o + 7]!;
    } else for (let b = 0; b < 8; b++) buf[p + b] = vb[o + 7 - b]!;
    p += 8;
    prev = t;
  }
  out.length = p;
}

/** Receives the entries of a log op from `visitLog`. */
export interface LogVisitor {
  /**
   * A SAMPLES entry as columns: `ts[0 ... n)`, `values[0 ... n)` (the values' bytes as logged: a NaN
   * keeps its payload). The arrays are reused: valid during the call only.
   */
  samples(version: number, ts: Float64Array, values: Float64Array, n: number): void;
  /** Any other entry. */
  entry(e: LogEntry): void;
}

/** Columns `visitLog` decodes SAMPLES entries into (grown on demand, reused). */
let visitTs = new Float64Array(256);
let visitValues = new Float64Array(256);
/** `visitValues`' bytes. */
let visitValueBytes = new Uint8Array(visitValues.buffer);

/**
 * Decodes a log op entry by entry, handing SAMPLES entries over as reused columns: replay at
 * open goes through every log op the WAL holds (10,000 series at 1 Hz log 200 one-sample
 * entries per TS.MADD), so building no object or array per entry matters there. Throws
 * `CorruptionError` on damage (after the entries before it were handed over).
 */
export function visitLog(value: Uint8Array, visitor: LogVisitor): void {
  const input = new ByteReader(value);
  const format = input.byte();
  if (format !== TS_LOG_FORMAT) {
    throw new CorruptionError(`Cannot decode time-series log op: unknown format ${format}`);
  }
  while (input.remaining > 0) {
    const type = input.byte();
    const version = input.varint();
    switch (type) {
      case ENTRY_SAMPLES: {
        const n = input.varint();
        if (n < 1 || n > input.remaining) {
          throw new CorruptionError(`Cannot decode time-series log op: ${n} samples`);
        }
        if (visitTs.length < n) {
          visitTs = new Float64Array(Math.max(n, 2 * visitTs.length));
          visitValues = new Float64Array(visitTs.length);
          visitValueBytes = new Uint8Array(visitValues.buffer);
        }
        const ts = visitTs;
        // The values' bytes are copied straight from `value` (a NaN keeps its payload).
        const vb = visitValueBytes;
        let t = 0;
        for (let i = 0; i < n; i++) {
          t = i === 0 ? input.varint() : t + input.svarint();
          if (!Number.isSafeInteger(t) || t < 0) {
            throw new CorruptionError("Cannot decode time-series log op: bad timestamp");
          }
          ts[i] = t;
          const p = input.offset;
          if (value.length - p < 8) {
            throw new CorruptionError("Cannot decode time-series log op: truncated value");
          }
          const o = 8 * i;
          if (LITTLE_ENDIAN) { for (let b = 0; b < 8; b++) vb[o + b] = value[p + b]!; }
          else for (let b = 0; b < 8; b++) vb[o + 7 - b] = value[p + b]!;
          input.offset = p + 8;
        }
        visitor.samples(version, ts, visitValues, n);
        break;
      }
      case ENTRY_DELETE:
        visitor.entry({ type, version, from: input.varint(), to: input.varint() });
        break;
      case ENTRY_SEAL:
        visitor.entry({ type, version, throughTs: input.varint() });
        break;
      case ENTRY_STATE:
        visitor.entry({ type, version, stats: readStats(input) });
        break;
      case ENTRY_META:
      case ENTRY_DROP:
        visitor.entry({ type, version });
        break;
      default:
        throw new CorruptionError(`Cannot decode time-series log op: unknown entry type ${type}`);
    }
  }
}

/** Decodes a log op value into entries; throws `CorruptionError` on damage. */
export function decodeLog(value: Uint8Array): LogEntry[] {
  const out: LogEntry[] = [];
  visitLog(value, {
    samples(version, ts, values, n) {
      const list: number[] = new Array(n);
      for (let i = 0; i < n; i++) list[i] = ts[i]!;
      out.push({ type: ENTRY_SAMPLES, version, ts: list, values: values.slice(0, n) });
    },
    entry(e) {
      out.push(e);
    },
  });
  return out;
}

/** A decoded state record. */
export interface StateRecord {
  /** Every log op of the series with a sequence at or below this is reflected here. */
  throughSeq: number;
  /** Sealed-chunk statistics. */
  stats: SealedStats;
  /** The head at that point. */
  head: Head;
}

/** Encodes a state record. */
export function encodeState(throughSeq: number, stats: SealedStats, head: Head): Uint8Array {
  // The shared writer, then one exact copy: a checkpoint rewrites every head (10,000 × ~2.6 KB),
  // and a writer of its own per record doubled that burst of short-lived buffers.
  const out = logWriter;
  out.truncate(0);
  out.byte(TS_STATE_FORMAT);
  out.varint(throughSeq);
  writeStats(out, stats);
  head.serialize(out);
  out.u32(maskCrc(crc32c(out.view())));
  return out.copy();
}

/** Decodes a state record; throws `CorruptionError` on damage. */
export function decodeState(value: Uint8Array): StateRecord {
  if (value.length < 5) throw new CorruptionError("Cannot decode time-series state: too short");
  const body = value.length - 4;
  const stored = new DataView(value.buffer, value.byteOffset + body, 4).getUint32(0, true);
  if (stored !== maskCrc(crc32c(value, 0, body))) {
    throw new CorruptionError("Cannot decode time-series state: checksum mismatch");
  }
  const input = new ByteReader(value, 0, body);
  const format = input.byte();
  if (format !== TS_STATE_FORMAT) {
    throw new CorruptionError(`Cannot decode time-series state: unknown format ${format}`);
  }
  const throughSeq = input.varint();
  const stats = readStats(input);
  const head = Head.deserialize(input);
  if (input.remaining !== 0) {
    throw new CorruptionError("Cannot decode time-series state: trailing bytes");
  }
  return { throughSeq, stats, head };
}
