/**
 * The remote-write exporter's position file (ARCHITECTURE.md § "Remote-write position file"):
 * per series (by data version), the newest timestamp the receiver acknowledged, plus the time
 * the target was first configured. Written atomically (temp file, fsync, rename, directory
 * fsync) after every acknowledged request, so a crash ships some samples twice (receivers accept
 * a resent identical sample) but never skips one.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { crc32c, maskCrc, unmaskCrc } from "../util/crc32c.ts";

/** `CHRW` */
const MAGIC = [0x43, 0x48, 0x52, 0x57];
/** Format version; on disk: never reuse. */
export const POSITION_FORMAT_VERSION = 1;
const HEADER_BYTES = 20;
const ENTRY_BYTES = 16;

/** What a position file holds. */
export interface Position {
  /** Samples at or before this time (ms) are never shipped: the target's start. */
  startMs: number;
  /** Series version → newest acknowledged timestamp (ms). */
  shipped: Map<number, number>;
}

function putU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v % 0x1_0000_0000, true);
  view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000), true);
}

function getU64(view: DataView, at: number): number {
  const v = view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x1_0000_0000;
  if (!Number.isSafeInteger(v)) {
    throw new CorruptionError("Cannot read remote-write position: number out of range");
  }
  return v;
}

/** Encodes a position (little-endian; see the ARCHITECTURE section). */
export function encodePosition(p: Position): Uint8Array {
  const n = p.shipped.size;
  const out = new Uint8Array(HEADER_BYTES + n * ENTRY_BYTES + 4);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = POSITION_FORMAT_VERSION;
  putU64(view, 8, p.startMs);
  view.setUint32(16, n, true);
  let at = HEADER_BYTES;
  for (const [version, ts] of p.shipped) {
    putU64(view, at, version);
    putU64(view, at + 8, ts);
    at += ENTRY_BYTES;
  }
  view.setUint32(at, maskCrc(crc32c(out, 0, at)), true);
  return out;
}

/** Decodes a position file; throws `CorruptionError` when it is damaged. */
export function decodePosition(buf: Uint8Array): Position {
  const fail = (why: string): never => {
    throw new CorruptionError(`Cannot read remote-write position: ${why}`);
  };
  if (buf.length < HEADER_BYTES + 4) fail(`too short (${buf.length} bytes)`);
  for (let i = 0; i < 4; i++) if (buf[i] !== MAGIC[i]) fail("bad magic");
  if (buf[4] !== POSITION_FORMAT_VERSION) fail(`unknown format version ${buf[4]}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.getUint32(16, true);
  const end = HEADER_BYTES + n * ENTRY_BYTES;
  if (buf.length !== end + 4) fail(`length ${buf.length} does not match ${n} entries`);
  if (unmaskCrc(view.getUint32(end, true)) !== crc32c(buf, 0, end)) fail("checksum mismatch");
  const shipped = new Map<number, number>();
  for (let at = HEADER_BYTES; at < end; at += ENTRY_BYTES) {
    shipped.set(getU64(view, at), getU64(view, at + 8));
  }
  return { startMs: getU64(view, 8), shipped };
}
