/**
 * Write validation: every operation of a batch against `src/limits.ts` before anything is
 * queued (ARCHITECTURE.md § "Write path", step 1). Private to `src/engine/`.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import {
  BATCH_OPS_MAX,
  BATCH_SIZE_BYTES_MAX,
  EXPIRE_AT_MS_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import { toBytes } from "../util/bytes.ts";
import { KIND_DELETE, KIND_LOG, KIND_META, KIND_PUT } from "../util/entry.ts";
import type { WalOp } from "../wal/mod.ts";
import type { WriteOp } from "./database.ts";

/** Throws `InvalidArgumentError` for a key over the limit. */
export function checkKey(key: Uint8Array): void {
  if (key.length > KEY_SIZE_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Key too large: ${key.length} bytes (limit ${KEY_SIZE_BYTES_MAX} bytes)`,
    );
  }
}

/**
 * Checks a batch against `src/limits.ts` and converts it to WAL ops: `InvalidArgumentError` on
 * the first problem, so that nothing of a bad batch is written. Returns the ops, the key and
 * value bytes and the number of puts (for the stats).
 */
export function validateBatch(
  ops: readonly WriteOp[],
): { ops: WalOp[]; bytes: number; puts: number } {
  if (!Array.isArray(ops)) throw new InvalidArgumentError("Invalid batch: not an array");
  if (ops.length > BATCH_OPS_MAX) {
    throw new InvalidArgumentError(
      `Batch too large: ${ops.length} operations (limit ${BATCH_OPS_MAX} operations)`,
    );
  }
  const out: WalOp[] = new Array(ops.length);
  let bytes = 0;
  let puts = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op === null || typeof op !== "object") {
      throw new InvalidArgumentError(`Invalid batch operation ${i}: not an object`);
    }
    const key = toBytesChecked(op.key, "key", i);
    checkKey(key);
    if (op.type === "put" || op.type === "meta" || op.type === "log") {
      const value = toBytesChecked(op.value, "value", i);
      if (value.length > VALUE_SIZE_BYTES_MAX) {
        throw new InvalidArgumentError(
          `Value too large: ${value.length} bytes (limit ${VALUE_SIZE_BYTES_MAX} bytes)`,
        );
      }
      // A log op never expires (§ "Log operations").
      const expireAtMs = op.type === "log" ? 0 : op.expireAtMs ?? 0;
      if (!Number.isSafeInteger(expireAtMs) || expireAtMs < 0 || expireAtMs > EXPIRE_AT_MS_MAX) {
        throw new InvalidArgumentError(
          `Invalid expireAtMs: ${expireAtMs} (must be an integer from 0 to ${EXPIRE_AT_MS_MAX})`,
        );
      }
      bytes += key.length + value.length;
      puts++;
      const kind = op.type === "put" ? KIND_PUT : op.type === "meta" ? KIND_META : KIND_LOG;
      out[i] = { kind, key, value, expireAtMs };
    } else if (op.type === "delete") {
      bytes += key.length;
      out[i] = { kind: KIND_DELETE, key };
    } else {
      throw new InvalidArgumentError(
        `Invalid batch operation ${i}: type must be "put", "meta", "log" or "delete"`,
      );
    }
  }
  if (bytes > BATCH_SIZE_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Batch too large: ${bytes} bytes (limit ${BATCH_SIZE_BYTES_MAX} bytes)`,
    );
  }
  return { ops: out, bytes, puts };
}

function toBytesChecked(value: unknown, what: string, index: number): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return toBytes(value);
  throw new InvalidArgumentError(
    `Invalid batch operation ${index}: ${what} must be a Uint8Array or a string`,
  );
}
