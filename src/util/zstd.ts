/**
 * Zstandard for CityHall Sync's fleet frames (`node:zlib`'s `zstdCompressSync` and
 * `zstdDecompressSync`). The only module that calls them. ARCHITECTURE.md § "Zstandard
 * frames" describes the checks.
 *
 * `zstdDecompressSync` is lax: it ignores bytes after the first frame (trailing garbage and a
 * second frame decode as if absent) and, without a declared size, grows its output until a
 * limit. So nothing from a peer is handed to it unchecked: `validateZstd` walks the frame
 * first, one linear pass over the frame header and block headers, and only accepts what
 * `zstdCompress` produces:
 *
 * - the magic `28 b5 2f fd`, then a frame header with Frame_Content_Size (the exact
 *   uncompressed length, at most the caller's limit), a window of at most 8 MiB when it is not
 *   Single_Segment (the decoder's memory), no dictionary, the reserved bit clear and
 *   Content_Checksum set (zstd checks an xxHash64 of the content when it decodes);
 * - blocks back to back, none of the reserved type, none larger than 128 KiB, raw and RLE
 *   blocks adding up to no more than the content size, and the last block followed by exactly
 *   the 4-byte checksum and the end of the input.
 *
 * Invariants:
 * - `validateZstd(z, max).ok` ⇒ `zstdUncompress(z, max)` allocates at most the declared
 *   length (≤ max) and returns exactly that many bytes or throws `CorruptionError`.
 * - Every failure is a `CorruptionError` naming the reason and the input offset; callers that
 *   read from a socket convert it to `ProtocolError`.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { CorruptionError } from "../errors.ts";

/** The first four bytes of every zstd frame (0xFD2FB528 little-endian). */
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/** Widths of Frame_Content_Size by the descriptor's top two bits (flag 0: 1 byte if single). */
const FCS_BYTES = [0, 2, 4, 8];
/** Largest window a frame may ask the decoder for (zstd level 19 asks 8 MiB at most). */
const ZSTD_WINDOW_BYTES_MAX = 8 * 1024 * 1024;
/** Largest block a frame may hold (zstd's Block_Maximum_Size). */
const ZSTD_BLOCK_BYTES_MAX = 128 * 1024;
/** Bytes of a block header. */
const ZSTD_BLOCK_HEADER_BYTES = 3;
/** Bytes of the content checksum after the last block. */
const ZSTD_CHECKSUM_BYTES = 4;
/** Largest input `zstdCompress` takes: the content size field is 4 bytes. */
const ZSTD_CONTENT_BYTES_MAX = 0xffff_ffff;

/** The result of `validateZstd`. */
export type ZstdCheck =
  | { ok: true; /** Declared uncompressed length. */ length: number }
  | { ok: false; /** What is wrong, with the input offset. */ reason: string };

/**
 * Compresses `raw` into one zstd frame that `validateZstd` accepts: single segment, content
 * size and checksum in the frame.
 */
export function zstdCompress(raw: Uint8Array, level: number): Uint8Array {
  if (raw.length > ZSTD_CONTENT_BYTES_MAX) {
    throw new RangeError(`zstdCompress: ${raw.length} bytes is over the 4 GiB frame limit`);
  }
  const C = zlib.constants;
  const out = zlib.zstdCompressSync(raw, {
    pledgedSrcSize: raw.length,
    params: {
      [C.ZSTD_c_compressionLevel]: level,
      [C.ZSTD_c_checksumFlag]: 1,
      [C.ZSTD_c_contentSizeFlag]: 1,
    },
  } as zlib.ZstdOptions);
  const frame = new Uint8Array(out.buffer, out.byteOffset, out.length);
  // node:zlib may end the output with a second, empty frame (seen with incompressible input):
  // keep the one frame that holds the content, which is what `validateZstd` accepts.
  const first = walkFrame(frame, raw.length);
  if (typeof first !== "string" && first.end < frame.length) {
    const rest = walkFrame(frame.subarray(first.end), 0);
    if (typeof rest !== "string" && rest.end === frame.length - first.end) {
      return frame.subarray(0, first.end);
    }
  }
  return frame;
}

/** Checks a zstd frame's structure and declared length against `lengthMax` (see the module). */
export function validateZstd(input: Uint8Array, lengthMax: number): ZstdCheck {
  const walked = walkFrame(input, lengthMax);
  if (typeof walked === "string") return { ok: false, reason: walked };
  if (walked.end !== input.length) {
    return {
      ok: false,
      reason: `${
        input.length - walked.end
      } bytes after the zstd frame at input offset ${walked.end}`,
    };
  }
  return { ok: true, length: walked.length };
}

/**
 * Walks one frame from the start of `input`: its end offset and declared length, or what is
 * wrong with it.
 */
function walkFrame(
  input: Uint8Array,
  lengthMax: number,
): { end: number; length: number } | string {
  const bad = (reason: string, at: number): string => `${reason} at input offset ${at}`;
  if (input.length < 6 + ZSTD_BLOCK_HEADER_BYTES + ZSTD_CHECKSUM_BYTES) {
    return bad(`zstd frame of ${input.length} bytes is too short`, 0);
  }
  for (let i = 0; i < ZSTD_MAGIC.length; i++) {
    if (input[i] !== ZSTD_MAGIC[i]) return bad("bad zstd magic", i);
  }
  const descriptor = input[4]!;
  // Unused and reserved bits (4, 3) clear, Content_Checksum (bit 2), no Dictionary_ID (bits
  // 1-0); bits 7-6 give the width of Frame_Content_Size, bit 5 is Single_Segment.
  if ((descriptor & 0b0001_1111) !== 0b0000_0100) {
    return bad(`unsupported zstd frame header descriptor 0x${descriptor.toString(16)}`, 4);
  }
  const single = (descriptor & 0b0010_0000) !== 0;
  const fcsFlag = descriptor >> 6;
  if (!single && fcsFlag === 0) return bad("zstd frame without its content size", 4);
  let at = 5;
  if (!single) {
    // Window_Descriptor: the decoder's memory; bounded so a peer cannot ask for gigabytes.
    const w = input[at]!;
    const base = 2 ** (10 + (w >> 3));
    const window = base + (base / 8) * (w & 7);
    if (window > ZSTD_WINDOW_BYTES_MAX) return bad(`zstd window of ${window} bytes`, at);
    at++;
  }
  const fcsBytes = fcsFlag === 0 ? 1 : FCS_BYTES[fcsFlag]!;
  if (input.length < at + fcsBytes) return bad("truncated zstd frame header", at);
  const view = new DataView(input.buffer, input.byteOffset + at, fcsBytes);
  const length = fcsBytes === 1
    ? view.getUint8(0)
    : fcsBytes === 2
    ? view.getUint16(0, true) + 256
    : fcsBytes === 4
    ? view.getUint32(0, true)
    : view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (length > lengthMax) {
    return bad(`zstd content size ${length} over the limit ${lengthMax}`, at);
  }
  at += fcsBytes;
  let known = 0;
  // Bounded: every block consumes at least its 3-byte header.
  while (true) {
    if (input.length - at < ZSTD_BLOCK_HEADER_BYTES) return bad("truncated zstd block header", at);
    const header = input[at]! | (input[at + 1]! << 8) | (input[at + 2]! << 16);
    const last = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) return bad("reserved zstd block type", at);
    if (size > ZSTD_BLOCK_BYTES_MAX) return bad(`zstd block of ${size} bytes`, at);
    at += ZSTD_BLOCK_HEADER_BYTES;
    // Raw and RLE blocks regenerate exactly `size` bytes; a compressed block at most 128 KiB.
    if (type !== 2) {
      known += size;
      if (known > length) return bad("zstd blocks exceed the content size", at);
    }
    const stored = type === 1 ? 1 : size;
    if (input.length - at < stored) return bad("truncated zstd block", at);
    at += stored;
    if (last) break;
  }
  if (input.length - at < ZSTD_CHECKSUM_BYTES) return bad("truncated zstd checksum", at);
  return { end: at + ZSTD_CHECKSUM_BYTES, length };
}

/**
 * Validates `input` (`validateZstd`) and decodes it to exactly its declared length, at most
 * `lengthMax` bytes. Throws `CorruptionError` on any failure, checksum included.
 */
export function zstdUncompress(input: Uint8Array, lengthMax: number): Uint8Array {
  const check = validateZstd(input, lengthMax);
  if (!check.ok) throw new CorruptionError(`Cannot decompress zstd frame: ${check.reason}`);
  let out: Uint8Array;
  try {
    const buf = zlib.zstdDecompressSync(input, { maxOutputLength: Math.max(1, check.length) });
    out = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  } catch (err) {
    throw new CorruptionError(
      `Cannot decompress zstd frame: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (out.length !== check.length) {
    throw new CorruptionError(
      `Cannot decompress zstd frame: ${out.length} bytes where the frame declares ${check.length}`,
    );
  }
  return out;
}
