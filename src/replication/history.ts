/**
 * The leader's history check at HELLO: may a replica that follows history `expected`, at
 * position `nextSeq - 1`, continue from this leader? ARCHITECTURE.md § "Histories".
 *
 * A leader's id on the wire is its history id (the manifest's `historyId`: the database id
 * until an operator recovers past WAL damage, which forks a new history and keeps the old ones
 * as ancestors with the last sequence each shares with the next). A replica of the current
 * history continues as always. A replica of an ancestor history holds writes this leader lost
 * (or, at or below the fork, a history the leader no longer has in its WAL): the leader
 * accepts it with a WELCOME that names the new history, and a replica told a history other
 * than the one it recorded replaces its data with a snapshot of the new one (`replica.ts`). It
 * never continues on top of writes from another history. A replica of a history the leader
 * never had is refused.
 *
 * @module
 */

import type { HistoryAncestor } from "../manifest/mod.ts";
import { hexId } from "./frame.ts";

/** What the leader does with a replica's HELLO, as far as histories go. */
export type HistoryVerdict =
  | { kind: "same" }
  | { kind: "new" }
  | {
    kind: "forked";
    /** The last sequence the replica's history shares with this leader's. */
    sharedSeq: number;
    /** True when the replica holds writes past the fork (they are not in this history). */
    diverged: boolean;
  }
  | { kind: "unknown" };

/**
 * Judges a replica that follows `expected` (all zeros: none yet) and holds everything up to
 * `position`, against a leader whose history is `historyId` with `ancestors` (oldest first).
 */
export function judgeHistory(
  history: { historyId: Uint8Array; ancestors: readonly HistoryAncestor[] },
  expected: Uint8Array,
  position: number,
): HistoryVerdict {
  const want = hexId(expected);
  if (/^0+$/.test(want)) return { kind: "new" };
  if (want === hexId(history.historyId)) return { kind: "same" };
  const i = history.ancestors.findIndex((a) => hexId(a.historyId) === want);
  if (i < 0) return { kind: "unknown" };
  // Shared with the current history: up to the lowest fork from that ancestor on.
  let sharedSeq = Infinity;
  for (const a of history.ancestors.slice(i)) sharedSeq = Math.min(sharedSeq, a.forkSeq);
  return { kind: "forked", sharedSeq, diverged: position > sharedSeq };
}
