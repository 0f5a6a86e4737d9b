/**
 * CityHall Sync: offline-first WAL replication from a leader to replicas, pull-based over
 * TCP (TLS optional). ARCHITECTURE.md § "Replication (CityHall Sync)" documents the frames
 * byte by byte, the handshake, flow control, retention and a worked example.
 *
 * - `frame.ts`: frames and message bodies.
 * - `frame_reader.ts`: reads whole frames under the policy of the link's phase.
 * - `handshake.ts`: the HELLO (leader) and WELCOME (replica) rules.
 * - `feed.ts`: the leader's change feed from WAL segment files.
 * - `leader.ts`: the replication listener and admission (`startReplicationLeader`,
 *   `openLeaderDatabase`); `leader_session.ts`: one replica connection.
 * - `replica.ts`: the follower's link (`startReplica`, `openReplicaDatabase`);
 *   `replica_session.ts` one connection to the leader, `replica_bootstrap.ts` snapshot
 *   install, `replica_records.ts` the DATA check, `replica_status.ts` status, INFO, health.
 * - `registry.ts`: the leader's known replicas, persisted; their retention pins.
 * - `state_files.ts`: a replica's identity and status files.
 * - `snapshot.ts`: snapshot bootstrap (checkpoint files, CRCs, staging).
 * - `backoff.ts`: exponential backoff with full jitter.
 * - `hooks.ts`: how INFO replication, WAIT and REPLICATION find the role of a database.
 *
 * @module
 */

export { Backoff, type BackoffOptions } from "./backoff.ts";
export { hexId, SYNC_PROTOCOL_VERSION } from "./frame.ts";
export { attachReplicationRole, type ReplicationRole, replicationRoleOf } from "./hooks.ts";
export {
  type LeaderOptions,
  openLeaderDatabase,
  type ReplicationLeader,
  startReplicationLeader,
} from "./leader.ts";
export { type KnownReplica, ReplicaRegistry } from "./registry.ts";
export {
  type LinkState,
  openReplicaDatabase,
  parseHostPort,
  type Replica,
  type ReplicaOptions,
  startReplica,
} from "./replica.ts";
export { readReplicaStatus, type ReplicaStatus } from "./state_files.ts";
