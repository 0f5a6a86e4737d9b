/**
 * Typed access to SnappyJS (npm:snappyjs@0.7.0, the raw Snappy format without framing).
 *
 * SnappyJS throws plain `Error("Invalid Snappy bitstream")` on malformed input and, when the
 * length header is wrong, can return a buffer of the claimed length that is partly zeros. The
 * table reader therefore checks each block's CRC before it decompresses, converts every error
 * from here to `CorruptionError`, and validates the decoded block's structure.
 *
 * @module
 */

import SnappyJS from "snappyjs";

interface Snappy {
  compress(raw: Uint8Array): Uint8Array;
  uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
}

const snappy = SnappyJS as unknown as Snappy;

/** Snappy-compresses `raw`. */
export function snappyCompress(raw: Uint8Array): Uint8Array {
  return snappy.compress(raw);
}

/** Decompresses `compressed`; throws a plain `Error` when it is malformed or longer than `maxLength`. */
export function snappyUncompress(compressed: Uint8Array, maxLength: number): Uint8Array {
  return snappy.uncompress(compressed, maxLength);
}

/** The uncompressed length in a Snappy stream's varint header, or -1 when malformed. */
export function snappyUncompressedLength(compressed: Uint8Array): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 5 && i < compressed.length; i++) {
    const b = compressed[i]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
  return -1;
}
