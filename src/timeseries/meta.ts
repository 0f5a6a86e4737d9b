/**
 * A series' metadata: what TS.CREATE/TS.ALTER/TS.CREATERULE set, stored as the `KIND_META`
 * value at the series' user key. ARCHITECTURE.md § "Series metadata" documents the bytes.
 *
 * Labels and key bytes are kept as "binary strings" (one char per byte, latin1), so any byte
 * sequence round-trips exactly and can key JavaScript maps.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { decodeMetaHeader, encodeMetaHeader, TYPE_TIMESERIES } from "../keyspace/mod.ts";
import { ByteReader, ByteWriter } from "../util/buffers.ts";

/** Format version of the series metadata after the keyspace header. */
export const SERIES_META_FORMAT = 1;

/** Duplicate policies, in on-disk order (index = code). On disk: never renumber. */
export const DUPLICATE_POLICIES = ["", "block", "first", "last", "min", "max", "sum"] as const;
/** A duplicate policy name. */
export type DuplicatePolicy = Exclude<(typeof DUPLICATE_POLICIES)[number], "">;

/** Aggregators, in on-disk order (index = code). On disk: never renumber. */
export const AGGREGATORS = [
  "",
  "avg",
  "sum",
  "min",
  "max",
  "range",
  "count",
  "first",
  "last",
  "std.p",
  "std.s",
  "var.p",
  "var.s",
  "twa",
] as const;
/** An aggregator name. */
export type Aggregator = Exclude<(typeof AGGREGATORS)[number], "">;

/** A compaction (downsampling) rule of a source series. */
export interface Rule {
  /** Version of the destination series. */
  destVersion: number;
  /** How a bucket's samples become one value. */
  aggregator: Aggregator;
  /** Bucket length in ms (>= 1). */
  bucketMs: number;
  /** Buckets start at `alignMs + k × bucketMs`. */
  alignMs: number;
  /** Source samples before this timestamp are not aggregated (rule created later). */
  startTs: number;
}

/** Everything TS.INFO reports that a command sets. */
export interface SeriesMeta {
  /** The series' data version (chunks and state are keyed by it). */
  version: number;
  /** Samples older than the newest minus this are gone; 0 keeps everything. */
  retentionMs: number;
  /** RedisTimeSeries's CHUNK_SIZE; also the samples per sealed chunk (see ARCHITECTURE.md). */
  chunkSizeBytes: number;
  /** Policy for a sample at an existing timestamp; undefined = the default (BLOCK). */
  duplicatePolicy: DuplicatePolicy | undefined;
  /** `ENCODING UNCOMPRESSED` was asked (reported; chunks are always compressed). */
  uncompressed: boolean;
  /** IGNORE: a new sample this close in time... (ms; 0 with `ignoreMaxValDiff` 0 = off). */
  ignoreMaxTimeDiffMs: number;
  /** ...and in value to the newest one is dropped (duplicate policy LAST only). */
  ignoreMaxValDiff: number;
  /** Label pairs (binary strings), in the order given. */
  labels: [string, string][];
  /** Version of the series whose rule feeds this one; 0 = none. */
  sourceVersion: number;
  /** Rules feeding other series from this one. */
  rules: Rule[];
}

/**
 * The writer `encodeSeriesMeta` reuses (a fresh one and its copy were two typed arrays per
 * series created); grows to the largest metadata encoded, and stays.
 */
const metaWriter = new ByteWriter(256);

/** Encodes the `KIND_META` value of a series (a fresh copy; small ones carved from a slab). */
export function encodeSeriesMeta(meta: SeriesMeta): Uint8Array {
  const out = metaWriter;
  out.truncate(0);
  encodeMetaHeader(out, { type: TYPE_TIMESERIES, version: meta.version });
  out.byte(SERIES_META_FORMAT);
  out.varint(meta.retentionMs);
  out.varint(meta.chunkSizeBytes);
  out.byte(
    meta.duplicatePolicy === undefined ? 0 : DUPLICATE_POLICIES.indexOf(meta.duplicatePolicy),
  );
  out.byte(meta.uncompressed ? 1 : 0);
  out.varint(meta.ignoreMaxTimeDiffMs);
  out.f64(meta.ignoreMaxValDiff);
  // Indexed loops: no iterator per metadata encoded (the arrays are often shared, frozen, empty).
  const labels = meta.labels;
  out.varint(labels.length);
  for (let i = 0; i < labels.length; i++) {
    writeString(out, labels[i]![0]);
    writeString(out, labels[i]![1]);
  }
  out.varint(meta.sourceVersion);
  const rules = meta.rules;
  out.varint(rules.length);
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    out.varint(r.destVersion);
    out.byte(AGGREGATORS.indexOf(r.aggregator));
    out.varint(r.bucketMs);
    out.varint(r.alignMs);
    out.varint(r.startTs);
  }
  return out.copy();
}

/** Decodes a series' `KIND_META` value; throws `CorruptionError` on damage or another type. */
export function decodeSeriesMeta(value: Uint8Array): SeriesMeta {
  const fail = (what: string): never => {
    throw new CorruptionError(`Cannot decode time-series metadata: ${what}`);
  };
  const input = new ByteReader(value);
  const header = decodeMetaHeader(input);
  if (header.type !== TYPE_TIMESERIES) fail(`type ${header.type} is not a time series`);
  const format = input.byte();
  if (format !== SERIES_META_FORMAT) fail(`unknown format ${format}`);
  const retentionMs = input.varint();
  const chunkSizeBytes = input.varint();
  const dp = input.byte();
  if (dp >= DUPLICATE_POLICIES.length) fail(`bad duplicate policy ${dp}`);
  const uncompressed = input.byte() === 1;
  const ignoreMaxTimeDiffMs = input.varint();
  const ignoreMaxValDiff = input.f64();
  const labels: [string, string][] = [];
  const nLabels = input.varint();
  for (let i = 0; i < nLabels; i++) labels.push([readString(input), readString(input)]);
  const sourceVersion = input.varint();
  const rules: Rule[] = [];
  const nRules = input.varint();
  for (let i = 0; i < nRules; i++) {
    const destVersion = input.varint();
    const agg = input.byte();
    if (agg === 0 || agg >= AGGREGATORS.length) fail(`bad aggregator ${agg}`);
    const bucketMs = input.varint();
    if (bucketMs < 1) fail("bucket of 0 ms");
    rules.push({
      destVersion,
      aggregator: AGGREGATORS[agg] as Aggregator,
      bucketMs,
      alignMs: input.varint(),
      startTs: input.varint(),
    });
  }
  if (input.remaining !== 0) fail("trailing bytes");
  return {
    version: header.version,
    retentionMs,
    chunkSizeBytes,
    duplicatePolicy: dp === 0 ? undefined : DUPLICATE_POLICIES[dp] as DuplicatePolicy,
    uncompressed,
    ignoreMaxTimeDiffMs,
    ignoreMaxValDiff,
    labels,
    sourceVersion,
    rules,
  };
}

/** Bytes as a binary string (one char per byte). */
export function binaryString(bytes: Uint8Array): string {
  // TextDecoder("latin1") is windows-1252 in the Encoding standard: map bytes one by one.
  let s = "";
  if (bytes.length <= 64) {
    // Short keys (every sample of TS.MADD names one): a plain loop beats spreading a subarray.
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** A binary string back to its bytes. */
export function stringBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** A binary string as UTF-8 text (for JSON and logs; invalid bytes become U+FFFD). */
export function binaryToText(s: string): string {
  return new TextDecoder().decode(stringBytes(s));
}

/** UTF-8 text as a binary string. */
export function textToBinary(text: string): string {
  return binaryString(new TextEncoder().encode(text));
}

function writeString(out: ByteWriter, s: string): void {
  const n = s.length;
  out.varint(n);
  // In place: `stringBytes` made an array per label name and value.
  const buf = out.room(n);
  const at = out.length;
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i) & 0xff;
  out.length = at + n;
}

function readString(input: ByteReader): string {
  return binaryString(input.take(input.varint()));
}
