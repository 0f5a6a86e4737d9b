/**
 * The handshake rules of CityHall Sync, both sides, as plain decisions: what a leader checks in
 * a HELLO before it answers WELCOME, and what a replica checks in a WELCOME before it applies
 * anything. ARCHITECTURE.md § "Handshake rules" lists them in this order.
 *
 * Each rule is one entry of an ordered list with the ERROR code it answers; a new rule (a
 * history id, a feature flag) is one more entry, placed by what must be known before it is
 * checked. The token is always checked before anything the peer says is believed; nothing a
 * peer sends is decompressed before these rules pass (see `frame_reader.ts`).
 *
 * @module
 */

import { timingSafeEqual } from "@std/crypto/timing-safe-equal";
import type { HistoryAncestor } from "../manifest/mod.ts";
import {
  ERROR_AUTH,
  ERROR_REPLICA_AHEAD,
  ERROR_VERSION,
  ERROR_WRONG_LEADER,
  type Hello,
  hexId,
  SYNC_PROTOCOL_VERSION,
  type Welcome,
} from "./frame.ts";
import { judgeHistory } from "./history.ts";

/** A refusal: the ERROR code and message for the peer, and the reason for the log. */
export interface Refusal {
  code: number;
  /** Sent in the ERROR frame (the peer logs it). */
  message: string;
  /** For this side's log line: `refusing replica: REASON`. */
  reason: string;
}

/** What the leader knows when it judges a HELLO. */
export interface LeaderFacts {
  /** The leader's history id: its `databaseId` until a recovery past WAL damage forks one. */
  leaderId: Uint8Array;
  /** The histories the leader's forked from, oldest first (ARCHITECTURE.md § "Histories"). */
  ancestors: readonly HistoryAncestor[];
  /** Newest sequence fdatasync'ed on the leader. */
  durableSeq: number;
  /** SHA-256 of the token replicas must present; `undefined` = no token configured. */
  tokenHash: Uint8Array | undefined;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

/** SHA-256 of a configured token (what `LeaderFacts.tokenHash` holds). */
export function hashToken(token: string): Promise<Uint8Array> {
  return sha256(new TextEncoder().encode(token));
}

/** Compares the presented token with the configured one in constant time (SHA-256 both). */
async function tokenMatches(
  token: Uint8Array,
  tokenHash: Uint8Array | undefined,
): Promise<boolean> {
  if (tokenHash === undefined) return true;
  return timingSafeEqual(await sha256(token), tokenHash);
}

/**
 * The leader's checks of a HELLO, in order; `undefined` = accepted. The session refuses with
 * the first that fails. Capacity (sessions, known replicas) is the leader's business and is
 * checked after these.
 */
export async function judgeHello(hello: Hello, facts: LeaderFacts): Promise<Refusal | undefined> {
  // 1. Version: a replica speaking another protocol cannot be understood further.
  if (hello.version !== SYNC_PROTOCOL_VERSION) {
    return {
      code: ERROR_VERSION,
      message:
        `Protocol version ${hello.version} not supported (leader speaks ${SYNC_PROTOCOL_VERSION})`,
      reason: `protocol version ${hello.version}`,
    };
  }
  // 2. Token: nothing else the peer says is believed before it authenticated.
  if (!(await tokenMatches(hello.token, facts.tokenHash))) {
    return { code: ERROR_AUTH, message: "Wrong auth token", reason: "wrong auth token" };
  }
  // 3. History: a replica of another (or a re-initialised) leader holds another history. One
  // of a history this leader forked from is accepted: WELCOME names the new history, and the
  // replica replaces its data with a snapshot of it; its position counts in the old history.
  const leaderId = hexId(facts.leaderId);
  const expected = hexId(hello.expectedLeaderId);
  const history = judgeHistory(
    { historyId: facts.leaderId, ancestors: facts.ancestors },
    hello.expectedLeaderId,
    hello.nextSeq - 1,
  );
  if (history.kind === "unknown") {
    return {
      code: ERROR_WRONG_LEADER,
      message: `This leader is ${leaderId}; the replica follows ${expected}`,
      reason: `it follows leader ${expected}, this is ${leaderId}`,
    };
  }
  if (history.kind === "forked") return undefined;
  // 4. Position: a replica holding writes the leader does not have cannot follow it.
  if (hello.nextSeq < 1 || hello.nextSeq - 1 > facts.durableSeq) {
    return {
      code: ERROR_REPLICA_AHEAD,
      message: `Replica is at ${hello.nextSeq - 1}, beyond the leader's ${facts.durableSeq}`,
      reason: "replica is ahead of the leader",
    };
  }
  return undefined;
}

/** What the replica knows when it judges a WELCOME. */
export interface ReplicaFacts {
  /** The leader id recorded at first contact (`replica.json`); `null` before. */
  recordedLeaderId: string | null;
}

/** What a replica does after a WELCOME. */
export interface WelcomeVerdict {
  /**
   * The WELCOME names another history than the recorded one. A leader sends that only to a
   * replica whose recorded history it forked from (HELLO rule 3; a leader of another history
   * refuses with WRONG_LEADER): the replica never streams on top of what it holds, it replaces
   * all of it with a snapshot of the new history, and records the new id only then.
   */
  replaceHistory: boolean;
}

/**
 * The replica's checks of a WELCOME (the caller records a first leader id, durably, before it
 * applies anything).
 */
export function judgeWelcome(welcome: Welcome, facts: ReplicaFacts): WelcomeVerdict {
  const leaderId = hexId(welcome.leaderId);
  return {
    replaceHistory: facts.recordedLeaderId !== null && facts.recordedLeaderId !== leaderId,
  };
}
