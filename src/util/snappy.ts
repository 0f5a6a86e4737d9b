/**
 * Raw Snappy (no framing) for every part of CityHall: SSTable data blocks, replication frames
 * and Prometheus remote write. Written here from the format description (Snappy's
 * `format_description.txt`) rather than taken from npm: SnappyJS, the package used before, is
 * CommonJS, and loading it brought Deno's Node compatibility layer into every server at start
 * (~3.6 MiB of an idle server's RSS: ARCHITECTURE.md § "Memory"). Streams written by SnappyJS
 * (older tables, peers) are the same format; tests/util/snappy_test.ts checks both directions
 * against it. ARCHITECTURE.md § "Snappy validation" describes the checks.
 *
 * Input from disk or a network peer is never trusted: `snappyUncompress` first runs
 * `validateSnappy`, one linear pass over the tags (each tag consumes at least one input byte,
 * so the pass ends after at most `input.length` steps) that checks every literal and copy
 * against the input's end and the declared length, and only a stream that passes is decoded,
 * by a loop that can then rely on those checks. (SnappyJS trusted its input: 18 bytes from a
 * network peer once turned its literal length negative and froze the event loop.)
 *
 * The compressor is Snappy's greedy one: the input is cut into 64 KiB fragments compressed
 * independently (so every copy offset fits in 2 bytes), a 2^14-entry hash table of 4-byte
 * sequences finds match candidates, and the gap between lookups grows while nothing matches,
 * so incompressible data is skipped quickly.
 *
 * Invariants:
 * - `validateSnappy(s, max).ok` => `snappyUncompress(s, max)` returns exactly `length` bytes,
 *   in time linear in `length + s.length` (a fuzz test in tests/util/snappy_test.ts holds it).
 * - `snappyUncompress(snappyCompress(x), x.length)` equals `x`, and `snappyCompress`'s output is
 *   at most `32 + n + n / 6` bytes for `n` input bytes.
 * - Every failure is a `CorruptionError` naming the reason and the input offset; callers that
 *   read from a socket convert it to `ProtocolError`.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";

/** Most bytes of the varint length header: 5 × 7 bits cover every u32. */
const LENGTH_HEADER_BYTES_MAX = 5;
/** Literal tags whose length field says "the length follows in 1 to 4 bytes" start here. */
const LITERAL_LONG_FORM = 60;

/** The result of `validateSnappy`. */
export type SnappyCheck =
  | { ok: true; /** Declared (and verified) uncompressed length. */ length: number }
  | { ok: false; /** What is wrong, with the input offset. */ reason: string };

/** The compressor's fragment: copies never reach back past its start, so offsets fit 16 bits. */
const FRAGMENT_BYTES = 1 << 16;
/** Bits of the match finder's hash table (16,384 entries, 64 KiB, reused across calls). */
const HASH_BITS = 14;
/** Fragments shorter than this are stored as one literal (too short to find matches in). */
const FRAGMENT_MIN_MATCHING_BYTES = 15;
/** Longest copy one tag holds. */
const COPY_BYTES_MAX = 64;
/** Longest copy the 1-byte-offset form holds (and the largest offset: 2^11 - 1). */
const COPY1_BYTES_MAX = 11;
const COPY1_OFFSET_MAX = 2047;

/** Literals shorter than this are copied byte by byte: cheaper than a `subarray` and `set`. */
const SHORT_BYTES = 32;

const table = new Int32Array(1 << HASH_BITS);

/** The 4 bytes at `i` as a 32-bit integer (little-endian; only compared and hashed). */
function load32(a: Uint8Array, i: number): number {
  return a[i]! | (a[i + 1]! << 8) | (a[i + 2]! << 16) | (a[i + 3]! << 24);
}

function hash32(v: number): number {
  return Math.imul(v, 0x1e35a7bd) >>> (32 - HASH_BITS);
}

/** Writes a literal of `src[from, to)` at `pos`; returns the new position. */
function emitLiteral(out: Uint8Array, pos: number, src: Uint8Array, from: number, to: number) {
  const n = to - from - 1;
  if (n < LITERAL_LONG_FORM) {
    out[pos++] = n << 2;
  } else {
    const start = pos++;
    let width = 0;
    for (let v = n; v > 0; v = Math.floor(v / 256)) {
      out[pos++] = v & 0xff;
      width++;
    }
    out[start] = (LITERAL_LONG_FORM - 1 + width) << 2;
  }
  if (to - from < SHORT_BYTES) {
    for (let i = from; i < to; i++) out[pos++] = src[i]!;
    return pos;
  }
  out.set(src.subarray(from, to), pos);
  return pos + to - from;
}

/** Writes a copy of `len` (4..64) bytes from `offset` (1..65535) back; returns the new position. */
function emitCopyTag(out: Uint8Array, pos: number, offset: number, len: number): number {
  if (len <= COPY1_BYTES_MAX && offset <= COPY1_OFFSET_MAX) {
    out[pos++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[pos++] = offset & 0xff;
  } else {
    out[pos++] = 2 | ((len - 1) << 2);
    out[pos++] = offset & 0xff;
    out[pos++] = offset >>> 8;
  }
  return pos;
}

/** Writes a copy of any length >= 4 as tags of at most 64 bytes, none shorter than 4. */
function emitCopy(out: Uint8Array, pos: number, offset: number, len: number): number {
  while (len >= COPY_BYTES_MAX + 4) {
    pos = emitCopyTag(out, pos, offset, COPY_BYTES_MAX);
    len -= COPY_BYTES_MAX;
  }
  if (len > COPY_BYTES_MAX) {
    // 65..67 bytes: 60 now leaves 5..7, so no tag is shorter than 4.
    pos = emitCopyTag(out, pos, offset, COPY_BYTES_MAX - 4);
    len -= COPY_BYTES_MAX - 4;
  }
  return emitCopyTag(out, pos, offset, len);
}

/** Compresses `src[start, end)` (at most `FRAGMENT_BYTES`) into `out` at `pos`. */
function compressFragment(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  pos: number,
): number {
  let nextEmit = start;
  if (end - start >= FRAGMENT_MIN_MATCHING_BYTES) {
    // Every slot points into this fragment; a stale slot is only a candidate that is checked.
    table.fill(start);
    // The last 4-byte load starts at most here, so match finding never reads past `end`.
    const ipLimit = end - FRAGMENT_MIN_MATCHING_BYTES;
    let ip = start + 1;
    let nextHash = hash32(load32(src, ip));
    outer: for (;;) {
      // Look for a 4-byte match, striding further the longer nothing matched.
      let skip = 32;
      let nextIp = ip;
      let candidate: number;
      do {
        ip = nextIp;
        const h = nextHash;
        nextIp = ip + (skip++ >>> 5);
        if (nextIp > ipLimit) break outer;
        nextHash = hash32(load32(src, nextIp));
        candidate = table[h]!;
        table[h] = ip;
      } while (load32(src, ip) !== load32(src, candidate));
      pos = emitLiteral(out, pos, src, nextEmit, ip);
      // Emit the match, then try for another right after it before going back to searching.
      do {
        let len = 4;
        while (ip + len < end && src[candidate + len] === src[ip + len]) len++;
        pos = emitCopy(out, pos, ip - candidate, len);
        ip += len;
        nextEmit = ip;
        if (ip >= ipLimit) break outer;
        table[hash32(load32(src, ip - 1))] = ip - 1;
        const h = hash32(load32(src, ip));
        candidate = table[h]!;
        table[h] = ip;
      } while (load32(src, ip) === load32(src, candidate));
      ip++;
      nextHash = hash32(load32(src, ip));
    }
  }
  if (nextEmit < end) pos = emitLiteral(out, pos, src, nextEmit, end);
  return pos;
}

/** Snappy-compresses `raw`. */
export function snappyCompress(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(32 + raw.length + Math.floor(raw.length / 6));
  let pos = 0;
  let n = raw.length;
  for (; n >= 0x80; n = Math.floor(n / 128)) out[pos++] = (n & 0x7f) | 0x80;
  out[pos++] = n;
  for (let start = 0; start < raw.length; start += FRAGMENT_BYTES) {
    pos = compressFragment(raw, start, Math.min(raw.length, start + FRAGMENT_BYTES), out, pos);
  }
  return out.slice(0, pos);
}

/** The uncompressed length in a Snappy stream's varint header, or -1 when malformed. */
export function snappyUncompressedLength(compressed: Uint8Array): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < LENGTH_HEADER_BYTES_MAX && i < compressed.length; i++) {
    const b = compressed[i]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
  return -1;
}

/**
 * Checks that `input` is a raw Snappy stream that decodes to at most `uncompressedBytesMax`
 * bytes, without decoding it: the length header is at most 5 bytes and at most the bound; every
 * literal lies inside the input; every copy has an offset from 1 to the bytes produced so far;
 * no element writes past the declared length; and the elements produce exactly that length.
 * Arithmetic is done on non-negative numbers (no 32-bit shifts), so no length wraps.
 *
 * One stricter rule than the format: a literal in the long form (tag length field 60-63) must
 * leave at least 4 bytes after its tag (SnappyJS, which decoded CityHall's streams before,
 * read 4 bytes there whatever the form's width; the rule is kept so that what was refused
 * stays refused). Encoders use the long form only for literals over 60 bytes, so no stream
 * produced by a Snappy encoder is refused by it.
 */
export function validateSnappy(input: Uint8Array, uncompressedBytesMax: number): SnappyCheck {
  const n = input.length;
  const fail = (reason: string, at: number): SnappyCheck => ({
    ok: false,
    reason: `${reason} at input offset ${at}`,
  });
  let length = 0;
  let scale = 1;
  let pos = 0;
  for (;;) {
    if (pos >= n) return fail("truncated length header", pos);
    if (pos >= LENGTH_HEADER_BYTES_MAX) return fail("length header over 5 bytes", pos);
    const b = input[pos++]!;
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
  }
  if (length > uncompressedBytesMax) {
    return fail(`declared length ${length} over the limit ${uncompressedBytesMax}`, 0);
  }
  let out = 0;
  // Bounded: every pass consumes at least the tag byte.
  while (pos < n) {
    const at = pos;
    const tag = input[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = (tag >>> 2) + 1;
      if (len > LITERAL_LONG_FORM) {
        const width = len - LITERAL_LONG_FORM;
        if (n - pos < 4) return fail("truncated literal length", at);
        len = 1;
        for (let i = 0, unit = 1; i < width; i++, unit *= 256) len += input[pos + i]! * unit;
        pos += width;
      }
      if (len > n - pos) return fail(`literal of ${len} bytes runs past the end of the input`, at);
      if (len > length - out) {
        return fail(`literal of ${len} bytes runs past the declared length ${length}`, at);
      }
      pos += len;
      out += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (n - pos < 1) return fail("truncated 1-byte-offset copy", at);
      len = ((tag >>> 2) & 7) + 4;
      offset = (tag >>> 5) * 256 + input[pos]!;
      pos += 1;
    } else if (kind === 2) {
      if (n - pos < 2) return fail("truncated 2-byte-offset copy", at);
      len = (tag >>> 2) + 1;
      offset = input[pos]! + input[pos + 1]! * 256;
      pos += 2;
    } else {
      if (n - pos < 4) return fail("truncated 4-byte-offset copy", at);
      len = (tag >>> 2) + 1;
      offset = input[pos]! + input[pos + 1]! * 256 + input[pos + 2]! * 65536 +
        input[pos + 3]! * 16777216;
      pos += 4;
    }
    if (offset === 0) return fail("copy with offset 0", at);
    if (offset > out) return fail(`copy from ${offset} bytes back, only ${out} decoded`, at);
    if (len > length - out) {
      return fail(`copy of ${len} bytes runs past the declared length ${length}`, at);
    }
    out += len;
  }
  if (out !== length) return fail(`stream decodes to ${out} bytes, header says ${length}`, n);
  return { ok: true, length };
}

/**
 * Decompresses `compressed` after `validateSnappy` accepted it. Throws `CorruptionError`
 * (`Invalid Snappy data: REASON at input offset N`) when it did not; decodes nothing then.
 */
export function snappyUncompress(compressed: Uint8Array, uncompressedBytesMax: number): Uint8Array {
  const check = validateSnappy(compressed, uncompressedBytesMax);
  if (!check.ok) throw new CorruptionError(`Invalid Snappy data: ${check.reason}`);
  return decodeValidated(compressed, check.length);
}

/** Decodes a stream `validateSnappy` accepted with `length`: every bound was checked there. */
function decodeValidated(input: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let pos = 0;
  while (input[pos++]! >= 0x80);
  let o = 0;
  const n = input.length;
  while (pos < n) {
    const tag = input[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = (tag >>> 2) + 1;
      if (len > LITERAL_LONG_FORM) {
        const width = len - LITERAL_LONG_FORM;
        len = 1;
        for (let i = 0, unit = 1; i < width; i++, unit *= 256) len += input[pos + i]! * unit;
        pos += width;
      }
      if (len < SHORT_BYTES) {
        for (const stop = pos + len; pos < stop;) out[o++] = input[pos++]!;
      } else {
        out.set(input.subarray(pos, pos + len), o);
        pos += len;
        o += len;
      }
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      len = ((tag >>> 2) & 7) + 4;
      offset = (tag >>> 5) * 256 + input[pos]!;
      pos += 1;
    } else if (kind === 2) {
      len = (tag >>> 2) + 1;
      offset = input[pos]! + input[pos + 1]! * 256;
      pos += 2;
    } else {
      len = (tag >>> 2) + 1;
      offset = input[pos]! + input[pos + 1]! * 256 + input[pos + 2]! * 65536 +
        input[pos + 3]! * 16777216;
      pos += 4;
    }
    // Byte by byte: copies are short, and an overlapping one (a run) must repeat the bytes it
    // has just written.
    for (const stop = o + len; o < stop; o++) out[o] = out[o - offset]!;
  }
  return out;
}
