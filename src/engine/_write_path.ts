/**
 * The write path of one database: validate -> append the batch to the WAL queue (sequence
 * assigned) -> apply it to the memtable in the same synchronous call -> the promise of its group
 * commit, wrapped once per group so that a failed sync stops the database. Writes from a
 * leader (`applyReplicated`) take the same path with the leader's sequence numbers. Private to
 * `src/engine/`. ARCHITECTURE.md § "Write path".
 *
 * Invariants:
 * - Memtable applies happen in sequence order: the sequence is assigned and the batch applied
 *   in one synchronous call, and JavaScript runs one call at a time.
 * - Nothing is applied when validation, the write guard, the disk-space check or the WAL
 *   append refuses the batch.
 *
 * @module
 */

import { diskFullError, isNoSpaceError, ReadOnlyError } from "../errors.ts";
import type { WalOp } from "../wal/mod.ts";
import { assert } from "../util/assert.ts";
import { KIND_DELETE, KIND_LOG, KIND_META, KIND_PUT } from "../util/entry.ts";
import {
  BATCH_SIZE_BYTES_MAX,
  EXPIRE_AT_MS_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import type { EngineCore } from "./_core.ts";
import type { Flusher } from "./_flusher.ts";
import { logOpsOf } from "./log_ops.ts";
import { planReplicated, type ReplicatedPlan } from "./_replicated.ts";
import { validateBatch } from "./_validate.ts";
import { appendLogOne, LOG_ONE_DECLINED } from "./_write_log_one.ts";
import { applyTwo, releaseTwo, twoOps } from "./_write_two.ts";
import type { AppliedListener, BytesLike, WriteOp } from "./types.ts";

const EMPTY = new Uint8Array(0);

/** The op `writeOne` stands for, for the batch path. */
function oneOp(
  kind: typeof KIND_PUT | typeof KIND_META | typeof KIND_DELETE,
  key: BytesLike,
  value: BytesLike,
  expireAtMs: number | undefined,
): WriteOp {
  if (kind === KIND_DELETE) return { type: "delete", key };
  const type = kind === KIND_PUT ? "put" : "meta";
  return expireAtMs === undefined ? { type, key, value } : { type, key, value, expireAtMs };
}

/** Strings up to this many chars take `writeOne`'s path (copied into a scratch array). */
const ONE_STRING_CHARS_MAX = 256;

/**
 * Where `writeOne` copies a string key or value (ASCII only) before the WAL encodes it: one
 * pass over the string's chars, the later copies (into the WAL's commit group, then the
 * memtable) are byte copies. Shared by every database: a write runs to its end synchronously.
 */
const KEY_SCRATCH = new Uint8Array(ONE_STRING_CHARS_MAX);
const VALUE_SCRATCH = new Uint8Array(ONE_STRING_CHARS_MAX);

/**
 * Copies a string of up to `ONE_STRING_CHARS_MAX` ASCII chars into `scratch` and returns its
 * length; -1 for anything else (a longer or non-ASCII string), which the batch path encodes.
 */
function asciiInto(value: string, scratch: Uint8Array): number {
  const n = value.length;
  if (n > ONE_STRING_CHARS_MAX) return -1;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) return -1;
    scratch[i] = c;
  }
  return n;
}

/** Applies batches to one database's WAL and memtable. */
export class WritePath {
  readonly #core: EngineCore;
  readonly #flusher: Flusher;
  /** True on a replica: user writes are refused, replicated ones are not. */
  readOnly = false;
  /** The check every `write` runs before validation (`Database.setWriteGuard`). */
  writeGuard: ((ops: readonly WriteOp[]) => void) | undefined;
  /**
   * Hears every applied batch, user writes and replicated records alike (`Database.onApplied`).
   * While set, writes take the batch path, where the ops are at hand as WAL ops.
   */
  applied: AppliedListener | undefined;
  #lastGroup: Promise<void> | undefined;
  #lastGroupWrapped: Promise<void> | undefined;

  /** The write path of `core`, rotating and waiting through `flusher`. */
  constructor(core: EngineCore, flusher: Flusher) {
    this.#core = core;
    this.#flusher = flusher;
  }

  /** `Database.write`. */
  write(ops: readonly WriteOp[]): Promise<void> {
    if (this.applied !== undefined) return this.#writeBatch(ops);
    // One put, meta or delete (a server's SET, DEL, HSET...) takes the path without op objects.
    if (ops.length === 1 && this.writeGuard === undefined && Array.isArray(ops)) {
      const op = ops[0];
      if (op !== null && typeof op === "object") {
        if (op.type === "put" || op.type === "meta") {
          return this.writeOne(
            op.type === "put" ? KIND_PUT : KIND_META,
            op.key,
            op.value,
            op.expireAtMs,
          );
        }
        if (op.type === "delete") return this.writeOne(KIND_DELETE, op.key, EMPTY, undefined);
        if (op.type === "log") {
          // A time series' TS.ADD: the one-op encoder, no op array (`_write_log_one.ts`).
          const logged = this.#writeLogOne(op);
          if (logged !== undefined) return logged;
        }
      }
    }
    // Two (a member type's member and metadata record): reused op objects (`_write_two.ts`).
    if (ops.length === 2 && this.writeGuard === undefined && Array.isArray(ops)) {
      const walOps = twoOps(this.#core, this.readOnly, ops);
      if (walOps !== undefined) return this.#writeTwo(walOps);
    }
    return this.#writeBatch(ops);
  }

  /** `write` of the one log op `op` (`appendLogOne`), or `undefined`: take the batch path. */
  #writeLogOne(op: WriteOp): Promise<void> | undefined {
    const core = this.#core;
    let seq: number;
    try {
      seq = appendLogOne(core, this.readOnly, op);
    } catch (err) {
      return Promise.reject(this.#appendFailed(err));
    }
    if (seq === LOG_ONE_DECLINED) return undefined;
    core.lastSeq = seq;
    return this.#afterApply(core.wal.lastDurable);
  }

  /** `#writeBatch` of the two ops `twoOps` checked, converted and counted. */
  #writeTwo(walOps: readonly WalOp[]): Promise<void> {
    const core = this.#core;
    let appended: { seq: number; durable: Promise<void> };
    try {
      appended = core.wal.append(walOps);
    } catch (err) {
      releaseTwo();
      return Promise.reject(this.#appendFailed(err));
    }
    applyTwo(core.memtable, appended.seq);
    core.lastSeq = appended.seq + 1;
    return this.#afterApply(appended.durable);
  }

  /**
   * `write` of one put, meta or delete (`value` ignored for a delete) given by its parts:
   * `Database.put` and `delete`, and one-op batches. Keys and values that are bytes, or strings
   * of up to `ONE_STRING_CHARS_MAX` ASCII characters (copied into a scratch array), are checked
   * here and encoded straight into the WAL's commit group, and the memtable copies them from
   * there: no op object, no `Uint8Array` per key or value. Anything else (a write guard, a non-ASCII string, a
   * refusal) goes through the batch path, which converts, checks and refuses exactly as
   * for any batch.
   */
  writeOne(
    kind: typeof KIND_PUT | typeof KIND_META | typeof KIND_DELETE,
    key: BytesLike,
    value: BytesLike,
    expireAtMs: number | undefined,
  ): Promise<void> {
    const core = this.#core;
    let keyBytes: Uint8Array = KEY_SCRATCH;
    let keyLength = -1;
    if (typeof key === "string") keyLength = asciiInto(key, KEY_SCRATCH);
    else if (key instanceof Uint8Array) {
      keyBytes = key;
      keyLength = key.length;
    }
    let valueBytes: Uint8Array = VALUE_SCRATCH;
    let valueLength = 0;
    if (kind !== KIND_DELETE) {
      if (typeof value === "string") valueLength = asciiInto(value, VALUE_SCRATCH);
      else if (value instanceof Uint8Array) {
        valueBytes = value;
        valueLength = value.length;
      } else valueLength = -1;
    }
    const expire = expireAtMs ?? 0;
    if (
      this.writeGuard !== undefined || this.applied !== undefined || keyLength < 0 ||
      valueLength < 0 ||
      keyLength > KEY_SIZE_BYTES_MAX || valueLength > VALUE_SIZE_BYTES_MAX ||
      keyLength + valueLength > BATCH_SIZE_BYTES_MAX ||
      !(Number.isSafeInteger(expire) && expire >= 0 && expire <= EXPIRE_AT_MS_MAX) ||
      core.closed || core.fatal !== undefined || this.readOnly || core.space.full
    ) {
      return this.#writeBatch([oneOp(kind, key, value, expireAtMs)]);
    }
    const counters = core.counters;
    counters.bytesWritten += keyLength + valueLength;
    if (kind === KIND_DELETE) counters.deletes++;
    else counters.puts++;
    const wal = core.wal;
    let seq: number;
    try {
      seq = wal.appendOne(kind, keyBytes, keyLength, valueBytes, valueLength, expire);
    } catch (err) {
      return Promise.reject(this.#appendFailed(err));
    }
    const at = wal.lastEncoded;
    core.memtable.applyAt(
      at.buf,
      at.keyAt,
      keyLength,
      at.buf,
      at.valueAt,
      valueLength,
      seq,
      kind,
      expire,
    );
    core.lastSeq = seq;
    return this.#afterApply(wal.lastDurable);
  }

  /** `write` of any batch. */
  #writeBatch(ops: readonly WriteOp[]): Promise<void> {
    const core = this.#core;
    let walOps: WalOp[];
    try {
      core.checkWritable();
      if (this.readOnly) {
        throw new ReadOnlyError("Cannot write: this database is a read-only replica");
      }
      // Before validation, which counts the write in the stats.
      this.#checkSpace();
      this.writeGuard?.(ops);
      const batch = validateBatch(ops);
      walOps = batch.ops;
      core.counters.bytesWritten += batch.bytes;
      core.counters.puts += batch.puts;
      core.counters.deletes += batch.ops.length - batch.puts;
    } catch (err) {
      return Promise.reject(err);
    }
    if (walOps.length === 0) return Promise.resolve();
    let appended: { seq: number; durable: Promise<void> };
    try {
      appended = core.wal.append(walOps);
    } catch (err) {
      return Promise.reject(this.#appendFailed(err));
    }
    const memtable = core.memtable;
    let seq = appended.seq;
    for (const op of walOps) {
      if (op.kind !== KIND_LOG) {
        memtable.apply({
          key: op.key,
          seq,
          kind: op.kind,
          expireAtMs: op.expireAtMs ?? 0,
          value: op.value ?? EMPTY,
        });
      } else if (core.log.consumer === undefined) {
        // Written with nobody to own it: held (and pinned) like a replayed one.
        core.log.deliver([{ seq, key: op.key, value: op.value ?? EMPTY }]);
      }
      seq++;
    }
    core.lastSeq = seq - 1;
    this.applied?.(walOps);
    return this.#afterApply(appended.durable);
  }

  /** `ReplicationPort.applyReplicated`. */
  applyReplicated(seq: number, payload: Uint8Array): Promise<void> {
    const core = this.#core;
    let plan: ReplicatedPlan;
    try {
      core.checkWritable();
      plan = planReplicated(seq, payload, core.lastSeq);
      // Already applied: durable once the newest group is.
      if (plan.kind === "applied") return this.#lastGroupWrapped ?? Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    const entries = plan.entries;
    let appended: { seq: number; durable: Promise<void> };
    try {
      this.#checkSpace();
      appended = plan.kind === "tail"
        ? core.wal.append(plan.ops)
        : core.wal.appendPayload(seq, payload, entries.length);
    } catch (err) {
      return Promise.reject(this.#appendFailed(err));
    }
    assert(appended.seq === entries[0]!.seq, "replicated sequence mismatch");
    const memtable = core.memtable;
    let logOps = false;
    for (const entry of entries) {
      if (entry.kind === KIND_LOG) logOps = true;
      else memtable.apply(entry);
    }
    core.lastSeq = entries[entries.length - 1]!.seq;
    // The consumer sees the batch's log ops after its other ops are readable.
    if (logOps) core.log.deliver(logOpsOf(entries));
    this.applied?.(entries);
    return this.#afterApply(appended.durable);
  }

  /**
   * What every write does once its batch is in the memtable: the promise of its group commit
   * (wrapped once per group, not once per write, so that a failure stops the database), a
   * memtable switch when it is full, and backpressure when flushing has fallen behind (the
   * write is applied but its caller waits).
   */
  #afterApply(groupDurable: Promise<void>): Promise<void> {
    if (groupDurable !== this.#lastGroup) {
      this.#lastGroup = groupDurable;
      this.#lastGroupWrapped = groupDurable.catch((err) => {
        this.#core.fail(err);
        throw err;
      });
    }
    const durable = this.#lastGroupWrapped!;
    if (this.#flusher.afterApply()) return durable.then(() => this.#flusher.waitForRoom());
    return durable;
  }

  /** Refuses a write while the disk is full (before anything is applied). */
  #checkSpace(): void {
    const space = this.#core.space;
    if (space.full) throw space.refusal();
  }

  /**
   * A WAL append threw before anything was applied: lack of space refuses writes until it
   * returns; any other error is fatal. Returns the error to reject with.
   */
  #appendFailed(err: unknown): unknown {
    if (isNoSpaceError(err)) {
      this.#core.space.enterFull(diskFullError("cannot write the WAL", err), "WAL append");
      return err;
    }
    this.#core.fail(err);
    return err;
  }
}
