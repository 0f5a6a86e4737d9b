/**
 * INFO: the sections Redis clients read (server, clients, memory, persistence, stats,
 * replication, cpu, keyspace, commandstats) plus CityHall's own engine section.
 * ARCHITECTURE.md § "Commands" lists the fields; § "Observability" the CityHall counters.
 *
 * @module
 */

import process from "node:process";
import { REDIS_COMPAT_VERSION, VERSION } from "../../version.ts";
import { type CommandContext, lower } from "../context.ts";
import { replicationRoleOf } from "../../replication/hooks.ts";
import { INFO_EXPIRY_EXACT_KEYS } from "../../limits.ts";
import { USER_KEYS_END } from "../../keyspace/mod.ts";
import { EXTRA_SECTIONS, extraInfoSection } from "../../export/info.ts";
import { infoSectionNames, infoSectionOf } from "../info_sections.ts";
import { registryFor } from "./blocking_registry.ts";

/** Keys INFO's keyspace section counts exactly before it falls back to the engine's estimate. */
export const INFO_KEYSPACE_COUNT_MAX = 100_000;

const DEFAULT_SECTIONS = [
  "server",
  "clients",
  "memory",
  "persistence",
  "stats",
  "replication",
  "cpu",
  "keyspace",
  "cityhall",
];
const ALL_SECTIONS = [
  ...DEFAULT_SECTIONS.slice(0, -2),
  "commandstats",
  "keyspace",
  "cityhall",
  ...EXTRA_SECTIONS,
];

const RUN_ID = [...crypto.getRandomValues(new Uint8Array(20))]
  .map((b) => b.toString(16).padStart(2, "0")).join("");

function human(bytes: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes}B` : `${v.toFixed(2)}${units[i]}`;
}

/** INFO keyspace's figures for db0. */
export interface KeyspaceFigures {
  /** Live keys. */
  keys: number;
  /** Keys with a time to live. */
  expires: number;
  /** Mean remaining time to live of those keys, in ms (0 when none). */
  avgTtlMs: number;
}

/**
 * Counts keys, keys with a TTL and their mean TTL by reading up to `INFO_KEYSPACE_COUNT_MAX`
 * keys (the engine keeps no count). The expiry of the first `INFO_EXPIRY_EXACT_KEYS` keys is read
 * one by one (exact below that); past them every 2nd, then 4th, 8th … key is read and stands for
 * that many keys, so a large keyspace costs a bounded number of lookups and the estimate is
 * unbiased over the whole range, not only its first keys. Past `INFO_KEYSPACE_COUNT_MAX` keys,
 * `keys` is the engine's entry count (an upper bound) and `expires` is scaled to it, as Redis's
 * avg_ttl is itself an estimate. ARCHITECTURE.md § "Operator commands" has the measured cost.
 */
export async function keyspaceFigures(ctx: CommandContext): Promise<KeyspaceFigures> {
  const db = ctx.server.db;
  const now = Date.now();
  let n = 0;
  let stride = 1;
  let expires = 0;
  let ttlSumMs = 0;
  // User keys only (a series is one key: its internal data under `0xFF` is not counted).
  const range = { end: USER_KEYS_END };
  for await (const [key] of db.scan(range, { limit: INFO_KEYSPACE_COUNT_MAX + 1 })) {
    if (++n > INFO_KEYSPACE_COUNT_MAX) break;
    if (n > INFO_EXPIRY_EXACT_KEYS * stride) stride *= 2;
    if (n % stride !== 0) continue;
    const at = db.getEntry(key)?.expireAtMs ?? 0;
    if (at > now) {
      expires += stride;
      ttlSumMs += (at - now) * stride;
    }
  }
  const avgTtlMs = expires === 0 ? 0 : Math.round(ttlSumMs / expires);
  if (n <= INFO_KEYSPACE_COUNT_MAX) return { keys: n, expires: Math.min(expires, n), avgTtlMs };
  // Too many to count on every INFO: the engine's entry count is an upper bound.
  const st = db.stats();
  const keys = Math.max(n, st.memtableEntries + st.sstableEntries);
  return { keys, expires: Math.round((expires * keys) / INFO_KEYSPACE_COUNT_MAX), avgTtlMs };
}

async function infoSection(ctx: CommandContext, section: string): Promise<string | undefined> {
  const s = ctx.server;
  const m = s.metrics;
  const lines: [string, string | number][] = [];
  // An empty or unknown section name selects nothing, as in Redis (`INFO ""` is empty).
  let title = section.slice(0, 1).toUpperCase() + section.slice(1);
  const nowMs = Date.now();
  switch (section) {
    case "server": {
      const uptimeS = Math.floor((nowMs - s.startTimeMs) / 1000);
      lines.push(
        ["redis_version", REDIS_COMPAT_VERSION],
        ["redis_git_sha1", "00000000"],
        ["redis_git_dirty", 0],
        ["redis_mode", "standalone"],
        ["os", `${Deno.build.os} ${Deno.build.arch}`],
        ["arch_bits", 64],
        ["process_id", Deno.pid],
        ["run_id", RUN_ID],
        ["tcp_port", s.port],
        ["server_time_usec", nowMs * 1000],
        ["uptime_in_seconds", uptimeS],
        ["uptime_in_days", Math.floor(uptimeS / 86400)],
        ["hz", 10],
        ["executable", Deno.execPath()],
        ["config_file", ""],
        ["cityhall_version", VERSION],
        ["deno_version", Deno.version.deno],
      );
      break;
    }
    case "clients": {
      let unauthenticated = 0;
      let multi = 0;
      let pubsubClients = 0;
      for (const c of s.clients.values()) {
        if (!c.authenticated) unauthenticated++;
        if (c.multi !== undefined) multi++;
        if (c.subscriptions !== undefined) pubsubClients++;
      }
      lines.push(
        ["connected_clients", s.clients.size],
        ["maxclients", s.config.maxClients],
        ["blocked_clients", registryFor(s.clients)?.count ?? 0],
        ["tracking_clients", 0],
        ["watching_clients", [...s.clients.values()].filter((c) => c.watched).length],
        ["total_watched_keys", s.watches.size],
        ["cityhall_unauthenticated_clients", unauthenticated],
        ["cityhall_clients_in_multi", multi],
        ["cityhall_pubsub_clients", pubsubClients],
        ["cityhall_monitor_clients", s.operator.monitors.size],
        ["cityhall_pubsub_subscriptions", s.pubsub.subscriptions],
      );
      break;
    }
    case "memory": {
      const mem = Deno.memoryUsage();
      const used = mem.heapUsed + mem.external;
      lines.push(
        ["used_memory", used],
        ["used_memory_human", human(used)],
        ["used_memory_rss", mem.rss],
        ["used_memory_rss_human", human(mem.rss)],
        ["maxmemory", 0],
        ["maxmemory_human", "0B"],
        ["maxmemory_policy", "noeviction"],
      );
      break;
    }
    case "persistence":
      lines.push(
        ["loading", 0],
        ["async_loading", 0],
        ["rdb_bgsave_in_progress", 0],
        ["rdb_last_save_time", Math.floor(s.lastSaveMs / 1000)],
        ["aof_enabled", 1],
        ["aof_rewrite_in_progress", 0],
        ["cityhall_sync_mode", s.syncMode],
      );
      break;
    case "stats":
      lines.push(
        ["total_connections_received", m.connectionsReceived],
        ["total_commands_processed", m.commandsProcessed],
        ["instantaneous_ops_per_sec", m.opsPerSec.value],
        ["total_net_input_bytes", m.netInputBytes],
        ["total_net_output_bytes", m.netOutputBytes],
        ["instantaneous_input_kbps", (m.inputBytesPerSec.value / 1024).toFixed(2)],
        ["instantaneous_output_kbps", (m.outputBytesPerSec.value / 1024).toFixed(2)],
        ["rejected_connections", m.connectionsRejected],
        ["expired_keys", s.notifier.tracker.expiredKeys],
        ["evicted_keys", 0],
        ["keyspace_hits", m.keyspaceHits],
        ["keyspace_misses", m.keyspaceMisses],
        ["pubsub_channels", s.pubsub.channelCount("channel")],
        ["pubsub_patterns", s.pubsub.patternCount],
        ["pubsubshard_channels", s.pubsub.channelCount("shard")],
        ["total_error_replies", m.errorReplies],
        ["client_query_buffer_limit_disconnections", m.queryLimitDisconnections],
        ["client_output_buffer_limit_disconnections", m.outputLimitDisconnections],
        ["cityhall_protocol_errors", m.protocolErrors],
        ["cityhall_idle_timeouts", m.idleTimeouts],
        ["cityhall_auth_timeouts", m.authTimeouts],
        ["cityhall_request_timeouts", m.requestTimeouts],
        ["cityhall_output_drain_timeouts", m.outputDrainTimeouts],
        ["cityhall_auth_failures", m.authFailures],
        ["cityhall_auth_failure_disconnections", m.authFailureDisconnections],
        ["cityhall_unauthenticated_evictions", m.unauthenticatedEvictions],
        ["cityhall_transactions_executed", m.transactionsExecuted],
        ["cityhall_transactions_aborted", m.transactionsAborted],
      );
      break;
    case "replication": {
      const role = replicationRoleOf(s.db);
      if (role !== undefined) {
        lines.push(...role.infoLines());
        break;
      }
      lines.push(
        ["role", "master"],
        ["connected_slaves", 0],
        ["master_replid", RUN_ID],
        ["master_repl_offset", s.db.lastSeq],
      );
      break;
    }
    case "cpu": {
      const cpu = process.cpuUsage();
      lines.push(
        ["used_cpu_sys", (cpu.system / 1e6).toFixed(6)],
        ["used_cpu_user", (cpu.user / 1e6).toFixed(6)],
      );
      break;
    }
    case "commandstats":
      for (const [name, st] of s.metrics.commands) {
        const usec = Math.round(st.latency.sumS * 1e6);
        lines.push([
          `cmdstat_${name}`,
          `calls=${st.calls},usec=${usec},usec_per_call=${(usec / st.calls).toFixed(2)},` +
          `rejected_calls=0,failed_calls=${st.failedCalls}`,
        ]);
      }
      break;
    case "keyspace": {
      const k = await keyspaceFigures(ctx);
      if (k.keys > 0) {
        lines.push(["db0", `keys=${k.keys},expires=${k.expires},avg_ttl=${k.avgTtlMs}`]);
      }
      break;
    }
    case "cityhall": {
      title = "CityHall";
      const st = s.db.stats();
      lines.push(
        ["cityhall_version", VERSION],
        ["last_seq", st.lastSeq],
        ["flushed_seq", st.flushedSeq],
        ["memtable_size_bytes", st.memtableSizeBytes],
        ["memtable_entries", st.memtableEntries],
        ["immutable_memtables", st.immutableMemtables],
        ["wal_segments", st.walSegments],
        ["wal_size_bytes", st.walSizeBytes],
        ["tables_per_level", st.tablesPerLevel.join(",")],
        ["sstable_size_bytes", st.sstableSizeBytes],
        ["sstable_entries", st.sstableEntries],
        ["flushes", st.flushes],
        ["compactions", st.compactions],
        ["bytes_written", st.bytesWritten],
        ["block_cache_hits", st.blockCacheHits],
        ["block_cache_misses", st.blockCacheMisses],
        ["fatal_error", st.fatalError ?? ""],
      );
      break;
    }
    default: {
      // Sections a role attached (a fleet hub's "sites", an edge's "uplink"), then those of
      // parts outside the RESP server (ingest, remote-write export).
      const attached = infoSectionOf(s.db, section);
      if (attached !== undefined) {
        lines.push(...attached());
        break;
      }
      const extra = extraInfoSection(section);
      if (extra === undefined) return undefined;
      title = extra.title;
      lines.push(...extra.lines);
    }
  }
  return `# ${title}\r\n` + lines.map(([k, v]) => `${k}:${v}\r\n`).join("");
}

/** INFO [section…]. */
export async function info(ctx: CommandContext): Promise<void> {
  const asked = ctx.args.slice(1).map(lower);
  let sections: string[];
  const extra = infoSectionNames(ctx.server.db);
  if (asked.length === 0 || asked.includes("default")) sections = [...DEFAULT_SECTIONS, ...extra];
  else if (asked.includes("all") || asked.includes("everything")) {
    sections = [...ALL_SECTIONS, ...extra];
  } else sections = asked;
  const parts: string[] = [];
  for (const section of new Set(sections)) {
    const part = await infoSection(ctx, section);
    if (part !== undefined) parts.push(part);
  }
  ctx.out.verbatim(parts.join("\r\n"));
}
