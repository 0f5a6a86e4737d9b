/**
 * Log operations (`KIND_LOG`): the engine's one seam for layers that keep their own in-memory
 * state and use the WAL as its log, as Prometheus's head block does (the time-series layer
 * appends samples this way). ARCHITECTURE.md § "Log operations" describes the contract.
 *
 * What the engine does with a log op: writes it to the WAL in its batch (same group commit,
 * one sequence number, same durability as a PUT), ships it to replicas with the record, and
 * at open hands it back -- but never puts it in a memtable or an SSTable. The layer that wrote
 * it is the `LogConsumer`:
 * - `applyLog` receives, in sequence order, every log op recovered at open (buffered here
 *   until the consumer attaches, so recovery does not depend on the order in which the
 *   program wires things) and every log op a replica applies from its leader. Local writes
 *   are not echoed: the writer applied them itself.
 * - `logDurableThroughSeq` is a retention pin: WAL segments holding log ops above it are kept
 *   (`retention.ts` treats it like a replica's acknowledged position). Until a consumer
 *   attaches, the engine pins at the first buffered log op, so nothing unclaimed is deleted.
 * - `persistAll` makes every log op durable elsewhere (engine puts) before the engine takes a
 *   checkpoint for a replica's snapshot; `reset` drops the consumer's state after a snapshot
 *   replaced the database content.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import type { FileSystem } from "../fs/mod.ts";
import { decodeBatch } from "../wal/format.ts";
import { readSegmentRecords, type SegmentInfo } from "../wal/reader.ts";
import { type Entry, KIND_LOG } from "../util/entry.ts";

/** The layer that owns log ops (wired in with `Database.attachLogConsumer`). */
export interface LogConsumer {
  /** Applies one log op (replayed at open, or applied from a leader), in sequence order. */
  applyLog(seq: number, key: Uint8Array, value: Uint8Array): void;
  /**
   * Every log op with a sequence at or below this is reflected in durable engine state:
   * the WAL may drop it. `Infinity` when nothing is pinned.
   */
  logDurableThroughSeq(): number;
  /** Writes everything the log ops hold into engine puts (before a checkpoint). */
  persistAll?(): Promise<void>;
  /** Forgets all state: the database content was replaced (snapshot install). */
  reset?(): void;
}

/** One log op waiting for its consumer. */
export interface PendingLogOp {
  /** Its sequence number. */
  seq: number;
  /** Its key. */
  key: Uint8Array;
  /** Its value. */
  value: Uint8Array;
}

/**
 * The log ops of the records at or below `maxSeq` in `segments` (those that recovery skips
 * because the tables hold their other ops), in sequence order. A damaged record (recovery
 * skipped it: everything else in it is in tables) ends the reading of its segment and is
 * reported to `onDamage`.
 */
export function olderLogOps(
  fs: FileSystem,
  segments: readonly SegmentInfo[],
  maxSeq: number,
  onDamage: (path: string, err: CorruptionError) => void = () => {},
): PendingLogOp[] {
  const out: PendingLogOp[] = [];
  for (const segment of segments) {
    if (segment.firstSeq === 0 || segment.firstSeq > maxSeq) continue;
    try {
      for (const record of readSegmentRecords(fs, segment.path)) {
        if (record.seq > maxSeq) break;
        // Only records that carry a log op are decoded in full.
        if (!mayHoldLogOp(record.payload)) continue;
        for (const e of decodeBatch(record.payload, record.seq)) {
          if (e.seq > maxSeq) break;
          if (e.kind === KIND_LOG) out.push({ seq: e.seq, key: e.key, value: e.value });
        }
      }
    } catch (err) {
      // Damage that recovery skipped (its other ops are in tables): the log ops past it are
      // lost, the rest of the segment is not read. The caller says so in its log.
      if (!(err instanceof CorruptionError)) throw err;
      onDamage(segment.path, err);
    }
  }
  return out;
}

/** Cheap test: false only when no op of the batch can be a log op. */
function mayHoldLogOp(payload: Uint8Array): boolean {
  for (let i = 0; i < payload.length; i++) if (payload[i] === KIND_LOG) return true;
  return false;
}

/** The log ops among `entries` (a decoded batch). */
export function logOpsOf(entries: readonly Entry[]): PendingLogOp[] {
  const out: PendingLogOp[] = [];
  for (const e of entries) {
    if (e.kind === KIND_LOG) out.push({ seq: e.seq, key: e.key, value: e.value });
  }
  return out;
}

/**
 * Where the log ops of one database go: to the attached consumer, or held in order until one
 * attaches (and pinned in the WAL while held).
 */
export class LogOpsRouter {
  #consumer: LogConsumer | undefined;
  #pending: PendingLogOp[];

  /** Starts with the log ops recovery found, in sequence order. */
  constructor(pending: PendingLogOp[]) {
    this.#pending = pending;
  }

  /** The attached consumer, if any. */
  get consumer(): LogConsumer | undefined {
    return this.#consumer;
  }

  /** See `Database.attachLogConsumer`. */
  attach(consumer: LogConsumer | undefined): void {
    this.#consumer = consumer;
    if (consumer === undefined) return;
    const pending = this.#pending;
    this.#pending = [];
    for (const op of pending) consumer.applyLog(op.seq, op.key, op.value);
  }

  /** Log ops no consumer has taken yet. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Hands `ops` (in sequence order) to the consumer, or holds them. */
  deliver(ops: readonly PendingLogOp[]): void {
    const consumer = this.#consumer;
    if (consumer === undefined) {
      for (const op of ops) this.#pending.push(op);
      return;
    }
    for (const op of ops) consumer.applyLog(op.seq, op.key, op.value);
  }

  /** Highest sequence whose log ops are all durable elsewhere (`Infinity`: none pinned). */
  pin(): number {
    if (this.#consumer !== undefined) return this.#consumer.logDurableThroughSeq();
    const first = this.#pending[0];
    return first === undefined ? Infinity : first.seq - 1;
  }

  /** The database content was replaced: held log ops are meaningless, the consumer resets. */
  reset(): void {
    this.#pending = [];
    this.#consumer?.reset?.();
  }
}
