/**
 * The one-log-op case of the write path: a batch of a single log op whose key and value are
 * bytes (a time series' TS.ADD writes one SAMPLES op per command). `WritePath.write` appends it
 * here with the WAL's one-op encoder, as `writeOne` appends a put, instead of the batch path's
 * validation result, WAL op array and op object; the record's bytes are the batch path's
 * (tests/engine/write_log_one_test.ts compares them). Private to `src/engine/`.
 * ARCHITECTURE.md § "Write path".
 *
 * Invariants:
 * - `appendLogOne` takes a batch only when the batch path would accept it (same limits, same
 *   counters); anything else (a string, a refusal) goes through the batch path, which converts,
 *   checks and refuses exactly as for any batch.
 * - As in the batch path, a log op is not applied to the memtable; written while no consumer
 *   is attached, it is held (and pinned) like a replayed one.
 *
 * @module
 */

import { KIND_LOG } from "../util/entry.ts";
import { BATCH_SIZE_BYTES_MAX, KEY_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";
import type { EngineCore } from "./_core.ts";
import type { WriteOp } from "./types.ts";

/** `appendLogOne`'s answer for a batch that must take the batch path. */
export const LOG_ONE_DECLINED = -1;

/**
 * Appends the one-op batch `op` to the WAL when it is a log op of bytes within the limits on a
 * database that takes writes, counts it as the batch path counts it, hands it to a waiting
 * log, and returns its sequence number (the caller sets `lastSeq` and awaits the WAL's
 * `lastDurable`); `LOG_ONE_DECLINED` (nothing counted, nothing appended) otherwise. A WAL
 * append that throws is the caller's to handle, as for the batch path.
 */
export function appendLogOne(core: EngineCore, readOnly: boolean, op: WriteOp): number {
  if (op.type !== "log") return LOG_ONE_DECLINED;
  const key = op.key;
  const value = op.value;
  if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) return LOG_ONE_DECLINED;
  const keyLength = key.length;
  const valueLength = value.length;
  if (
    keyLength > KEY_SIZE_BYTES_MAX || valueLength > VALUE_SIZE_BYTES_MAX ||
    keyLength + valueLength > BATCH_SIZE_BYTES_MAX ||
    core.closed || core.fatal !== undefined || readOnly || core.space.full
  ) {
    return LOG_ONE_DECLINED;
  }
  // Counted before the append, as the batch path's validation counts.
  const counters = core.counters;
  counters.bytesWritten += keyLength + valueLength;
  counters.puts++;
  const seq = core.wal.appendOne(KIND_LOG, key, keyLength, value, valueLength, 0);
  // Written with nobody to own it: held (and pinned) like a replayed one.
  if (core.log.consumer === undefined) core.log.deliver([{ seq, key, value }]);
  return seq;
}
