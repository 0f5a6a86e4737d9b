/**
 * What a record received from a leader means for a replica at `lastSeq`: a re-send to ignore,
 * a gap to refuse, or the entries to apply (and, when it straddles `lastSeq`, the ops of the
 * newer part as a new WAL record). Private to `src/engine/`. ARCHITECTURE.md § "Replication".
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type Entry, KIND_DELETE } from "../util/entry.ts";
import type { WalOp } from "../wal/mod.ts";
import { batchOpCount, decodeBatch } from "../wal/format.ts";

/** How to apply one replicated record. */
export type ReplicatedPlan =
  /** Wholly at or below `lastSeq`: already applied. */
  | { kind: "applied" }
  /** Entirely new: append the payload as it is. */
  | { kind: "whole"; entries: Entry[] }
  /** Straddles `lastSeq`: append `ops` (the newer part) as one record. */
  | { kind: "tail"; entries: Entry[]; ops: WalOp[] };

/** Decides how to apply record `payload` at `seq`; throws `CorruptionError` on a gap. */
export function planReplicated(seq: number, payload: Uint8Array, lastSeq: number): ReplicatedPlan {
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > lastSeq + 1) {
    throw new CorruptionError(
      `Cannot apply replicated record: sequence ${seq} would leave a gap after ${lastSeq}`,
    );
  }
  const opCount = batchOpCount(payload);
  if (opCount < 1) {
    throw new CorruptionError(`Cannot apply replicated record: ${opCount} operations at ${seq}`);
  }
  if (seq + opCount - 1 <= lastSeq) return { kind: "applied" };
  const entries = decodeBatch(payload, seq);
  if (seq > lastSeq) return { kind: "whole", entries };
  const newer = entries.slice(lastSeq - seq + 1);
  return {
    kind: "tail",
    entries: newer,
    ops: newer.map((e): WalOp =>
      e.kind === KIND_DELETE
        ? { kind: KIND_DELETE, key: e.key }
        : { kind: e.kind, key: e.key, value: e.value, expireAtMs: e.expireAtMs }
    ),
  };
}
