/**
 * How the RESP server's commands (INFO replication, WAIT, REPLICATION) find the replication
 * role of the database they serve, without the server knowing about replication: the leader
 * or the replica attaches itself to its `Database` here.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";

/** What a leader or a replica tells the server. */
export interface ReplicationRole {
  /** `"leader"` or `"replica"`. */
  readonly role: "leader" | "replica";
  /** The `INFO replication` lines, in order. */
  infoLines(): [string, string | number][];
  /**
   * Leader: resolves with the number of replicas that acknowledged every write up to the
   * newest one, as soon as `numReplicas` have or after `timeoutMs` (0 = no limit).
   * Replica: resolves 0 at once.
   */
  waitForAcks(numReplicas: number, timeoutMs: number): Promise<number>;
  /** Leader: the known replicas as lines; replica: empty. */
  listReplicas(): string[];
  /** Leader: forgets a replica (stops pinning WAL for it); false when unknown. */
  forgetReplica(id: string): Promise<boolean>;
  /** Problems for `/healthz` (empty = healthy): a replica whose link is refused. */
  healthProblems(): string[];
}

const roles = new WeakMap<Database, ReplicationRole>();

/** Attaches `role` to `db` (`undefined` detaches). */
export function attachReplicationRole(db: Database, role: ReplicationRole | undefined): void {
  if (role === undefined) roles.delete(db);
  else roles.set(db, role);
}

/** The role attached to `db`, if any. */
export function replicationRoleOf(db: Database): ReplicationRole | undefined {
  return roles.get(db);
}
