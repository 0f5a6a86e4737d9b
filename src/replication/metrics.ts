/**
 * Replication's stats in the metrics registry (ARCHITECTURE.md § "Metrics registry"): a
 * leader's replicas and a replica's link, for `/metrics` and `/v1/stats` (under
 * `replication`). `INFO replication` keeps the role's own lines (Redis's `slaveN:` format,
 * `infoLinesOf`), written from the same facts, so the declarations here say `info: false`.
 *
 * @module
 */

import { type MetricSpec, Registry, type Sample } from "../metrics/mod.ts";
import type { KnownReplica } from "./registry.ts";
import { type LinkFacts, stalenessSeconds } from "./replica_status.ts";

type Spec = MetricSpec & { collect: () => number | Sample[] };

/** What the leader's declarations read. */
export interface LeaderStatsSource {
  /** Known replicas. */
  replicas(): KnownReplica[];
  /** How far `replica` is behind. */
  lag(replica: KnownReplica): { entries: number; bytes: number; seconds: number };
  /** Newest durable sequence. */
  durableSeq(): number;
}

/** The leader's registry: one sample per known replica (label `replica`, its id). */
export function leaderRegistry(source: LeaderStatsSource): Registry {
  const r = new Registry({ jsonPrefix: "replication", infoSection: "replication" });
  let lags = new Map<KnownReplica, { entries: number; bytes: number; seconds: number }>();
  r.beforeCollect(() => lags = new Map(source.replicas().map((x) => [x, source.lag(x)])));
  const per = (f: (x: KnownReplica) => number) => (): Sample[] =>
    [...lags.keys()].map((x) => ({ labels: [x.id], value: f(x) }));
  const lag = (k: "entries" | "bytes" | "seconds") => per((x) => lags.get(x)![k]);
  const perReplica = { labels: ["replica"], info: false } as const;
  const specs: Spec[] = [
    {
      name: "cityhall_leader_durable_sequence",
      help: "Newest sequence durable on the leader (what replicas catch up to)",
      type: "gauge",
      unit: "1",
      info: false,
      collect: () => source.durableSeq(),
    },
    {
      name: "cityhall_leader_known_replicas",
      help: "Replicas the leader knows (and pins WAL for)",
      type: "gauge",
      unit: "1",
      info: false,
      collect: () => lags.size,
    },
    {
      name: "cityhall_leader_replica_connected",
      help: "1 while the replica is connected",
      type: "gauge",
      unit: "1",
      ...perReplica,
      collect: per((x) => x.connected ? 1 : 0),
    },
    {
      name: "cityhall_leader_replica_acked_sequence",
      help: "Highest sequence the replica acknowledged as durable",
      type: "gauge",
      unit: "1",
      ...perReplica,
      collect: per((x) => x.ackedSeq),
    },
    {
      name: "cityhall_leader_replica_lag_entries",
      help: "Operations the replica does not have yet",
      type: "gauge",
      unit: "1",
      ...perReplica,
      collect: lag("entries"),
    },
    {
      name: "cityhall_leader_replica_lag_bytes",
      help: "WAL bytes the replica does not have yet",
      type: "gauge",
      unit: "bytes",
      ...perReplica,
      collect: lag("bytes"),
    },
    {
      name: "cityhall_leader_replica_lag_seconds",
      help: "Age of the oldest write the replica does not have (0 = caught up)",
      type: "gauge",
      unit: "seconds",
      ...perReplica,
      collect: lag("seconds"),
    },
  ];
  r.collectAll(specs);
  return r;
}

/** A replica's registry, read from the link's facts (the record INFO and status.json show). */
export function replicaRegistry(facts: () => LinkFacts): Registry {
  const r = new Registry({ jsonPrefix: "replication", infoSection: "replication" });
  // Read at render time only (a replica declares these before its link's facts exist).
  let f!: LinkFacts;
  r.beforeCollect(() => f = facts());
  const specs: Spec[] = [
    {
      name: "cityhall_replica_link_up",
      help: "1 while the link to the leader is connected",
      type: "gauge",
      unit: "1",
      info: false,
      collect: () => f.state === "connected" ? 1 : 0,
    },
    {
      name: "cityhall_replica_acked_sequence",
      help: "Newest sequence applied, fdatasync'ed and acknowledged to the leader",
      type: "gauge",
      unit: "1",
      info: false,
      collect: () => f.ackedSeq,
    },
    {
      name: "cityhall_replica_leader_durable_sequence",
      help: "Newest sequence durable on the leader, as last heard",
      type: "gauge",
      unit: "1",
      info: false,
      collect: () => f.leaderDurableSeq,
    },
    {
      name: "cityhall_replica_lag_entries",
      help: "Operations the leader has and this replica does not, as last heard",
      type: "gauge",
      unit: "1",
      info: false,
      collect: () => Math.max(0, f.leaderDurableSeq - f.ackedSeq),
    },
    {
      name: "cityhall_replica_staleness_seconds",
      help: "Seconds the data may be behind the leader (0 = current, -1 = never caught up)",
      type: "gauge",
      unit: "seconds",
      info: false,
      collect: () => stalenessSeconds(f, Date.now()),
    },
    {
      name: "cityhall_replica_last_contact_timestamp_seconds",
      help: "Unix time of the last frame from the leader (0 = never)",
      type: "gauge",
      unit: "seconds",
      info: false,
      collect: () => f.lastContactMs / 1000,
    },
    {
      name: "cityhall_replica_retries_total",
      help: "Connection attempts retried since start",
      type: "counter",
      unit: "1",
      info: false,
      collect: () => f.totalRetries,
    },
  ];
  r.collectAll(specs);
  return r;
}
