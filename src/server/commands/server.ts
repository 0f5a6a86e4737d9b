/**
 * Server commands: COMMAND CONFIG INFO TIME FLUSHDB FLUSHALL SAVE BGSAVE LASTSAVE SHUTDOWN WAIT.
 *
 * @module
 */

import process from "node:process";
import { REDIS_COMPAT_VERSION, VERSION } from "../../version.ts";
import {
  arityError,
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  intArg,
  lower,
  NO_KEYS,
  parseInt64,
  ReplyError,
  specBuilder,
  text,
} from "../context.ts";
import { replicationRoleOf } from "../../replication/hooks.ts";
import { globMatch } from "../glob.ts";
import {
  CLIENTS_MAX_LIMIT,
  RESP_BULK_SIZE_BYTES_MAX,
  RESP_QUERY_BUFFER_BYTES_MAX,
} from "../../limits.ts";

const encoder = new TextEncoder();

/** Keys INFO's keyspace section counts exactly before it falls back to the engine's estimate. */
export const INFO_KEYSPACE_COUNT_MAX = 100_000;

// ---------------------------------------------------------------- COMMAND

/** Redis's ACL categories in the order `COMMAND INFO` lists them (`ACLCommandCategories`). */
const ACL_CATEGORY_ORDER = [
  "keyspace",
  "read",
  "write",
  "set",
  "sortedset",
  "list",
  "hash",
  "string",
  "bitmap",
  "hyperloglog",
  "geo",
  "stream",
  "pubsub",
  "admin",
  "fast",
  "slow",
  "blocking",
  "dangerous",
  "connection",
  "transaction",
  "scripting",
];

/** Command groups that are also ACL categories (`generic` commands are `@keyspace`). */
const GROUP_CATEGORY: Record<string, string> = {
  generic: "keyspace",
  string: "string",
  connection: "connection",
};

/**
 * A command's ACL categories as Redis derives them: its group's category, `write`/`read`/
 * `fast` from the flags, `admin` + `dangerous` for admin commands, `slow` when not fast.
 */
export function aclCategories(c: CommandSpec): string[] {
  const cats = new Set<string>();
  const group = GROUP_CATEGORY[c.group];
  if (group !== undefined) cats.add(group);
  if (c.flags.includes("write")) cats.add("write");
  if (c.flags.includes("readonly")) cats.add("read");
  if (c.flags.includes("admin")) {
    cats.add("admin");
    cats.add("dangerous");
  }
  cats.add(c.flags.includes("fast") ? "fast" : "slow");
  return ACL_CATEGORY_ORDER.filter((a) => cats.has(a)).map((a) => `@${a}`);
}

function writeCommandInfo(ctx: CommandContext, c: CommandSpec): void {
  const out = ctx.out;
  out.array(10);
  out.bulk(c.name);
  out.integer(c.arity);
  out.set(c.flags.length);
  for (const f of c.flags) out.simple(f);
  out.integer(c.firstKey);
  out.integer(c.lastKey);
  out.integer(c.step);
  const categories = aclCategories(c);
  out.set(categories.length);
  for (const a of categories) out.simple(a);
  out.set(0);
  out.array(0);
  out.array(0);
}

function writeCommandDocs(ctx: CommandContext, c: CommandSpec): void {
  const out = ctx.out;
  out.bulk(c.name);
  out.map(4);
  out.bulk("summary");
  out.bulk(c.summary);
  out.bulk("since");
  out.bulk(c.since);
  out.bulk("group");
  out.bulk(c.group);
  out.bulk("complexity");
  out.bulk(c.firstKey !== 0 && c.lastKey === -1 ? "O(N) where N is the number of keys" : "O(1)");
}

function commandCommand(table: Map<string, CommandSpec>) {
  return (ctx: CommandContext): void => {
    const { args, out } = ctx;
    const all = [...table.values()];
    if (args.length === 1) {
      out.array(all.length);
      for (const c of all) writeCommandInfo(ctx, c);
      return;
    }
    const sub = lower(args[1]!);
    const names = args.slice(2).map(lower);
    switch (sub) {
      case "count":
        if (args.length !== 2) throw arityError("command|count");
        return out.integer(all.length);
      case "list": {
        // COMMAND LIST [FILTERBY MODULE m | ACLCAT cat | PATTERN p], parsed like Redis 7.
        let keep: (c: CommandSpec) => boolean = () => true;
        for (let i = 2; i < args.length; i++) {
          if (lower(args[i]!) !== "filterby" || args.length - 1 - i !== 2) {
            throw new ReplyError(ERR_SYNTAX);
          }
          const kind = lower(args[i + 1]!);
          const arg = args[i + 2]!;
          if (kind === "module") keep = () => false;
          else if (kind === "aclcat") {
            const cat = `@${lower(arg)}`;
            keep = (c) => aclCategories(c).includes(cat);
          } else if (kind === "pattern") {
            keep = (c) => globMatch(arg, encoder.encode(c.name), true);
          } else throw new ReplyError(ERR_SYNTAX);
          i += 2;
        }
        const picked = all.filter(keep);
        out.array(picked.length);
        for (const c of picked) out.bulk(c.name);
        return;
      }
      case "info": {
        const picked = names.length === 0 ? all : names.map((n) => table.get(n));
        out.array(picked.length);
        for (const c of picked) {
          if (c === undefined) out.nullArray();
          else writeCommandInfo(ctx, c);
        }
        return;
      }
      case "docs": {
        const picked = names.length === 0
          ? all
          : names.map((n) => table.get(n)).filter((c) => c !== undefined);
        out.map(picked.length);
        for (const c of picked) writeCommandDocs(ctx, c);
        return;
      }
      case "help":
        if (args.length !== 2) throw arityError("command|help");
        out.array(4);
        out.simple("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        out.simple("(no subcommand), COUNT, DOCS [<command-name> ...], INFO [<command-name> ...]");
        out.simple("LIST");
        out.simple("HELP");
        return;
      default:
        throw new ReplyError(`ERR unknown subcommand '${text(args[1]!)}'. Try COMMAND HELP.`);
    }
  };
}

// ---------------------------------------------------------------- CONFIG

function appendFsync(syncMode: string): string {
  return syncMode === "always" ? "always" : syncMode === "interval" ? "everysec" : "no";
}

function configParams(ctx: CommandContext): [string, string][] {
  const s = ctx.server;
  return [
    ["maxclients", String(s.config.maxClients)],
    ["timeout", String(s.config.idleTimeoutS)],
    ["port", String(s.port)],
    ["bind", s.hostname],
    ["tls-port", s.tls ? String(s.port) : "0"],
    ["databases", "1"],
    ["save", ""],
    ["appendonly", "yes"],
    ["appendfsync", appendFsync(s.syncMode)],
    ["dir", s.db.dir],
    ["proto-max-bulk-len", String(RESP_BULK_SIZE_BYTES_MAX)],
    ["client-query-buffer-limit", String(RESP_QUERY_BUFFER_BYTES_MAX)],
    ["maxmemory", "0"],
    ["maxmemory-policy", "noeviction"],
    // The token is never shown.
    ["requirepass", ""],
  ];
}

function configSetError(param: string, reason: string): ReplyError {
  return new ReplyError(
    `ERR CONFIG SET failed (possibly related to argument '${param}') - ${reason}`,
  );
}

function configCommand(ctx: CommandContext): void {
  const { args, out, server } = ctx;
  const sub = lower(args[1]!);
  switch (sub) {
    case "get": {
      if (args.length < 3) throw arityError("config|get");
      const params = configParams(ctx);
      // As Redis 7: a pattern without glob characters is looked up (nocase) and answered under
      // the name as typed; a glob answers the canonical names; each parameter appears once.
      const matched: [string, string][] = [];
      const seen = new Set<string>();
      for (const p of args.slice(2)) {
        if (!/[*?[]/.test(text(p))) {
          const name = lower(p);
          const param = params.find(([n]) => n === name);
          if (param !== undefined && !seen.has(name)) {
            seen.add(name);
            matched.push([text(p), param[1]]);
          }
          continue;
        }
        for (const [name, value] of params) {
          if (!seen.has(name) && globMatch(p, encoder.encode(name), true)) {
            seen.add(name);
            matched.push([name, value]);
          }
        }
      }
      out.map(matched.length);
      for (const [name, value] of matched) {
        out.bulk(name);
        out.bulk(value);
      }
      return;
    }
    case "set": {
      if (args.length < 4) throw arityError("config|set");
      // Redis: an odd number of name/value words is a syntax error, not an arity error.
      if (args.length % 2 !== 0) throw new ReplyError(ERR_SYNTAX);
      const known = new Set(configParams(ctx).map(([n]) => n));
      const updates: { maxClients?: number; idleTimeoutS?: number } = {};
      const names = new Set<string>();
      for (let i = 2; i < args.length; i += 2) {
        const name = lower(args[i]!);
        if (!known.has(name)) {
          throw new ReplyError(
            `ERR Unknown option or number of arguments for CONFIG SET - '${text(args[i]!)}'`,
          );
        }
        if (names.has(name)) throw configSetError(text(args[i]!), "duplicate parameter");
        names.add(name);
        const v = parseInt64(args[i + 1]!);
        if (name === "maxclients") {
          if (v === undefined) {
            throw configSetError(name, "argument couldn't be parsed into an integer");
          }
          if (v < 1n || v > BigInt(CLIENTS_MAX_LIMIT)) {
            throw configSetError(
              name,
              `argument must be between 1 and ${CLIENTS_MAX_LIMIT} inclusive`,
            );
          }
          updates.maxClients = Number(v);
        } else if (name === "timeout") {
          if (v === undefined) {
            throw configSetError(name, "argument couldn't be parsed into an integer");
          }
          if (v < 0n || v > 2147483647n) {
            throw configSetError(name, "argument must be between 0 and 2147483647 inclusive");
          }
          updates.idleTimeoutS = Number(v);
        } else throw configSetError(name, "can't set immutable config");
      }
      if (updates.maxClients !== undefined) server.config.maxClients = updates.maxClients;
      if (updates.idleTimeoutS !== undefined) server.config.idleTimeoutS = updates.idleTimeoutS;
      server.logger("info", "config changed", { ...updates });
      return out.ok();
    }
    case "resetstat":
      if (args.length !== 2) throw arityError("config|resetstat");
      server.metrics.reset();
      return out.ok();
    case "rewrite":
      if (args.length !== 2) throw arityError("config|rewrite");
      throw new ReplyError("ERR The server is running without a config file");
    case "help":
      if (args.length !== 2) throw arityError("config|help");
      out.array(4);
      out.simple("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
      out.simple(
        "GET <pattern> [<pattern> ...], SET <directive> <value> [<directive> <value> ...]",
      );
      out.simple("RESETSTAT");
      out.simple("HELP");
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${text(args[1]!)}'. Try CONFIG HELP.`);
  }
}

// ---------------------------------------------------------------- INFO

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
const ALL_SECTIONS = [...DEFAULT_SECTIONS.slice(0, -2), "commandstats", "keyspace", "cityhall"];

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

async function keyCountForInfo(ctx: CommandContext): Promise<number> {
  let n = 0;
  for await (const _ of ctx.server.db.scan({}, { limit: INFO_KEYSPACE_COUNT_MAX + 1 })) n++;
  if (n <= INFO_KEYSPACE_COUNT_MAX) return n;
  // Too many to count on every INFO: the engine's entry count is an upper bound.
  const st = ctx.server.db.stats();
  return Math.max(n, st.memtableEntries + st.sstableEntries);
}

async function infoSection(ctx: CommandContext, section: string): Promise<string | undefined> {
  const s = ctx.server;
  const m = s.metrics;
  const lines: [string, string | number][] = [];
  let title = section[0]!.toUpperCase() + section.slice(1);
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
    case "clients":
      lines.push(
        ["connected_clients", s.clients.size],
        ["maxclients", s.config.maxClients],
        ["blocked_clients", 0],
        ["tracking_clients", 0],
      );
      break;
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
        ["instantaneous_ops_per_sec", 0],
        ["total_net_input_bytes", m.netInputBytes],
        ["total_net_output_bytes", m.netOutputBytes],
        ["rejected_connections", m.connectionsRejected],
        ["expired_keys", 0],
        ["evicted_keys", 0],
        ["keyspace_hits", m.keyspaceHits],
        ["keyspace_misses", m.keyspaceMisses],
        ["total_error_replies", m.errorReplies],
        ["cityhall_protocol_errors", m.protocolErrors],
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
      const keys = await keyCountForInfo(ctx);
      if (keys > 0) lines.push(["db0", `keys=${keys},expires=0,avg_ttl=0`]);
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
    default:
      return undefined;
  }
  return `# ${title}\r\n` + lines.map(([k, v]) => `${k}:${v}\r\n`).join("");
}

async function info(ctx: CommandContext): Promise<void> {
  const asked = ctx.args.slice(1).map(lower);
  let sections: string[];
  if (asked.length === 0 || asked.includes("default")) sections = DEFAULT_SECTIONS;
  else if (asked.includes("all") || asked.includes("everything")) sections = ALL_SECTIONS;
  else sections = asked;
  const parts: string[] = [];
  for (const section of new Set(sections)) {
    const part = await infoSection(ctx, section);
    if (part !== undefined) parts.push(part);
  }
  ctx.out.verbatim(parts.join("\r\n"));
}

// ---------------------------------------------------------------- persistence and lifecycle

function time(ctx: CommandContext): void {
  const us = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  ctx.out.array(2);
  ctx.out.bulk(String(us / 1_000_000n));
  ctx.out.bulk(String(us % 1_000_000n));
}

async function flushdb(ctx: CommandContext): Promise<void> {
  const { args } = ctx;
  if (args.length > 2) throw new ReplyError(ERR_SYNTAX);
  if (args.length === 2 && !["async", "sync"].includes(lower(args[1]!))) {
    throw new ReplyError(ERR_SYNTAX);
  }
  await ctx.server.db.clear();
  ctx.server.logger("info", "database cleared", { client: ctx.client.id });
  ctx.out.ok();
}

async function save(ctx: CommandContext): Promise<void> {
  await ctx.server.db.flush();
  ctx.server.lastSaveMs = Date.now();
  ctx.out.ok();
}

function bgsave(ctx: CommandContext): void {
  if (ctx.args.length > 2 || (ctx.args.length === 2 && lower(ctx.args[1]!) !== "schedule")) {
    throw new ReplyError(ERR_SYNTAX);
  }
  const server = ctx.server;
  server.db.flush().then(
    () => {
      server.lastSaveMs = Date.now();
    },
    (err) => server.logger("error", "background save failed", { error: String(err) }),
  );
  ctx.out.simple("Background saving started");
}

async function shutdown(ctx: CommandContext): Promise<void> {
  let saveFirst = false;
  for (let i = 1; i < ctx.args.length; i++) {
    const opt = lower(ctx.args[i]!);
    if (opt === "save") saveFirst = true;
    else if (opt === "nosave" || opt === "now" || opt === "force") continue;
    else if (opt === "abort") throw new ReplyError("ERR No shutdown in progress.");
    else throw new ReplyError(ERR_SYNTAX);
  }
  const server = ctx.server;
  server.logger("warn", "SHUTDOWN requested", { client: ctx.client.id, save: saveFirst });
  if (saveFirst) await server.db.flush();
  // Like Redis, a successful SHUTDOWN answers nothing: the connection just closes.
  ctx.client.closeAfterReply = true;
  // Not awaited: shutting down waits for this very connection to finish.
  setTimeout(() => {
    server.shutdown({ save: saveFirst }).catch((err) =>
      server.logger("error", "shutdown failed", { error: String(err) })
    );
  }, 0);
}

async function wait(ctx: CommandContext): Promise<void> {
  const numReplicas = intArg(ctx.args[1]!);
  const timeout = intArg(ctx.args[2]!);
  if (timeout < 0n) throw new ReplyError("ERR timeout is negative");
  const role = replicationRoleOf(ctx.server.db);
  if (role === undefined) {
    // No replication: no replica can acknowledge.
    ctx.out.integer(0);
    return;
  }
  // Counts replicas that acknowledged every write up to the newest one (which includes this
  // client's last write).
  const ms = timeout > 2_147_483_647n ? 2_147_483_647 : Number(timeout);
  const want = numReplicas > 1_000_000n ? 1_000_000 : Math.max(0, Number(numReplicas));
  ctx.out.integer(await role.waitForAcks(want, ms));
}

const spec = specBuilder("server", NO_KEYS);

/** The server commands; COMMAND describes `table`, which must include these. */
export function serverCommands(table: Map<string, CommandSpec>): CommandSpec[] {
  return [
    spec(
      "command",
      -1,
      ["loading", "stale"],
      "2.8.13",
      "Returns detailed information about all commands.",
      commandCommand(table),
    ),
    spec(
      "config",
      -2,
      ["admin", "noscript", "loading", "stale"],
      "2.0.0",
      "A container for server configuration commands.",
      configCommand,
    ),
    spec(
      "info",
      -1,
      ["loading", "stale"],
      "1.0.0",
      "Returns information and statistics about the server.",
      info,
    ),
    spec("time", 1, ["loading", "stale", "fast"], "2.6.0", "Returns the server time.", time),
    spec("flushdb", -1, ["write"], "1.0.0", "Removes all keys from the current database.", flushdb),
    spec("flushall", -1, ["write"], "1.0.0", "Removes all keys from all databases.", flushdb),
    spec(
      "save",
      1,
      ["admin", "noscript"],
      "1.0.0",
      "Synchronously saves the database(s) to disk.",
      save,
    ),
    spec(
      "bgsave",
      -1,
      ["admin", "noscript"],
      "1.0.0",
      "Asynchronously saves the database(s) to disk.",
      bgsave,
    ),
    spec(
      "lastsave",
      1,
      ["loading", "stale", "fast"],
      "1.0.0",
      "Returns the Unix timestamp of the last successful save to disk.",
      (ctx) => ctx.out.integer(Math.floor(ctx.server.lastSaveMs / 1000)),
    ),
    spec(
      "shutdown",
      -1,
      ["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"],
      "1.0.0",
      "Synchronously saves the database(s) to disk and shuts down the Redis server.",
      shutdown,
    ),
    spec(
      "wait",
      3,
      ["noscript"],
      "3.0.0",
      "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
      wait,
    ),
  ];
}
