/**
 * The WAL's BATCH payload: varint op count, then per op `kind u8 | varint keyLen | key |
 * (PUT, META, LOG:) varint expireAtMs | varint valueLen | value` (kinds from
 * `src/util/entry.ts`; LOG ops carry expireAtMs 0). Encoded straight into the writer's commit
 * group buffer, decoded by recovery and replicas. `format.ts` frames it in records.
 * ARCHITECTURE.md § "WAL" draws the boxes and gives a worked example.
 *
 * @module
 */

import { copyBytes } from "../util/bytes.ts";
import { CorruptionError } from "../errors.ts";
import { assert } from "../util/assert.ts";
import {
  BATCH_OPS_MAX,
  EXPIRE_AT_MS_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import { getVarint, putVarint, varintLength } from "../util/coding.ts";
import { type Entry, type EntryKind, KIND_DELETE, KIND_LOG } from "../util/entry.ts";

/** One operation of a batch as the writer takes it. */
export interface WalOp {
  /** `KIND_PUT`, `KIND_META`, `KIND_LOG` or `KIND_DELETE`. */
  kind: EntryKind;
  /** The user key. */
  key: Uint8Array;
  /** The value (PUT only; omitted = empty). */
  value?: Uint8Array;
  /** Expiry as Unix milliseconds (PUT only; omitted or 0 = never). */
  expireAtMs?: number;
}

/** Bytes `encodeBatch(ops)` produces. */
export function batchPayloadBytes(ops: readonly WalOp[]): number {
  let n = varintLength(ops.length);
  for (const op of ops) {
    n += 1 + varintLength(op.key.length) + op.key.length;
    if (op.kind !== KIND_DELETE) {
      const valueLength = op.value?.length ?? 0;
      n += varintLength(op.expireAtMs ?? 0) + varintLength(valueLength) + valueLength;
    }
  }
  return n;
}

/** Encodes `ops` at `buf[offset]`; returns the offset after them. REQUIRES: room enough. */
export function encodeBatchInto(buf: Uint8Array, offset: number, ops: readonly WalOp[]): number {
  assert(ops.length >= 1, "empty batch");
  assert(ops.length <= BATCH_OPS_MAX, "batch over BATCH_OPS_MAX");
  offset = putVarint(buf, offset, ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const kind = op.kind;
    if (!(kind >= KIND_DELETE && kind <= KIND_LOG)) assert(false, `bad op kind: ${kind}`);
    buf[offset++] = kind;
    offset = putVarint(buf, offset, op.key.length);
    offset = putBytes(buf, offset, op.key);
    if (kind !== KIND_DELETE) {
      const expireAtMs = op.expireAtMs ?? 0;
      assert(expireAtMs <= EXPIRE_AT_MS_MAX, "expireAtMs over EXPIRE_AT_MS_MAX");
      offset = putVarint(buf, offset, expireAtMs);
      const value = op.value ?? EMPTY;
      offset = putVarint(buf, offset, value.length);
      offset = putBytes(buf, offset, value);
    }
  }
  return offset;
}

/** Where `encodeOneInto` put the key and the value (reused: valid until the next call). */
export interface EncodedOp {
  /** Offset of the key's first byte in the buffer. */
  keyAt: number;
  /** Offset of the value's first byte (where it would be for a DELETE). */
  valueAt: number;
}

/**
 * Bytes of the payload `encodeOneInto` writes: a batch of one op with a `keyLength`-byte key and
 * (not DELETE) a `valueLength`-byte value.
 */
export function onePayloadBytes(
  kind: EntryKind,
  keyLength: number,
  valueLength: number,
  expireAtMs: number,
): number {
  let n = 2 + varintLength(keyLength) + keyLength;
  if (kind !== KIND_DELETE) n += varintLength(expireAtMs) + varintLength(valueLength) + valueLength;
  return n;
}

/**
 * Encodes a batch of one op at `buf[offset]`, the same bytes as `encodeBatchInto` of it: the
 * key is `key[0, keyLength)`, the value `value[0, valueLength)` (ignored for a DELETE). Sets
 * `at` to where the key and the value went and returns the offset after them.
 * REQUIRES: room enough, a valid op.
 */
export function encodeOneInto(
  buf: Uint8Array,
  offset: number,
  kind: EntryKind,
  key: Uint8Array,
  keyLength: number,
  value: Uint8Array,
  valueLength: number,
  expireAtMs: number,
  at: EncodedOp,
): number {
  if (!(kind >= KIND_DELETE && kind <= KIND_LOG)) assert(false, `bad op kind: ${kind}`);
  buf[offset++] = 1; // the op count, a one-byte varint
  buf[offset++] = kind;
  offset = putVarint(buf, offset, keyLength);
  at.keyAt = offset;
  offset = putBytesN(buf, offset, key, keyLength);
  if (kind !== KIND_DELETE) {
    assert(expireAtMs <= EXPIRE_AT_MS_MAX, "expireAtMs over EXPIRE_AT_MS_MAX");
    offset = putVarint(buf, offset, expireAtMs);
    offset = putVarint(buf, offset, valueLength);
    at.valueAt = offset;
    offset = putBytesN(buf, offset, value, valueLength);
  } else {
    at.valueAt = offset;
  }
  return offset;
}

/** Short copies byte by byte: `set` costs more than the loop for keys and small values. */
const SHORT_COPY_BYTES_MAX = 32;

/** Copies `src` to `buf[offset]`; returns the offset after it. */
function putBytes(buf: Uint8Array, offset: number, src: Uint8Array): number {
  return putBytesN(buf, offset, src, src.length);
}

/** Copies `src[0, n)` to `buf[offset]`; returns the offset after it. */
function putBytesN(buf: Uint8Array, offset: number, src: Uint8Array, n: number): number {
  if (n <= SHORT_COPY_BYTES_MAX) {
    for (let i = 0; i < n; i++) buf[offset + i] = src[i]!;
  } else {
    buf.set(n === src.length ? src : src.subarray(0, n), offset);
  }
  return offset + n;
}

/** Encodes a batch payload: varint count, then each op (see the module comment). */
export function encodeBatch(ops: readonly WalOp[]): Uint8Array {
  const buf = new Uint8Array(batchPayloadBytes(ops));
  const end = encodeBatchInto(buf, 0, ops);
  assert(end === buf.length, "batch size mismatch");
  return buf;
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes a batch payload into entries; op i gets sequence `seq + i`. Keys and values are
 * copies (they do not pin `payload`). Throws `CorruptionError` on anything malformed: a bad
 * count or kind, a length past the end or over a limit, trailing bytes.
 */
export function decodeBatch(payload: Uint8Array, seq: number): Entry[] {
  const end = payload.length;
  const fail = (reason: string, at: number): never => {
    throw new CorruptionError(`Cannot decode WAL batch: ${reason} at payload offset ${at}`);
  };
  const varint = (at: number, what: string) => {
    try {
      return getVarint(payload, at, end);
    } catch (err) {
      return fail(`bad ${what} (${(err as Error).message})`, at);
    }
  };
  const first = varint(0, "op count");
  const count = first.value;
  let offset = first.offset;
  if (count < 1 || count > BATCH_OPS_MAX) {
    fail(`op count ${count} outside 1..${BATCH_OPS_MAX}`, 0);
  }
  if (!Number.isSafeInteger(seq + count) || seq < 1) {
    fail(`sequence ${seq} + ${count} ops out of range`, 0);
  }
  const entries: Entry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (offset >= end) fail(`op ${i} of ${count} missing`, offset);
    const kind = payload[offset]!;
    if (kind > KIND_LOG) fail(`op ${i} has unknown kind ${kind}`, offset);
    offset++;
    const keyLength = varint(offset, "key length");
    offset = keyLength.offset;
    if (keyLength.value > KEY_SIZE_BYTES_MAX || keyLength.value > end - offset) {
      fail(`op ${i} key length ${keyLength.value} exceeds the limit or the payload`, offset);
    }
    const key = copyBytes(payload, offset, offset + keyLength.value);
    offset += keyLength.value;
    if (kind === KIND_DELETE) {
      entries[i] = { key, seq: seq + i, kind, expireAtMs: 0, value: EMPTY };
      continue;
    }
    const expire = varint(offset, "expireAtMs");
    offset = expire.offset;
    if (expire.value > EXPIRE_AT_MS_MAX) {
      fail(`op ${i} expireAtMs ${expire.value} too large`, offset);
    }
    const valueLength = varint(offset, "value length");
    offset = valueLength.offset;
    if (valueLength.value > VALUE_SIZE_BYTES_MAX || valueLength.value > end - offset) {
      fail(`op ${i} value length ${valueLength.value} exceeds the limit or the payload`, offset);
    }
    const value = copyBytes(payload, offset, offset + valueLength.value);
    offset += valueLength.value;
    if (kind === KIND_LOG && expire.value !== 0) fail(`op ${i} is a log op with an expiry`, offset);
    entries[i] = { key, seq: seq + i, kind: kind as EntryKind, expireAtMs: expire.value, value };
  }
  if (offset !== end) fail(`${end - offset} trailing bytes after ${count} ops`, offset);
  return entries;
}

/** Reads only the op count of a batch payload (to advance the expected sequence). */
export function batchOpCount(payload: Uint8Array): number {
  try {
    return getVarint(payload, 0, payload.length).value;
  } catch (err) {
    throw new CorruptionError(`Cannot decode WAL batch: bad op count (${(err as Error).message})`);
  }
}
