/**
 * The salvage export file: the live key/values of a database, in key order, each record
 * checksummed, closed by an END record that counts them and checksums the whole stream.
 * `cityhall salvage` writes it, `cityhall import` loads it into a fresh data directory.
 * ARCHITECTURE.md § "Export file" documents it byte by byte with a worked example.
 *
 * ```
 * header (32 bytes): magic "CHEXPORT" | version u32 = 1 | flags u32 = 0 | createdAtMs u64
 *                    | reserved u32 = 0 | crc u32 = maskCrc(crc32c(bytes 0..27))
 * record:            length u32 | crc u32 | type u8 | body (length bytes)
 *                    crc = maskCrc(crc32c(length bytes ‖ type ‖ body))
 * ENTRY (type 1):    varint keyLen | key | varint expireAtMs (0 = never) | varint valueLen | value
 * END (type 2):      entries u64 | keyValueBytes u64 | streamCrc u32
 *                    streamCrc = maskCrc(crc32c(every byte before the END record))
 * ```
 *
 * Invariants:
 * - Integers are little-endian; varints are LEB128 as everywhere (≤ 8 bytes, safe integers).
 * - ENTRY keys strictly ascend as unsigned bytes; key and value sizes are within the engine's
 *   limits, so every entry can be written back; a record's length is at most
 *   `EXPORT_RECORD_BYTES_MAX`.
 * - Exactly one END record, last, and nothing after it. A file that ends early, has a bad
 *   record, or whose counts or stream checksum differ is rejected whole.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import {
  EXPIRE_AT_MS_MAX,
  EXPORT_RECORD_BYTES_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import { assert } from "../util/assert.ts";
import { compareBytes } from "../util/bytes.ts";
import { getU64, getVarint, putU64, putVarint, varintLength, viewOf } from "../util/coding.ts";
import { crc32c, crc32cExtend, maskCrc } from "../util/crc32c.ts";

/** "CHEXPORT": the first 8 bytes of every export file. */
export const EXPORT_MAGIC = new Uint8Array([0x43, 0x48, 0x45, 0x58, 0x50, 0x4f, 0x52, 0x54]);
/** Current export format version. */
export const EXPORT_FORMAT_VERSION = 1;
/** Bytes in the file header. */
export const EXPORT_HEADER_BYTES = 32;
/** Bytes before a record's body: length u32, crc u32, type u8. */
export const EXPORT_RECORD_HEADER_BYTES = 9;
/** Record types. On disk: never renumber. */
export const EXPORT_RECORD_ENTRY = 1;
/** The last record. On disk: never renumber. */
export const EXPORT_RECORD_END = 2;
/** Bytes in an END record's body. */
export const EXPORT_END_BODY_BYTES = 20;

/** One exported key/value. */
export interface ExportEntry {
  /** The key. */
  key: Uint8Array;
  /** The value. */
  value: Uint8Array;
  /** Expiry as Unix milliseconds; 0 = never. */
  expireAtMs: number;
}

/** Totals an END record carries. */
export interface ExportTotals {
  /** ENTRY records. */
  entries: number;
  /** Sum of key and value lengths. */
  keyValueBytes: number;
}

const FLUSH_BYTES = 1 << 20;

/**
 * Writes an export to `sink` in chunks of about 1 MiB: the header at construction, `add` for
 * each entry in ascending key order, `finish` for the END record.
 */
export class ExportWriter {
  readonly #sink: (chunk: Uint8Array) => void;
  #buf = new Uint8Array(FLUSH_BYTES);
  #used = 0;
  #streamCrc = 0;
  #lastKey: Uint8Array | undefined;
  #totals: ExportTotals = { entries: 0, keyValueBytes: 0 };
  #finished = false;

  /** Starts an export; `createdAtMs` goes into the header. */
  constructor(sink: (chunk: Uint8Array) => void, createdAtMs: number) {
    this.#sink = sink;
    const header = new Uint8Array(EXPORT_HEADER_BYTES);
    const view = viewOf(header);
    header.set(EXPORT_MAGIC, 0);
    view.setUint32(8, EXPORT_FORMAT_VERSION, true);
    view.setUint32(12, 0, true);
    putU64(view, 16, createdAtMs);
    view.setUint32(24, 0, true);
    view.setUint32(28, maskCrc(crc32c(header, 0, 28)), true);
    this.#append(header);
  }

  /** Totals so far. */
  get totals(): ExportTotals {
    return { ...this.#totals };
  }

  /** Appends one entry. REQUIRES: key above the previous key; sizes within the limits. */
  add(entry: ExportEntry): void {
    assert(!this.#finished, "export is not finished");
    assert(
      this.#lastKey === undefined || compareBytes(this.#lastKey, entry.key) < 0,
      "export keys strictly ascend",
    );
    assert(entry.key.length <= KEY_SIZE_BYTES_MAX, "export key within the limit");
    assert(entry.value.length <= VALUE_SIZE_BYTES_MAX, "export value within the limit");
    const { key, value, expireAtMs } = entry;
    const body = new Uint8Array(
      varintLength(key.length) + key.length + varintLength(expireAtMs) +
        varintLength(value.length) + value.length,
    );
    let o = putVarint(body, 0, key.length);
    body.set(key, o);
    o = putVarint(body, o + key.length, expireAtMs);
    o = putVarint(body, o, value.length);
    body.set(value, o);
    assert(o + value.length === body.length, "export entry size accounting");
    this.#record(EXPORT_RECORD_ENTRY, body);
    this.#lastKey = key.slice();
    this.#totals.entries++;
    this.#totals.keyValueBytes += key.length + value.length;
  }

  /** Appends the END record and hands everything to the sink. */
  finish(): ExportTotals {
    assert(!this.#finished, "export finishes once");
    const body = new Uint8Array(EXPORT_END_BODY_BYTES);
    const view = viewOf(body);
    putU64(view, 0, this.#totals.entries);
    putU64(view, 8, this.#totals.keyValueBytes);
    view.setUint32(16, maskCrc(this.#streamCrc), true);
    this.#record(EXPORT_RECORD_END, body);
    this.#flush();
    this.#finished = true;
    return this.totals;
  }

  #record(type: number, body: Uint8Array): void {
    const header = new Uint8Array(EXPORT_RECORD_HEADER_BYTES);
    const view = viewOf(header);
    view.setUint32(0, body.length, true);
    header[8] = type;
    let c = crc32cExtend(0, header, 0, 4);
    c = crc32cExtend(c, header, 8, 9);
    view.setUint32(4, maskCrc(crc32cExtend(c, body)), true);
    this.#append(header);
    this.#append(body);
  }

  #append(bytes: Uint8Array): void {
    this.#streamCrc = crc32cExtend(this.#streamCrc, bytes);
    if (this.#used + bytes.length > this.#buf.length) this.#flush();
    if (bytes.length >= this.#buf.length) {
      this.#sink(bytes);
      return;
    }
    this.#buf.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  #flush(): void {
    if (this.#used === 0) return;
    this.#sink(this.#buf.slice(0, this.#used));
    this.#used = 0;
  }
}

/** What the reader yields. */
export type ExportItem =
  | { type: "entry"; entry: ExportEntry; offset: number }
  | { type: "end"; totals: ExportTotals; offset: number };

/**
 * Reads an export from a stream of chunks, checking everything as it goes: header, each
 * record's checksum, type and body, key order, then the END record's counts and stream
 * checksum and that nothing follows it. Throws `CorruptionError` naming `where` and the byte
 * offset at the first problem. The caller must treat entries as tentative until "end".
 */
export async function* readExport(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  where: string,
): AsyncGenerator<ExportItem, void, undefined> {
  const fail = (what: string, offset: number): never => {
    throw new CorruptionError(`Cannot read export: ${what} at offset ${offset} in ${where}`);
  };
  const input = new ByteQueue((async function* () {
    yield* chunks;
  })());
  const header = await input.take(EXPORT_HEADER_BYTES);
  if (header.length < EXPORT_HEADER_BYTES) fail("file shorter than its header", 0);
  for (let i = 0; i < EXPORT_MAGIC.length; i++) {
    if (header[i] !== EXPORT_MAGIC[i]) fail("bad magic (not a CityHall export)", 0);
  }
  const hv = viewOf(header);
  if (hv.getUint32(28, true) !== maskCrc(crc32c(header, 0, 28))) {
    fail("header checksum mismatch", 28);
  }
  const version = hv.getUint32(8, true);
  if (version !== EXPORT_FORMAT_VERSION) fail(`unsupported format version ${version}`, 8);
  if (hv.getUint32(12, true) !== 0 || hv.getUint32(24, true) !== 0) {
    fail("reserved bytes not zero", 12);
  }
  let streamCrc = crc32cExtend(0, header);
  let offset = EXPORT_HEADER_BYTES;
  let lastKey: Uint8Array | undefined;
  const totals: ExportTotals = { entries: 0, keyValueBytes: 0 };
  for (;;) {
    const rh = await input.take(EXPORT_RECORD_HEADER_BYTES);
    if (rh.length < EXPORT_RECORD_HEADER_BYTES) fail("file ends before its END record", offset);
    const view = viewOf(rh);
    const length = view.getUint32(0, true);
    if (length > EXPORT_RECORD_BYTES_MAX) fail(`record length ${length} over the limit`, offset);
    const body = await input.take(length);
    if (body.length < length) fail("truncated record", offset);
    let c = crc32cExtend(0, rh, 0, 4);
    c = crc32cExtend(c, rh, 8, 9);
    if (view.getUint32(4, true) !== maskCrc(crc32cExtend(c, body))) {
      fail("record checksum mismatch", offset);
    }
    const type = rh[8]!;
    if (type === EXPORT_RECORD_END) {
      if (length !== EXPORT_END_BODY_BYTES) fail("bad END record length", offset);
      const bv = viewOf(body);
      let stored: ExportTotals;
      try {
        stored = { entries: getU64(bv, 0), keyValueBytes: getU64(bv, 8) };
      } catch {
        return fail("END record count out of range", offset);
      }
      if (stored.entries !== totals.entries || stored.keyValueBytes !== totals.keyValueBytes) {
        fail(
          `END record counts ${stored.entries} entries, the file holds ${totals.entries}`,
          offset,
        );
      }
      if (bv.getUint32(16, true) !== maskCrc(streamCrc)) fail("stream checksum mismatch", offset);
      if (!(await input.atEnd())) {
        fail("bytes after the END record", offset + EXPORT_RECORD_HEADER_BYTES + length);
      }
      yield { type: "end", totals, offset };
      return;
    }
    if (type !== EXPORT_RECORD_ENTRY) fail(`unknown record type ${type}`, offset + 8);
    const entry = decodeEntry(body, (what) => fail(what, offset));
    if (lastKey !== undefined && compareBytes(lastKey, entry.key) >= 0) {
      fail("keys out of order", offset);
    }
    lastKey = entry.key;
    totals.entries++;
    totals.keyValueBytes += entry.key.length + entry.value.length;
    yield { type: "entry", entry, offset };
    streamCrc = crc32cExtend(crc32cExtend(streamCrc, rh), body);
    offset += EXPORT_RECORD_HEADER_BYTES + length;
  }
}

function decodeEntry(body: Uint8Array, fail: (what: string) => never): ExportEntry {
  try {
    const k = getVarint(body, 0);
    if (k.value > KEY_SIZE_BYTES_MAX || k.value > body.length - k.offset) fail("bad key length");
    const key = body.slice(k.offset, k.offset + k.value);
    const e = getVarint(body, k.offset + k.value);
    if (e.value > EXPIRE_AT_MS_MAX) fail("bad expiry");
    const v = getVarint(body, e.offset);
    if (v.value > VALUE_SIZE_BYTES_MAX || v.value !== body.length - v.offset) {
      fail("bad value length");
    }
    return { key, value: body.slice(v.offset), expireAtMs: e.value };
  } catch (err) {
    if (err instanceof CorruptionError && err.message.startsWith("Cannot read export")) throw err;
    return fail(`bad ENTRY record (${(err as Error).message})`);
  }
}

/** Takes exact byte counts from an async stream of chunks. */
class ByteQueue {
  readonly #source: AsyncIterator<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;

  constructor(source: AsyncIterator<Uint8Array>) {
    this.#source = source;
  }

  /** The next `n` bytes, or fewer at the end of the stream. */
  async take(n: number): Promise<Uint8Array> {
    while (this.#buffered < n && !this.#done) await this.#pull();
    const out = new Uint8Array(Math.min(n, this.#buffered));
    let o = 0;
    while (o < out.length) {
      const head = this.#chunks[0]!;
      const m = Math.min(head.length, out.length - o);
      out.set(head.subarray(0, m), o);
      o += m;
      if (m === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(m);
    }
    this.#buffered -= out.length;
    return out;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    while (this.#buffered === 0 && !this.#done) await this.#pull();
    return this.#buffered === 0;
  }

  async #pull(): Promise<void> {
    const next = await this.#source.next();
    if (next.done) {
      this.#done = true;
      return;
    }
    if (next.value.length === 0) return;
    this.#chunks.push(next.value);
    this.#buffered += next.value.length;
  }
}
