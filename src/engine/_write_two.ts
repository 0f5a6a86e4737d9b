/**
 * The two-op case of the write path: a batch of two puts, metadata records or deletes whose
 * keys and values are bytes (a member type's member and its metadata record: LPUSH, LPOP,
 * HSET of a new field, SADD...). `WritePath.write` checks and converts it here into two WAL ops
 * that are reused by every call, instead of the batch path's fresh op, entry and result
 * objects; the WAL encodes them with the same encoder as any batch, so the record's bytes are
 * the batch path's (tests/engine/write_two_test.ts compares them). Private to `src/engine/`.
 * ARCHITECTURE.md § "Write path".
 *
 * Invariants:
 * - `twoOps` takes a batch only when the batch path would accept it (same limits); anything
 *   else (a string, a log op, a refusal) goes through the batch path, which converts, checks
 *   and refuses exactly as for any batch.
 * - The scratch ops hold a caller's arrays only while one write runs (synchronously):
 *   `releaseTwo` drops them before the write returns.
 *
 * @module
 */

import type { Memtable } from "../memtable/mod.ts";
import type { WalOp } from "../wal/mod.ts";
import { KIND_DELETE, KIND_META, KIND_PUT } from "../util/entry.ts";
import {
  BATCH_SIZE_BYTES_MAX,
  EXPIRE_AT_MS_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import type { EngineCore } from "./_core.ts";
import type { WriteOp } from "./types.ts";

const EMPTY = new Uint8Array(0);

/** The WAL ops of the batch being written (one shape: kind, key, value, expiry). */
const TWO: [WalOp, WalOp] = [
  { kind: KIND_PUT, key: EMPTY, value: EMPTY, expireAtMs: 0 },
  { kind: KIND_PUT, key: EMPTY, value: EMPTY, expireAtMs: 0 },
];

/**
 * Fills `out` with `op` as the batch path's validation converts it and returns its key and
 * value bytes, or -1 when `op` is not a put, meta or delete of bytes within the limits.
 */
function fill(op: WriteOp, out: WalOp): number {
  if (op === null || typeof op !== "object") return -1;
  const key = op.key;
  if (!(key instanceof Uint8Array) || key.length > KEY_SIZE_BYTES_MAX) return -1;
  const type = op.type;
  if (type === "delete") {
    out.kind = KIND_DELETE;
    out.key = key;
    out.value = EMPTY;
    out.expireAtMs = 0;
    return key.length;
  }
  if (type !== "put" && type !== "meta") return -1;
  const value = op.value;
  if (!(value instanceof Uint8Array) || value.length > VALUE_SIZE_BYTES_MAX) return -1;
  const expireAtMs = op.expireAtMs ?? 0;
  if (!Number.isSafeInteger(expireAtMs) || expireAtMs < 0 || expireAtMs > EXPIRE_AT_MS_MAX) {
    return -1;
  }
  out.kind = type === "put" ? KIND_PUT : KIND_META;
  out.key = key;
  out.value = value;
  out.expireAtMs = expireAtMs;
  return key.length + value.length;
}

/**
 * The WAL ops of the two-op batch `ops` (reused: valid until `releaseTwo`), counted in the
 * engine's stats as the batch path counts them; `undefined` (nothing counted, nothing held)
 * when the batch must take the batch path: another shape, anything over a limit, or a database
 * that refuses writes (closed, failed, a replica, disk full), for the batch path's errors.
 */
export function twoOps(
  core: EngineCore,
  readOnly: boolean,
  ops: readonly WriteOp[],
): readonly WalOp[] | undefined {
  if (core.closed || core.fatal !== undefined || readOnly || core.space.full) return undefined;
  const a = fill(ops[0]!, TWO[0]);
  const b = a < 0 ? -1 : fill(ops[1]!, TWO[1]);
  if (b < 0 || a + b > BATCH_SIZE_BYTES_MAX) {
    releaseTwo();
    return undefined;
  }
  const counters = core.counters;
  counters.bytesWritten += a + b;
  const puts = (TWO[0].kind !== KIND_DELETE ? 1 : 0) + (TWO[1].kind !== KIND_DELETE ? 1 : 0);
  counters.puts += puts;
  counters.deletes += 2 - puts;
  return TWO;
}

/**
 * Applies the two ops `twoOps` returned to `memtable` at sequences `seq` and `seq + 1` (the
 * bytes are copied, no entry objects), then drops the scratch's references.
 */
export function applyTwo(memtable: Memtable, seq: number): void {
  for (let i = 0; i < 2; i++) {
    const op = TWO[i]!;
    const key = op.key;
    const value = op.value!;
    memtable.applyAt(
      key,
      0,
      key.length,
      value,
      0,
      value.length,
      seq + i,
      op.kind,
      op.expireAtMs!,
    );
  }
  releaseTwo();
}

/** Drops the scratch ops' references to a caller's arrays. */
export function releaseTwo(): void {
  for (const op of TWO) {
    op.key = EMPTY;
    op.value = EMPTY;
  }
}
