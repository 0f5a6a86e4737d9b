/**
 * What a replica tells about itself: the status file, the `INFO replication` lines and the
 * health problems `/healthz` reports. One record of facts (`LinkFacts`), kept by the link,
 * rendered three ways so that they cannot disagree. ARCHITECTURE.md § "Replica honesty".
 *
 * @module
 */

import type { ReplicaStatus } from "./state_files.ts";

/** The facts the link keeps about itself. */
export interface LinkFacts {
  replicaId: string;
  leaderAddress: string;
  leaderHost: string;
  leaderPort: number;
  leaderId: string | null;
  state: string;
  /** Newest sequence acknowledged to the leader (applied and fdatasync'ed). */
  ackedSeq: number;
  leaderDurableSeq: number;
  lastSegment: number;
  lastContactMs: number;
  lastCaughtUpMs: number;
  retries: number;
  totalRetries: number;
  lastError: string | undefined;
  refusal: string | undefined;
}

/** Seconds the replica's data may be behind the leader's, as far as it knows (0 = current). */
export function stalenessSeconds(facts: LinkFacts, nowMs: number): number {
  const caughtUp = facts.state === "connected" && facts.ackedSeq >= facts.leaderDurableSeq;
  if (caughtUp) return 0;
  if (facts.lastCaughtUpMs === 0) return -1;
  return Math.max(0, Math.floor((nowMs - facts.lastCaughtUpMs) / 1000));
}

/** The status as `status.json` holds it. */
export function statusOf(facts: LinkFacts, nowMs: number): ReplicaStatus {
  const status: ReplicaStatus = {
    replicaId: facts.replicaId,
    leaderAddress: facts.leaderAddress,
    leaderId: facts.leaderId,
    state: facts.state,
    lastAppliedSeq: facts.ackedSeq,
    lastSyncedSegment: facts.lastSegment,
    totalEntries: facts.ackedSeq,
    leaderDurableSeq: facts.leaderDurableSeq,
    lastContactMs: facts.lastContactMs,
    lastCaughtUpMs: facts.lastCaughtUpMs,
    updatedMs: nowMs,
    pid: Deno.pid,
  };
  if (facts.lastError !== undefined) status.lastError = facts.lastError;
  if (facts.refusal !== undefined) status.refusal = facts.refusal;
  return status;
}

/** The `INFO replication` lines of a replica. */
export function infoLinesOf(facts: LinkFacts, nowMs: number): [string, string | number][] {
  const lag = Math.max(0, facts.leaderDurableSeq - facts.ackedSeq);
  return [
    ["role", "slave"],
    ["cityhall_role", "replica"],
    ["master_host", facts.leaderHost],
    ["master_port", facts.leaderPort],
    ["master_link_status", facts.state === "connected" ? "up" : "down"],
    ["cityhall_link_state", facts.state],
    [
      "master_last_io_seconds_ago",
      facts.lastContactMs === 0 ? -1 : Math.floor((nowMs - facts.lastContactMs) / 1000),
    ],
    ["master_sync_in_progress", 0],
    ["slave_repl_offset", facts.ackedSeq],
    ["slave_read_only", 1],
    ["cityhall_replica_id", facts.replicaId],
    ["cityhall_leader_id", facts.leaderId ?? ""],
    ["cityhall_leader_durable_seq", facts.leaderDurableSeq],
    ["cityhall_lag_entries", lag],
    ["cityhall_last_contact_ms", facts.lastContactMs],
    ["cityhall_staleness_seconds", stalenessSeconds(facts, nowMs)],
    ["cityhall_retries", facts.retries],
    ["cityhall_total_retries", facts.totalRetries],
    ["cityhall_last_synced_segment", facts.lastSegment],
    ["cityhall_last_error", facts.lastError ?? ""],
    ["cityhall_refusal", facts.refusal ?? ""],
    ["connected_slaves", 0],
  ];
}

/** Problems `/healthz` reports (empty = healthy): a refused link serves stale data. */
export function healthProblemsOf(facts: LinkFacts): string[] {
  if (facts.state !== "refused") return [];
  return [`replication refused: ${facts.refusal ?? facts.lastError ?? "unknown reason"}`];
}
