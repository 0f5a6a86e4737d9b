/**
 * Raw Snappy (no framing) for every part of CityHall: SSTable data blocks and replication
 * frames. The only module that imports SnappyJS (npm:snappyjs@0.7.0); a test fails when another
 * does. ARCHITECTURE.md § "Snappy validation" describes the checks.
 *
 * SnappyJS trusts its input. It builds a 4-byte literal length as `b << 24`, which turns
 * negative from 0x80000000 on, and then walks its input backwards for about 2^31 steps: 18 bytes
 * from a network peer froze the event loop. It also ignores copies that start before the output
 * and returns zero-filled buffers when a stream is shorter than its header says. So nothing is
 * handed to it unchecked: `snappyUncompress` first runs `validateSnappy`, one linear pass over
 * the tags (each tag consumes at least one input byte, so the pass ends after at most
 * `input.length` steps) that checks every literal and copy against the input's end and the
 * declared length, and only a stream that passes is decoded.
 *
 * Invariants:
 * - `validateSnappy(s, max).ok` ⇒ `snappyUncompress(s, max)` returns exactly `length` bytes,
 *   in time linear in `length + s.length` (a fuzz test in tests/util/snappy_test.ts holds it).
 * - Every failure is a `CorruptionError` naming the reason and the input offset; callers that
 *   read from a socket convert it to `ProtocolError`.
 *
 * @module
 */

import SnappyJS from "snappyjs";
import { CorruptionError } from "../errors.ts";

interface SnappyJs {
  compress(raw: Uint8Array): Uint8Array;
  uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
}

const snappy = SnappyJS as unknown as SnappyJs;

/** Most bytes of the varint length header: 5 × 7 bits cover every u32. */
const LENGTH_HEADER_BYTES_MAX = 5;
/** Literal tags whose length field says "the length follows in 1 to 4 bytes" start here. */
const LITERAL_LONG_FORM = 60;

/** The result of `validateSnappy`. */
export type SnappyCheck =
  | { ok: true; /** Declared (and verified) uncompressed length. */ length: number }
  | { ok: false; /** What is wrong, with the input offset. */ reason: string };

/** Snappy-compresses `raw`. */
export function snappyCompress(raw: Uint8Array): Uint8Array {
  return snappy.compress(raw);
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
 * One stricter rule than the format: a literal in the long form (tag length field 60–63) must
 * leave at least 4 bytes after its tag, because SnappyJS reads 4 bytes there whatever the
 * form's width. Encoders use the long form only for literals over 60 bytes, so no stream
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
  let raw: Uint8Array;
  try {
    raw = snappy.uncompress(compressed, check.length);
  } catch (err) {
    // The validator accepted what SnappyJS refuses: report it as corrupt input all the same.
    throw new CorruptionError(`Invalid Snappy data: ${(err as Error).message}`, { cause: err });
  }
  if (raw.length !== check.length) {
    throw new CorruptionError(
      `Invalid Snappy data: decoded ${raw.length} bytes, header says ${check.length}`,
    );
  }
  return raw;
}
