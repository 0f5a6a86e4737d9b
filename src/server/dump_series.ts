/**
 * The DUMP/RESTORE payload of a time series: the RDB module value RedisTimeSeries 1.8 writes
 * for its `TSDB-TYPE` (ARCHITECTURE.md § "DUMP payload", its time-series part), so a series
 * moves between CityHall servers, and the payload is laid out as RedisTimeSeries reads it.
 *
 * DUMP writes encoding version 7 (RedisTimeSeries 1.8's latest) with uncompressed chunks: a chunk
 * is plain 16-byte samples, where RedisTimeSeries's default chunks are its own Gorilla bit
 * stream. RESTORE reads versions 0 … 7 with sample lists, uncompressed chunks or compressed
 * ones (`_rts_gorilla.ts`). Compaction rules in a payload (older RedisTimeSeries kept them) are
 * skipped.
 * Written here: no kept library reads RedisTimeSeries values, and the layout is a list of
 * tagged fields. The compaction rules and the source of a series are never in a payload (as in
 * RedisTimeSeries, whose DUMP drops them), nor IGNORE (RedisTimeSeries 1.12).
 *
 * @module
 */

import {
  TS_CHUNK_SIZE_BYTES_MAX,
  TS_CHUNK_SIZE_BYTES_MIN,
  TS_RESTORE_SAMPLES_MAX,
} from "../limits.ts";
import type { DuplicatePolicy } from "../timeseries/meta.ts";
import { bad, DumpPayloadError, type RdbIn, type RdbOut } from "./_rdb_io.ts";
import { decodeGorillaChunk } from "./_rts_gorilla.ts";

/** A time series as a payload holds it. */
export interface SeriesDump {
  /** Retention in ms (0 = forever). */
  retentionMs: number;
  /** CHUNK_SIZE in bytes. */
  chunkSizeBytes: number;
  /** ENCODING UNCOMPRESSED. */
  uncompressed: boolean;
  /** DUPLICATE_POLICY, or undefined for the server's default. */
  duplicatePolicy: DuplicatePolicy | undefined;
  /** Labels in order. */
  labels: [Uint8Array, Uint8Array][];
  /** Sample timestamps, ascending. */
  ts: Float64Array;
  /** Sample values. */
  values: Float64Array;
}

/** RDB object type of a module value with tagged fields. */
export const RDB_TYPE_MODULE_2 = 7;
/** The newest RedisTimeSeries encoding version read, and the one written (1.8's). */
export const TS_ENCVER_LATEST = 7;

const OPCODE_EOF = 0;
const OPCODE_UINT = 2;
const OPCODE_DOUBLE = 4;
const OPCODE_STRING = 5;

const SERIES_OPT_UNCOMPRESSED = 1;
const SAMPLE_BYTES = 16;
const DUMP_CHUNK_BYTES_MIN = 4096;
const TWO_32 = 2 ** 32;

/** Samples restored so far, in typed arrays that double as they fill. */
class SampleSink {
  ts = new Float64Array(1024);
  values = new Float64Array(1024);
  length = 0;

  push(t: number, v: number): void {
    if (this.length > 0 && t <= this.ts[this.length - 1]!) bad("timestamps out of order");
    if (!Number.isFinite(v)) bad("value not finite");
    if (this.length === TS_RESTORE_SAMPLES_MAX) {
      throw new DumpPayloadError(
        "limit",
        `RESTORE of a time series takes at most ${TS_RESTORE_SAMPLES_MAX} samples`,
      );
    }
    if (this.length === this.ts.length) {
      const ts = new Float64Array(this.ts.length * 2);
      const values = new Float64Array(this.ts.length * 2);
      ts.set(this.ts);
      values.set(this.values);
      this.ts = ts;
      this.values = values;
    }
    this.ts[this.length] = t;
    this.values[this.length++] = v;
  }
}

/** RedisTimeSeries's policy numbers (0 = none). */
const POLICY_CODES: readonly (DuplicatePolicy | undefined)[] = [
  undefined,
  "block",
  "last",
  "first",
  "min",
  "max",
  "sum",
];

const NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Redis's module type id: the 9-character name in 6-bit symbols, then a 10-bit encoding version. */
export function moduleTypeId(name: string, encver: number): bigint {
  let id = 0n;
  for (const c of name) id = (id << 6n) | BigInt(NAME_CHARS.indexOf(c));
  return (id << 10n) | BigInt(encver);
}

const TSDB_TYPE_NAME_BITS = moduleTypeId("TSDB-TYPE", 0);

/** Writes `series` (stored under `key`) as a module value, after the object type byte. */
export function encodeSeriesValue(out: RdbOut, key: Uint8Array, series: SeriesDump): void {
  const uint = (n: number) => {
    out.len(OPCODE_UINT);
    out.len(n);
  };
  const double = (x: number) => {
    out.len(OPCODE_DOUBLE);
    out.doubleLE(x);
  };
  const string = (b: Uint8Array) => {
    out.len(OPCODE_STRING);
    out.string(b);
  };
  const n = series.ts.length;
  out.byte(RDB_TYPE_MODULE_2);
  out.u64(TSDB_TYPE_NAME_BITS | BigInt(TS_ENCVER_LATEST));
  string(key);
  uint(series.retentionMs);
  uint(series.chunkSizeBytes);
  uint(SERIES_OPT_UNCOMPRESSED);
  uint(n > 0 ? series.ts[n - 1]! : 0);
  double(n > 0 ? series.values[n - 1]! : 0);
  uint(n);
  uint(Math.max(0, POLICY_CODES.indexOf(series.duplicatePolicy)));
  uint(0); // no source key
  uint(series.labels.length);
  for (const [k, v] of series.labels) {
    string(k);
    string(v);
  }
  uint(0); // no rules
  // Chunks of the chunk size or 4 KiB, whichever is larger (a chunk's own size field says how
  // big it is, and 48-byte chunks of 3 samples would spend 15 bytes of fields on each), each
  // buffer exactly its samples (RedisTimeSeries opens a new chunk when the last is full). A
  // series always has one chunk: an empty one has room for one sample.
  const chunkBytes = Math.max(series.chunkSizeBytes, DUMP_CHUNK_BYTES_MIN);
  const perChunk = Math.floor(chunkBytes / SAMPLE_BYTES);
  const chunks = Math.max(1, Math.ceil(n / perChunk));
  uint(chunks);
  for (let c = 0; c < chunks; c++) {
    const from = c * perChunk;
    const to = Math.min(n, from + perChunk);
    const size = Math.max(1, to - from) * SAMPLE_BYTES;
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    for (let i = from; i < to; i++) {
      const t = series.ts[i]!; // < 2^53: two 32-bit halves, no BigInt per sample
      const off = (i - from) * SAMPLE_BYTES;
      view.setUint32(off, t % TWO_32, true);
      view.setUint32(off + 4, Math.floor(t / TWO_32), true);
      view.setFloat64(off + 8, series.values[i]!, true);
    }
    uint(to > from ? series.ts[from]! : 0);
    uint(to - from);
    uint(size);
    string(buf);
  }
  out.len(OPCODE_EOF);
}

/**
 * Fields in a rule's aggregation context by RedisTimeSeries aggregation code (1 min, 2 max,
 * 3 sum, 4 avg, 5 count, 6 first, 7 last, 8 range, 9–12 std/var, 13 twa) and encoding version.
 */
function contextFields(agg: number, encver: number): number {
  switch (agg) {
    case 1:
    case 2:
    case 8:
      return encver < 6 ? 3 : 2; // max, min (and an unused buffer before version 6)
    case 3:
    case 5:
    case 7:
      return encver >= 3 && encver < 7 ? 2 : 1; // value (and a reset flag in 3 … 6)
    case 4:
      return encver >= 4 ? 3 : 2; // sum, count (and an overflow flag from version 4)
    case 6:
      return encver >= 3 ? 2 : 1; // value (and a reset flag from version 3)
    case 9:
    case 10:
    case 11:
    case 12:
      return 3; // sum, sum of squares, count
    case 13:
      return 10;
    default:
      return bad("aggregation type");
  }
}

/** Skips one compaction rule: destination, bucket, alignment, type, open bucket, context. */
function skipRule(
  encver: number,
  f: { uint: () => bigint; string: () => Uint8Array; any: () => void },
): void {
  f.string();
  f.uint();
  if (encver >= 6) f.uint();
  const agg = f.uint();
  f.uint();
  for (let i = contextFields(agg > 13n ? -1 : Number(agg), encver); i > 0; i--) f.any();
}

/** Skips one tagged module field of any type. */
function skipField(r: RdbIn): void {
  const op = r.len();
  if (op === OPCODE_UINT || op === 1) r.u64();
  else if (op === OPCODE_DOUBLE) r.take(8);
  else if (op === 3) r.take(4);
  else if (op === OPCODE_STRING) r.string();
  else bad("module field type");
}

/** Reads a module value after its type byte; anything but a RedisTimeSeries series is refused. */
export function decodeSeriesValue(r: RdbIn): SeriesDump {
  const id = r.u64();
  if ((id & ~1023n) !== TSDB_TYPE_NAME_BITS) bad("module type");
  const encver = Number(id & 1023n);
  if (encver > TS_ENCVER_LATEST) bad(`time-series encoding version ${encver}`);
  const opcode = (want: number) => {
    const got = r.len();
    if (got !== want) bad("module field type");
  };
  const uint = (): bigint => {
    opcode(OPCODE_UINT);
    return r.u64();
  };
  const safe = (what: string, max = Number.MAX_SAFE_INTEGER): number => {
    const v = uint();
    if (v > BigInt(max)) bad(what);
    return Number(v);
  };
  const double = (): number => {
    opcode(OPCODE_DOUBLE);
    return r.doubleLE();
  };
  const string = (): Uint8Array => {
    opcode(OPCODE_STRING);
    return r.string();
  };
  string(); // the key it was dumped from
  const retentionMs = safe("retention");
  let chunkSizeBytes = safe("chunk size", TS_CHUNK_SIZE_BYTES_MAX);
  if (encver < 2) chunkSizeBytes *= SAMPLE_BYTES; // stored in samples before version 2
  const options = encver >= 1 ? safe("options") : SERIES_OPT_UNCOMPRESSED;
  let duplicatePolicy: DuplicatePolicy | undefined;
  if (encver >= 2) {
    uint(); // last timestamp: the samples say it
    double(); // last value
    uint(); // total samples
    if (encver >= 3) {
      const code = safe("duplicate policy");
      if (code >= POLICY_CODES.length) bad("duplicate policy");
      duplicatePolicy = POLICY_CODES[code];
    }
    if (uint() !== 0n) string(); // a source key (only in RDB files): rules are not restored
  }
  const labels: [Uint8Array, Uint8Array][] = [];
  const labelCount = r.countLimit(safe("label count"));
  for (let i = 0; i < labelCount; i++) labels.push([string(), string()]);
  const ruleCount = r.countLimit(safe("rule count"));
  for (let i = 0; i < ruleCount; i++) {
    skipRule(encver, {
      uint,
      string,
      any: () => skipField(r),
    });
  }
  const sink = new SampleSink();
  const sample = (t: number, v: number) => sink.push(t, v);
  if (encver < 2) {
    const n = r.countLimit(safe("sample count"));
    for (let i = 0; i < n; i++) sample(safe("timestamp"), double());
  } else {
    const chunks = r.countLimit(safe("chunk count"));
    for (let c = 0; c < chunks; c++) {
      if ((options & SERIES_OPT_UNCOMPRESSED) === 0) {
        // Size, count, bits used, base value, base timestamp; the previous timestamp, delta,
        // value, leading and trailing zeros (appending state, not needed to read); the stream.
        const size = uint();
        const count = safe("chunk sample count");
        const bitsUsed = uint();
        const baseValueBits = uint();
        const baseTimestamp = uint();
        for (let f = 0; f < 5; f++) uint();
        const data = string();
        if (BigInt(data.length) !== size) bad("chunk size");
        // A sample takes 2 bits at least: a count past that is a lie, refused before decoding.
        if (count > 1 && count - 1 > data.length * 4) bad("chunk sample count");
        decodeGorillaChunk({ count, bitsUsed, baseTimestamp, baseValueBits, data }, sample);
        continue;
      }
      uint(); // base timestamp
      const count = safe("chunk sample count");
      const size = safe("chunk size");
      const buf = string();
      if (buf.length !== size || count * SAMPLE_BYTES > size) bad("chunk size");
      const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
      for (let i = 0; i < count; i++) {
        const off = i * SAMPLE_BYTES;
        const hi = view.getUint32(off + 4, true);
        if (hi > 0x1f_ffff) bad("timestamp"); // past 2^53 − 1
        sample(hi * TWO_32 + view.getUint32(off, true), view.getFloat64(off + 8, true));
      }
    }
  }
  opcode(OPCODE_EOF);
  if (chunkSizeBytes < TS_CHUNK_SIZE_BYTES_MIN || chunkSizeBytes % 8 !== 0) bad("chunk size");
  return {
    retentionMs,
    chunkSizeBytes,
    uncompressed: (options & SERIES_OPT_UNCOMPRESSED) !== 0,
    duplicatePolicy,
    labels,
    ts: sink.ts.slice(0, sink.length),
    values: sink.values.slice(0, sink.length),
  };
}
