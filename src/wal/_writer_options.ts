/**
 * Checks of `WalWriter.open`'s options and of a record's size. Private to `src/wal/`.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import {
  WAL_GROUP_COMMIT_BYTES_MAX,
  WAL_RECORD_HEADER_BYTES,
  WAL_RECORD_PAYLOAD_BYTES_MAX,
  WAL_RECORD_TRAILER_BYTES,
  WAL_SEGMENT_SIZE_BYTES_DEFAULT,
  WAL_SEGMENT_SIZE_BYTES_MAX,
} from "../limits.ts";
import { WAL_SEAL_RECORD_BYTES, WAL_SEGMENT_HEADER_BYTES } from "./format.ts";
import type { WalWriterOptions } from "./writer.ts";

/** Default sync delay in "interval" mode. */
export const SYNC_INTERVAL_MS_DEFAULT = 100;

/** Throws `InvalidArgumentError` naming the first bad option. */
export function checkOptions(options: WalWriterOptions): void {
  const segmentSizeBytes = options.segmentSizeBytes ?? WAL_SEGMENT_SIZE_BYTES_DEFAULT;
  const minSegment = WAL_SEGMENT_HEADER_BYTES + WAL_RECORD_HEADER_BYTES + 1 +
    WAL_RECORD_TRAILER_BYTES + WAL_SEAL_RECORD_BYTES;
  if (
    !Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < minSegment ||
    segmentSizeBytes > WAL_SEGMENT_SIZE_BYTES_MAX
  ) {
    throw new InvalidArgumentError(
      `Invalid WAL segmentSizeBytes: ${segmentSizeBytes} (must be an integer from ${minSegment} to ${WAL_SEGMENT_SIZE_BYTES_MAX})`,
    );
  }
  if (!Number.isSafeInteger(options.nextSeq) || options.nextSeq < 1) {
    throw new InvalidArgumentError(`Invalid WAL nextSeq: ${options.nextSeq} (must be ≥ 1)`);
  }
  const interval = options.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT;
  if (!Number.isSafeInteger(interval) || interval < 1) {
    throw new InvalidArgumentError(`Invalid WAL syncIntervalMs: ${interval} (must be ≥ 1)`);
  }
  const group = options.groupCommitBytesMax ?? WAL_GROUP_COMMIT_BYTES_MAX;
  if (!Number.isSafeInteger(group) || group < 1 || group > 0xffff_ffff) {
    throw new InvalidArgumentError(`Invalid WAL groupCommitBytesMax: ${group}`);
  }
  const mode = options.syncMode ?? "always";
  if (mode !== "always" && mode !== "interval" && mode !== "none") {
    throw new InvalidArgumentError(
      `Invalid WAL syncMode: ${mode} (must be always, interval or none)`,
    );
  }
}

/** Throws `InvalidArgumentError` for a record payload over `WAL_RECORD_PAYLOAD_BYTES_MAX`. */
export function checkPayloadBytes(payloadBytes: number): void {
  if (payloadBytes > WAL_RECORD_PAYLOAD_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Batch too large for the WAL: ${payloadBytes} bytes (limit ${WAL_RECORD_PAYLOAD_BYTES_MAX} bytes)`,
    );
  }
}
