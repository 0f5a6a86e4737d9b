/**
 * `GET /v1/replication`: the replication role of the served database as JSON, for the
 * console's replication page and for scripts (ARCHITECTURE.md § "Web console"). Built from the
 * same facts as `INFO replication` (the role's `infoLines`), so both always agree.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { replicationRoleOf } from "../replication/hooks.ts";

/** One replica as a leader sees it. */
export interface ReplicaStatus {
  /** Replica id (32 hex digits). */
  id: string;
  /** Last address it connected from, `ip:port`. */
  address: string;
  /** `online` or `offline`. */
  state: string;
  /** Highest sequence it acknowledged as durable. */
  position: number;
  /** Entries it still lacks. */
  lagEntries: number;
  /** WAL bytes it still lacks. */
  lagBytes: number;
  /** How far behind in time its acknowledged position is (seconds). */
  lagSeconds: number;
  /** Last frame received from it (Unix ms). */
  lastSeenMs: number;
  /** It acknowledged data this leader sent (a verified replica). */
  verified: boolean;
}

/** A replica's link to its leader. */
export interface LeaderLinkStatus {
  /** Leader address, `host:port`. */
  address: string;
  /** `connecting`, `connected`, `retrying`, `refused` or `stopped`. */
  linkState: string;
  /** The leader's durable sequence, as last heard. */
  leaderPosition: number;
  /** This replica's acknowledged sequence. */
  position: number;
  /** Entries behind the leader. */
  lagEntries: number;
  /** Seconds since the replica last knew it was current. */
  stalenessSeconds: number;
  /** Last frame from the leader (Unix ms; 0 = never). */
  lastContactMs: number;
  /** Reconnect attempts since the last success. */
  retries: number;
  /** Last link error, empty when none. */
  lastError: string;
  /** Why the leader refused this replica, empty when it did not. */
  refusal: string;
}

/** What `GET /v1/replication` answers. */
export interface ReplicationStatus {
  /** `leader`, `replica`, or `standalone` (no replication configured). */
  role: "leader" | "replica" | "standalone";
  /** This server's position: durable sequence (leader, standalone) or acknowledged (replica). */
  position: number;
  /** Leader: its known replicas; otherwise empty. */
  replicas: ReplicaStatus[];
  /** Replica: its link to the leader; otherwise null. */
  leader: LeaderLinkStatus | null;
  /** A hub's sites, or an edge's uplink to its hub (§ "Fleets: hub and uplink"). */
  uplinks: UplinkStatus[];
  /** Every `INFO replication` field but the per-replica lines. */
  info: Record<string, string | number>;
}

/** One site at a hub, or an edge's uplink: the fleet's status fields (INFO sites / uplink). */
export interface UplinkStatus {
  /** `site <name>` at a hub, `uplink to <host:port>` on an edge. */
  name: string;
  /** online/offline/refused (hub), connecting/connected/… (edge). */
  state: string;
  /** Edge sequence acknowledged by the hub (durable there). */
  position: number;
  /** Operations the hub does not have yet. */
  lagEntries: number;
  /** WAL bytes the hub does not have yet (estimated). */
  lagBytes: number;
  /** Age of the oldest write the hub does not have (seconds; 0 = caught up). */
  lagSeconds: number;
  /** Operations acknowledged per second over the last 10 s. */
  rateEntriesPerSec: number;
  /** Seconds to catch up at that rate; −1 = unknown. */
  etaSeconds: number;
  /** Last frame from the other end (Unix ms; 0 = never). */
  lastContactMs: number;
  /** The last error, empty when none. */
  lastError: string;
}

/** The INFO lines of a fleet role: a hub's `sites` section and an edge's `uplink` section. */
export interface FleetInfo {
  sites?: readonly [string, string | number][];
  uplink?: readonly [string, string | number][];
}

function uplinkOf(name: string, get: (field: string) => string | number | undefined) {
  return {
    name,
    state: String(get("state") ?? ""),
    position: num(get("acked_seq")),
    lagEntries: num(get("behind_entries")),
    lagBytes: num(get("behind_bytes")),
    lagSeconds: num(get("behind_seconds")),
    rateEntriesPerSec: num(get("rate_entries_per_sec")),
    etaSeconds: get("eta_seconds") === undefined ? -1 : Number(get("eta_seconds")),
    lastContactMs: num(get("last_contact_ms")),
    lastError: String(get("last_error") ?? ""),
  };
}

/** The fleet part of the status, from the INFO lines the hub or the uplink attached. */
export function uplinksOf(fleet: FleetInfo): UplinkStatus[] {
  const out: UplinkStatus[] = [];
  for (const [name, value] of fleet.sites ?? []) {
    if (!/^site\d+$/.test(name)) continue;
    const p = parsePairs(String(value));
    out.push(uplinkOf(`site ${p.get("site") ?? ""}`, (f) => p.get(f)));
  }
  if (fleet.uplink !== undefined) {
    const m = new Map(fleet.uplink.map(([k, v]) => [k, v]));
    out.push(uplinkOf(`uplink to ${m.get("uplink_hub") ?? ""}`, (f) => m.get(`uplink_${f}`)));
  }
  return out;
}

const REPLICA_LINE = /^slave\d+$/;

/** Parses `k=v,k=v` (the value of an INFO `slaveN` line). */
function parsePairs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

function num(value: string | number | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function replicaOf(text: string): ReplicaStatus {
  const p = parsePairs(text);
  const ip = p.get("ip") ?? "";
  const port = p.get("port") ?? "";
  return {
    id: p.get("id") ?? "",
    address: ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`,
    state: p.get("state") ?? "",
    position: num(p.get("offset")),
    lagEntries: num(p.get("lag_entries")),
    lagBytes: num(p.get("lag_bytes")),
    lagSeconds: num(p.get("lag_seconds")),
    lastSeenMs: num(p.get("last_seen_ms")),
    verified: p.get("verified") === "1",
  };
}

/**
 * The replication status of `db` (standalone when no leader or replica is attached), with the
 * fleet's sites or uplink from `fleet` (the INFO sections the hub or uplink attached).
 */
export function replicationStatus(db: Database, fleet: FleetInfo = {}): ReplicationStatus {
  const uplinks = uplinksOf(fleet);
  const role = replicationRoleOf(db);
  if (role === undefined) {
    return {
      role: "standalone",
      position: db.lastSeq,
      replicas: [],
      leader: null,
      uplinks,
      info: {},
    };
  }
  const info: Record<string, string | number> = {};
  const replicas: ReplicaStatus[] = [];
  for (const [name, value] of role.infoLines()) {
    if (REPLICA_LINE.test(name)) replicas.push(replicaOf(String(value)));
    else info[name] = value;
  }
  if (role.role === "leader") {
    return {
      role: "leader",
      position: num(info.master_repl_offset),
      replicas,
      leader: null,
      uplinks,
      info,
    };
  }
  const host = String(info.master_host ?? "");
  return {
    role: "replica",
    position: num(info.slave_repl_offset),
    replicas: [],
    leader: {
      address: host.includes(":") ? `[${host}]:${info.master_port}` : `${host}:${info.master_port}`,
      linkState: String(info.cityhall_link_state ?? ""),
      leaderPosition: num(info.cityhall_leader_durable_seq),
      position: num(info.slave_repl_offset),
      lagEntries: num(info.cityhall_lag_entries),
      stalenessSeconds: num(info.cityhall_staleness_seconds),
      lastContactMs: num(info.cityhall_last_contact_ms),
      retries: num(info.cityhall_retries),
      lastError: String(info.cityhall_last_error ?? ""),
      refusal: String(info.cityhall_refusal ?? ""),
    },
    uplinks,
    info,
  };
}
