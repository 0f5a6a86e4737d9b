/**
 * Prometheus remote write 1.0: a Snappy block-compressed protobuf `WriteRequest`
 * (ARCHITECTURE.md § "Prometheus remote write"). Decodes `timeseries` (labels and float
 * samples) and skips exemplars, native histograms and metadata safely; encodes the same
 * messages (tests, and the future exporter).
 *
 * Why protobuf by hand and not a kept library: three messages with five scalar fields. The
 * decoder below is ~150 lines, reads sample values bit-exactly (a staleness marker is a NaN
 * whose bits must survive; a generic decoder turns it into a JavaScript number first), bounds
 * every length against the buffer before reading, and allocates only the output. Measured with
 * `deno task bench` (section `ingest`) against npm protobufjs@7.5.4 on the same requests: see
 * ARCHITECTURE.md § "Prometheus remote write" for the numbers.
 *
 * Wire format (proto3, prometheus/prompb/remote.proto and types.proto):
 * ```
 * WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
 * TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
 *                repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
 * Label        { string name = 1; string value = 2; }
 * Sample       { double value = 1; int64 timestamp = 2; }   // value: fixed64 little-endian
 * ```
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import {
  REMOTE_WRITE_BODY_BYTES_MAX,
  REMOTE_WRITE_DECODED_BYTES_MAX,
  REMOTE_WRITE_SAMPLES_MAX,
} from "../limits.ts";
// Every stream is validated before it is decoded (ARCHITECTURE.md § "Snappy validation").
import { snappyCompress, snappyUncompress, snappyUncompressedLength } from "../util/snappy.ts";
import { checkLabels, LabelError, NAME_LABEL, seriesKey } from "./series_key.ts";

/** A malformed or over-limit request: answer 400 (retrying cannot help). */
export class RemoteWriteError extends Error {}

/** One decoded series; its samples are `[offset, offset + count)` of the request's columns. */
export interface RemoteWriteSeries {
  /** Canonical key (`name{a="b"}`). */
  key: string;
  /** Metric name (`__name__`, `""` when absent). */
  name: string;
  /** Labels other than `__name__`, sorted by name. */
  labels: [string, string][];
  /** First sample in the request's `timestamps`/`values`. */
  offset: number;
  /** Number of samples. */
  count: number;
}

/** A decoded request: series, and every sample in two columns (series after series). */
export interface RemoteWriteRequest {
  series: RemoteWriteSeries[];
  /** Sample timestamps (ms), in the order sent. */
  timestamps: Float64Array;
  /** Sample values, bit-exact (staleness markers keep their NaN bits). */
  values: Float64Array;
  /** Total samples. */
  samples: number;
  /** Exemplars, native histogram samples and metadata entries present and ignored. */
  ignored: { exemplars: number; histograms: number; metadata: number };
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  fail(what: string): never {
    throw new RemoteWriteError(`Cannot decode remote write request: ${what} at byte ${this.pos}`);
  }

  /** A varint as a number; exact up to 2^53, two's complement 64-bit for negatives. */
  varint(): number {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail("truncated varint");
      const b = this.buf[this.pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) {
        lo >>>= 0;
        if (hi & 0x80000000) {
          // Negative int64: value = -(2^64 - (hi:lo)).
          const nlo = (~lo + 1) >>> 0;
          const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
          const v = -(nhi * 4294967296 + nlo);
          if (!Number.isSafeInteger(v)) this.fail("int64 out of the exact range of a number");
          return v;
        }
        const v = (hi >>> 0) * 4294967296 + lo;
        if (!Number.isSafeInteger(v)) this.fail("int64 out of the exact range of a number");
        return v;
      }
      shift += 7;
    }
    this.fail("varint longer than 10 bytes");
  }

  /** The end of a length-delimited field starting here. */
  sub(): number {
    const len = this.varint();
    if (len > this.end - this.pos) this.fail("length past the end of the message");
    return this.pos + len;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        if (this.end - this.pos < 8) this.fail("truncated fixed64");
        this.pos += 8;
        return;
      case 2:
        this.pos = this.sub();
        return;
      case 5:
        if (this.end - this.pos < 4) this.fail("truncated fixed32");
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported wire type ${wire}`);
    }
  }

  string(): string {
    const end = this.sub();
    const buf = this.buf;
    const start = this.pos;
    // Label names and values repeat across series and requests, and are almost always short
    // ASCII: they come from an intern table keyed by a hash of their bytes (checked byte by
    // byte), so a repeated label costs no allocation. Anything else goes through TextDecoder.
    if (end - start <= INTERN_BYTES_MAX) {
      let h = 0x811c9dc5;
      let ascii = true;
      for (let i = start; i < end; i++) {
        const b = buf[i]!;
        if (b >= 0x80) ascii = false;
        h = Math.imul(h ^ b, 0x01000193);
      }
      if (ascii) {
        this.pos = end;
        const hit = interned.get(h);
        if (hit !== undefined && hit.length === end - start) {
          let same = true;
          for (let i = 0; i < hit.length; i++) {
            if (hit.charCodeAt(i) !== buf[start + i]) {
              same = false;
              break;
            }
          }
          if (same) return hit;
        }
        let str = "";
        for (let i = start; i < end; i++) str += String.fromCharCode(buf[i]!);
        if (interned.size >= INTERN_ENTRIES_MAX) interned.clear();
        interned.set(h, str);
        return str;
      }
    }
    try {
      const s = utf8.decode(buf.subarray(start, end));
      this.pos = end;
      return s;
    } catch {
      this.fail("label is not valid UTF-8");
    }
  }
}

/** Interned label strings by FNV-1a hash of their bytes. */
const interned = new Map<number, string>();
const INTERN_ENTRIES_MAX = 65_536;
const INTERN_BYTES_MAX = 128;

function decodeLabel(r: Reader, end: number): [string, string] {
  let name = "";
  let value = "";
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) name = r.string();
    else if (field === 2 && wire === 2) value = r.string();
    else r.skip(wire);
  }
  return [name, value];
}

/** Where samples collect while decoding: value byte offsets (-1: absent) and timestamps. */
interface Columns {
  valueAt: number[];
  times: number[];
  budget: number;
}

function decodeSeries(
  r: Reader,
  end: number,
  ignored: RemoteWriteRequest["ignored"],
  cols: Columns,
): RemoteWriteSeries {
  const labels: [string, string][] = [];
  const offset = cols.times.length;
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      labels.push(decodeLabel(r, r.sub()));
    } else if (field === 2 && wire === 2) {
      const send = r.sub();
      let at = -1;
      let ts = 0;
      while (r.pos < send) {
        const t = r.varint();
        const f = Math.floor(t / 8);
        const w = t & 7;
        if (f === 1 && w === 1) {
          if (send - r.pos < 8) r.fail("truncated sample value");
          at = r.pos;
          r.pos += 8;
        } else if (f === 2 && w === 0) ts = r.varint();
        else r.skip(w);
      }
      if (r.pos !== send) r.fail("sample overruns its length");
      if (--cols.budget < 0) {
        throw new RemoteWriteError(
          `Too many samples in one request (limit ${REMOTE_WRITE_SAMPLES_MAX})`,
        );
      }
      cols.valueAt.push(at);
      cols.times.push(ts);
    } else {
      if (field === 3 && wire === 2) ignored.exemplars++;
      else if (field === 4 && wire === 2) ignored.histograms++;
      r.skip(wire);
    }
  }
  if (r.pos !== end) r.fail("series overruns its length");
  let name = "";
  const rest: [string, string][] = [];
  for (const [k, v] of labels) {
    if (k === NAME_LABEL) name = v;
    else if (v !== "") rest.push([k, v]);
  }
  try {
    checkLabels(name, rest);
  } catch (err) {
    if (err instanceof LabelError) {
      throw new RemoteWriteError(`Invalid series ${name}: ${err.message}`);
    }
    throw err;
  }
  rest.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    key: seriesKey(name, rest, true),
    name,
    labels: rest,
    offset,
    count: cols.times.length - offset,
  };
}

/** Decodes an uncompressed `WriteRequest`; throws `RemoteWriteError`. */
export function decodeWriteRequest(buf: Uint8Array): RemoteWriteRequest {
  const r = new Reader(buf, 0, buf.length);
  const series: RemoteWriteSeries[] = [];
  const ignored = { exemplars: 0, histograms: 0, metadata: 0 };
  const cols: Columns = { valueAt: [], times: [], budget: REMOTE_WRITE_SAMPLES_MAX };
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) series.push(decodeSeries(r, r.sub(), ignored, cols));
    else {
      if (field === 3 && wire === 2) ignored.metadata++;
      r.skip(wire);
    }
  }
  // Values are copied byte by byte: a NaN's payload (the staleness marker) survives.
  const n = cols.times.length;
  const values = new Float64Array(n);
  const bytes = new Uint8Array(values.buffer);
  for (let i = 0; i < n; i++) {
    const at = cols.valueAt[i]!;
    if (at < 0) continue; // an absent value is 0 in proto3
    for (let b = 0; b < 8; b++) bytes[i * 8 + b] = buf[at + (littleEndian ? b : 7 - b)]!;
  }
  return { series, timestamps: new Float64Array(cols.times), values, samples: n, ignored };
}

/** Decompresses (Snappy block format) and decodes a remote-write body; throws `RemoteWriteError`. */
export function decodeRemoteWrite(body: Uint8Array): RemoteWriteRequest {
  if (body.length > REMOTE_WRITE_BODY_BYTES_MAX) {
    throw new RemoteWriteError(
      `Request body too large: ${body.length} bytes (limit ${REMOTE_WRITE_BODY_BYTES_MAX})`,
    );
  }
  const declared = snappyUncompressedLength(body);
  if (declared < 0 || declared > REMOTE_WRITE_DECODED_BYTES_MAX) {
    throw new RemoteWriteError(
      declared < 0
        ? "Cannot decode remote write request: not Snappy block format"
        : `Decoded request too large: ${declared} bytes (limit ${REMOTE_WRITE_DECODED_BYTES_MAX})`,
    );
  }
  let raw: Uint8Array;
  try {
    // Validated first: a hostile stream is refused without being decoded.
    raw = snappyUncompress(body, REMOTE_WRITE_DECODED_BYTES_MAX);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    throw new RemoteWriteError(`Cannot decode remote write request: ${err.message}`);
  }
  return decodeWriteRequest(raw);
}

// ---------------------------------------------------------------- encoding

class Writer {
  #buf = new Uint8Array(1024);
  #len = 0;

  #grow(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  varint(v: number): void {
    this.#grow(10);
    if (v < 0) {
      // Two's complement 64-bit: always 10 bytes. Rare (pre-1970 timestamps): BigInt is fine.
      let u = BigInt.asUintN(64, BigInt(v));
      for (let i = 0; i < 9; i++) {
        this.#buf[this.#len++] = Number(u & 0x7fn) | 0x80;
        u >>= 7n;
      }
      this.#buf[this.#len++] = Number(u);
      return;
    }
    while (v >= 0x80) {
      this.#buf[this.#len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.#buf[this.#len++] = v;
  }

  bytes(b: Uint8Array): void {
    this.#grow(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  fixed64From(values: Float64Array, i: number): void {
    this.#grow(8);
    const src = new Uint8Array(values.buffer, values.byteOffset + i * 8, 8);
    for (let b = 0; b < 8; b++) this.#buf[this.#len++] = src[littleEndian ? b : 7 - b]!;
  }

  take(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

const utf8Encoder = new TextEncoder();

/** A series to encode: labels (`__name__` included) and samples. */
export interface SeriesToWrite {
  labels: readonly (readonly [string, string])[];
  timestamps: ArrayLike<number>;
  /** Values; NaN bits are written as they are in the array. */
  values: Float64Array;
}

/** Encodes an uncompressed `WriteRequest`. */
export function encodeWriteRequest(series: readonly SeriesToWrite[]): Uint8Array {
  const top = new Writer();
  for (const s of series) {
    const ts = new Writer();
    for (const [n, v] of s.labels) {
      const l = new Writer();
      const nb = utf8Encoder.encode(n);
      const vb = utf8Encoder.encode(v);
      l.varint(0x0a);
      l.varint(nb.length);
      l.bytes(nb);
      l.varint(0x12);
      l.varint(vb.length);
      l.bytes(vb);
      const lb = l.take();
      ts.varint(0x0a);
      ts.varint(lb.length);
      ts.bytes(lb);
    }
    for (let i = 0; i < s.timestamps.length; i++) {
      const w = new Writer();
      w.varint(0x09);
      w.fixed64From(s.values, i);
      w.varint(0x10);
      w.varint(s.timestamps[i]!);
      const sb = w.take();
      ts.varint(0x12);
      ts.varint(sb.length);
      ts.bytes(sb);
    }
    const tb = ts.take();
    top.varint(0x0a);
    top.varint(tb.length);
    top.bytes(tb);
  }
  return top.take();
}

/** Encodes and Snappy-compresses a remote-write body. */
export function encodeRemoteWrite(series: readonly SeriesToWrite[]): Uint8Array {
  return snappyCompress(encodeWriteRequest(series));
}
