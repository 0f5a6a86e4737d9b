/**
 * INFO: the sections Redis clients read (server, clients, memory, persistence, stats,
 * replication, cpu, keyspace, commandstats) plus CityHall's own engine section and those the
 * registries declare (ingest, http). Every numeric field renders from the metrics registries of
 * the database (ARCHITECTURE.md § "Metrics registry"); this file adds only the facts that are not
 * stats (versions, settings, Redis's constant fields), the replication role's lines, keyspace
 * (a scan) and commandstats (Redis's format of the per-command cells).
 * ARCHITECTURE.md § "Commands" lists the fields; § "Observability" the CityHall counters.
 *
 * @module
 */

import { REDIS_COMPAT_VERSION, VERSION } from "../../version.ts";
import { type CommandContext, lower } from "../context.ts";
import { replicationRoleOf } from "../../replication/hooks.ts";
import { INFO_EXPIRY_EXACT_KEYS } from "../../limits.ts";
import { USER_KEYS_END } from "../../keyspace/mod.ts";
import { EXTRA_SECTIONS, extraInfoSection } from "../../export/info.ts";
import { infoSectionNames, infoSectionOf } from "../info_sections.ts";
import {
  type Family,
  gather,
  hasRegistryLoaders,
  loadAttachedRegistries,
  renderInfo,
} from "../../metrics/mod.ts";
import { registriesOf } from "../../export/metrics.ts";

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
 * one by one (exact below that); past them every 2nd, then 4th, 8th ... key is read and stands for
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

/** The stats of every registry describing the database, read once per INFO call. */
type Families = () => Family[];

async function infoSection(
  ctx: CommandContext,
  section: string,
  families: Families,
): Promise<string | undefined> {
  const s = ctx.server;
  // Facts that are not stats (versions, settings, constants Redis clients expect) go before
  // the section's stats from the registry (ARCHITECTURE.md § "Metrics registry"); `after`, behind.
  const lines: [string, string | number][] = [];
  const after: [string, string | number][] = [];
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
        ["hz", s.config.hz],
        ["configured_hz", s.config.hz],
        ["executable", Deno.execPath()],
        ["config_file", ""],
        ["cityhall_version", VERSION],
        ["deno_version", Deno.version.deno],
      );
      break;
    }
    case "clients":
      after.push(["maxclients", s.config.maxClients], ["tracking_clients", 0]);
      break;
    case "memory":
      after.push(["maxmemory", 0], ["maxmemory_human", "0B"], ["maxmemory_policy", "noeviction"]);
      // UNLINK and FLUSHDB ASYNC finish before they reply: nothing is ever left to free lazily
      // (clients and Redis's own suite wait for `lazyfree_pending_objects:0`).
      after.push(["lazyfree_pending_objects", 0], ["lazyfreed_objects", 0]);
      break;
    case "persistence":
      lines.push(
        ["loading", 0],
        ["async_loading", 0],
        ["rdb_changes_since_last_save", s.changesSinceSave],
        ["rdb_bgsave_in_progress", 0],
        ["rdb_last_save_time", Math.floor(s.lastSaveMs / 1000)],
        ["aof_enabled", 1],
        ["aof_rewrite_in_progress", 0],
        ["cityhall_sync_mode", s.syncMode],
      );
      break;
    case "stats":
    case "cpu":
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
    case "commandstats":
      // Redis's format from the same cells as cityhall_commands_total and
      // cityhall_command_duration_seconds.
      for (const [name, st] of s.metrics.commands) {
        const usec = Math.round(st.latency.sum * 1e6);
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
      lines.push(["cityhall_version", VERSION]);
      after.push(["fatal_error", s.db.stats().fatalError ?? ""]);
      break;
    }
    default: {
      // Sections a role attached (a fleet hub's "sites", an edge's "uplink"), then those of
      // parts outside the RESP server (remote-write export), then the registries' own.
      const attached = infoSectionOf(s.db, section);
      if (attached !== undefined) {
        lines.push(...attached());
        break;
      }
      const extra = extraInfoSection(section);
      if (extra !== undefined) {
        title = extra.title;
        lines.push(...extra.lines);
        break;
      }
      if (!families().some((f) => f.spec.info !== false && f.spec.info.section === section)) {
        return undefined;
      }
    }
  }
  lines.push(...renderInfo(families(), section), ...after);
  return `# ${title}\r\n` + lines.map(([k, v]) => `${k}:${v}\r\n`).join("");
}

/** Sections the registries add beyond the fixed ones (e.g. `http`), in declaration order. */
function registrySections(families: Family[]): string[] {
  const out = new Set<string>();
  for (const f of families) if (f.spec.info !== false) out.add(f.spec.info.section);
  return [...out].filter((x) => !ALL_SECTIONS.includes(x));
}

/** INFO [section...]. */
export async function info(ctx: CommandContext): Promise<void> {
  // The server's stats are declared when first asked for (ARCHITECTURE.md § "Memory").
  if (hasRegistryLoaders(ctx.server.db)) await loadAttachedRegistries(ctx.server.db);
  const asked = ctx.args.slice(1).map(lower);
  let sections: string[];
  const extra = infoSectionNames(ctx.server.db);
  if (asked.length === 0 || asked.includes("default")) sections = [...DEFAULT_SECTIONS, ...extra];
  else if (asked.includes("all") || asked.includes("everything")) {
    sections = [...ALL_SECTIONS, ...extra];
  } else sections = asked;
  let gathered: Family[] | undefined;
  const families = () => gathered ??= gather(registriesOf(ctx.server.db));
  if (asked.includes("all") || asked.includes("everything")) {
    sections.push(...registrySections(families()));
  }
  const parts: string[] = [];
  for (const section of new Set(sections)) {
    const part = await infoSection(ctx, section, families);
    if (part !== undefined) parts.push(part);
  }
  ctx.out.verbatim(parts.join("\r\n"));
}
