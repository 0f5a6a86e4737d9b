/**
 * Operator commands: SLOWLOG, LATENCY, MEMORY, OBJECT, RANDOMKEY, TOUCH.
 * ARCHITECTURE.md § "Operator commands".
 *
 * MEMORY USAGE answers what Redis 7.0 (jemalloc) would report for the same string: the value
 * object (16 bytes for an integer, the embstr allocation up to 44 bytes, else the object plus
 * its sds allocation), the key's sds allocation and a dict entry, with jemalloc's size classes —
 * not what CityHall's engine spends (see INFO cityhall for that). For a time series it is what
 * RedisTimeSeries reports (TS.INFO's memoryUsage) plus the key and its dict entry.
 *
 * Keys starting with byte 0xFF are CityHall's internal data (ARCHITECTURE.md § "Keyspace"):
 * MEMORY USAGE and OBJECT refuse them (their key is not where the dispatcher's key positions
 * look) and RANDOMKEY never descends into them.
 *
 * @module
 */

import {
  arityError,
  type CommandContext,
  type CommandSpec,
  echoArg,
  ERR_SYNTAX,
  lower,
  parseInt64,
  ReplyError,
  specBuilder,
  text,
} from "../context.ts";
import { notifyMiss } from "../notifications.ts";
import { compareBytes, hasPrefix } from "../../util/bytes.ts";
import { ERR_RESERVED_KEY, isInternalKey, USER_KEYS_END } from "../../keyspace/mod.ts";
import { KIND_META } from "../../util/entry.ts";
import { isMemberType } from "../../types/keyspace_ops.ts";
import { memberEncoding, memberMemoryUsage } from "../../types/introspect.ts";
import { TsError } from "../../timeseries/mod.ts";
import { countKeys } from "./keys.ts";

// ---------------------------------------------------------------- SLOWLOG

const SLOWLOG_HELP = [
  "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "GET [<count>]",
  "    Return the <count> newest entries (default 10, -1 for all).",
  "LEN",
  "    Return the number of entries in the slow log.",
  "RESET",
  "    Empty the slow log.",
  "HELP",
  "    Print this help.",
];

function slowlog(ctx: CommandContext): void {
  const { args, out } = ctx;
  const log = ctx.server.operator.slowlog;
  const sub = lower(args[1]!);
  const n = args.length;
  switch (sub) {
    case "get": {
      if (n > 3) throw arityError("slowlog|get");
      let count = 10;
      if (n === 3) {
        const v = parseInt64(args[2]!);
        if (v === undefined || v < -1n) {
          throw new ReplyError("ERR count should be greater than or equal to -1");
        }
        count = v === -1n ? Infinity : Number(v > 1_000_000n ? 1_000_000n : v);
      }
      const entries = log.entries.slice(0, count);
      out.array(entries.length);
      for (const e of entries) {
        out.array(6);
        out.integer(e.id);
        out.integer(e.timeS);
        out.integer(e.durationUs);
        out.array(e.args.length);
        for (const a of e.args) out.bulk(a);
        out.bulk(e.addr);
        out.bulk(e.name);
      }
      return;
    }
    case "len":
      if (n !== 2) throw arityError("slowlog|len");
      return out.integer(log.entries.length);
    case "reset":
      if (n !== 2) throw arityError("slowlog|reset");
      log.reset();
      return out.ok();
    case "help":
      if (n !== 2) throw arityError("slowlog|help");
      out.array(SLOWLOG_HELP.length);
      for (const line of SLOWLOG_HELP) out.simple(line);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try SLOWLOG HELP.`);
  }
}

// ---------------------------------------------------------------- LATENCY

const LATENCY_HELP = [
  "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "DOCTOR",
  "    Return a report of the latency events seen.",
  "GRAPH <event>",
  "    Return an ASCII graph of <event>'s latency samples.",
  "HISTORY <event>",
  "    Return the timestamp and latency of each sample of <event>.",
  "LATEST",
  "    Return the latest and the largest latency of every event.",
  "RESET [<event> ...]",
  "    Forget the samples of the events (all when none is given).",
  "HISTOGRAM [<command> ...]",
  "    Return the cumulative latency distribution of the commands (all when none is given).",
  "HELP",
  "    Print this help.",
];

function latencyGraph(ctx: CommandContext, event: string): string {
  const samples = ctx.server.operator.latency.history(event);
  if (samples.length === 0) {
    throw new ReplyError(`ERR No samples available for event '${event}'`);
  }
  const max = Math.max(...samples.map((s) => s.latencyMs), 1);
  const min = Math.min(...samples.map((s) => s.latencyMs));
  const rows = 8;
  const now = Math.floor(Date.now() / 1000);
  let s = `${event} - high ${max} ms, low ${min} ms (all time high ${max} ms)\n`;
  s += "-".repeat(80) + "\n";
  for (let r = rows; r >= 1; r--) {
    s += samples.map((x) => (x.latencyMs * rows >= r * max ? "#" : " ")).join("") + "\n";
  }
  s += samples.map((x) => String(Math.min(9, Math.floor((now - x.timeS) / 60)))).join("") + "\n";
  s += "(minutes ago per column, one column per sample)\n";
  return s;
}

function latencyDoctor(ctx: CommandContext): string {
  const threshold = ctx.server.config.latencyMonitorThresholdMs;
  if (threshold === 0) {
    return "Latency monitoring is off: CONFIG SET latency-monitor-threshold <milliseconds> " +
      "turns it on, recording every command at least that slow.\n";
  }
  const latest = ctx.server.operator.latency.latest();
  if (latest.length === 0) {
    return `No latency event at or above ${threshold} ms has been recorded.\n`;
  }
  let s = `Latency events at or above ${threshold} ms:\n\n`;
  for (const e of latest) {
    const h = ctx.server.operator.latency.history(e.event);
    const avg = Math.round(h.reduce((sum, x) => sum + x.latencyMs, 0) / h.length);
    s += `- ${e.event}: ${h.length} samples, average ${avg} ms, worst ${e.maxMs} ms, ` +
      `latest ${e.latestMs} ms at ${new Date(e.timeS * 1000).toISOString()}\n`;
  }
  s += "\nSlow commands are listed by SLOWLOG GET; `command` events come from commands that are " +
    "not flagged fast (KEYS, SCAN, FLUSHDB, large MGET/MSET...).\n";
  return s;
}

function latencyHistogram(ctx: CommandContext): void {
  const out = ctx.out;
  const all = ctx.server.metrics.commands;
  // As Redis 7: a container command's calls are counted per subcommand (`config|get`), and
  // naming the container lists each of its subcommands that has calls.
  const names = ctx.args.length > 2
    ? [
      ...new Set(
        ctx.args.slice(2).map(lower).flatMap((n) =>
          [...all.keys()].filter((k) => k === n || (!n.includes("|") && k.startsWith(n + "|")))
        ),
      ),
    ]
    : [...all.keys()];
  out.map(names.length);
  for (const name of names) {
    const st = all.get(name)!;
    out.bulk(name);
    out.map(2);
    out.bulk("calls");
    out.integer(st.calls);
    out.bulk("histogram_usec");
    const buckets = st.latency.cumulative().filter((b) => Number.isFinite(b.le));
    out.map(buckets.length);
    for (const b of buckets) {
      out.integer(Math.round(b.le * 1e6));
      out.integer(b.count);
    }
  }
}

function latency(ctx: CommandContext): void {
  const { args, out } = ctx;
  const monitor = ctx.server.operator.latency;
  const sub = lower(args[1]!);
  const n = args.length;
  switch (sub) {
    case "latest": {
      if (n !== 2) throw arityError("latency|latest");
      const latest = monitor.latest();
      out.array(latest.length);
      for (const e of latest) {
        out.array(4);
        out.bulk(e.event);
        out.integer(e.timeS);
        out.integer(e.latestMs);
        out.integer(e.maxMs);
      }
      return;
    }
    case "history": {
      if (n !== 3) throw arityError("latency|history");
      const samples = monitor.history(text(args[2]!));
      out.array(samples.length);
      for (const s of samples) {
        out.array(2);
        out.integer(s.timeS);
        out.integer(s.latencyMs);
      }
      return;
    }
    case "reset":
      return out.integer(monitor.reset(args.slice(2).map(text)));
    case "graph":
      if (n !== 3) throw arityError("latency|graph");
      return out.verbatim(latencyGraph(ctx, text(args[2]!)));
    case "doctor":
      if (n !== 2) throw arityError("latency|doctor");
      return out.verbatim(latencyDoctor(ctx));
    case "histogram":
      return latencyHistogram(ctx);
    case "help":
      if (n !== 2) throw arityError("latency|help");
      out.array(LATENCY_HELP.length);
      for (const line of LATENCY_HELP) out.simple(line);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try LATENCY HELP.`);
  }
}

// ---------------------------------------------------------------- MEMORY and OBJECT

/** jemalloc's size class of an allocation of `n` bytes (4 classes per doubling past 64). */
export function jemallocSize(n: number): number {
  if (n <= 8) return 8;
  if (n <= 128) return Math.ceil(n / 16) * 16;
  const step = 2 ** (Math.ceil(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

/** Allocation of an sds string of `length` bytes (header by length class, plus the NUL). */
function sdsSize(length: number): number {
  const header = length < 32 ? 1 : length < 256 ? 3 : length < 65536 ? 5 : 9;
  return jemallocSize(header + length + 1);
}

/** The encoding Redis would give this string value: int, embstr or raw. */
export function stringEncoding(value: Uint8Array): "int" | "embstr" | "raw" {
  if (value.length <= 20 && parseInt64(value) !== undefined) return "int";
  return value.length <= 44 ? "embstr" : "raw";
}

/**
 * MEMORY USAGE of a time series: TS.INFO's memoryUsage (what RedisTimeSeries' own memory
 * callback reports to Redis), plus the key's sds allocation and a dict entry as for a string.
 */
function seriesMemoryUsage(ctx: CommandContext, key: Uint8Array): number {
  let bytes: number;
  try {
    bytes = ctx.server.timeseries.info(key).memoryUsage;
  } catch (err) {
    if (err instanceof TsError) throw new ReplyError(err.reply);
    throw err;
  }
  return bytes + sdsSize(key.length) + 24;
}

/** MEMORY USAGE of a string key, as Redis 7.0 would report it. */
export function memoryUsage(key: Uint8Array, value: Uint8Array): number {
  const enc = stringEncoding(value);
  const robj = 16;
  const valueBytes = enc === "int"
    ? robj
    : enc === "embstr"
    ? jemallocSize(robj + 3 + value.length + 1)
    : robj + sdsSize(value.length);
  const dictEntry = 24;
  return valueBytes + sdsSize(key.length) + dictEntry;
}

const MEMORY_HELP = [
  "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "DOCTOR",
  "    Return memory problems reports.",
  "MALLOC-STATS",
  "    Return internal statistics report from the memory allocator.",
  "PURGE",
  "    Attempt to purge dirty pages for reclamation by the allocator.",
  "STATS",
  "    Return information about the memory usage of the server.",
  "USAGE <key> [SAMPLES <count>]",
  "    Return memory in bytes used by <key> and its value, as Redis would store it.",
  "HELP",
  "    Print this help.",
];

async function memoryStats(ctx: CommandContext): Promise<void> {
  const mem = Deno.memoryUsage();
  const st = ctx.server.db.stats();
  const keys = await countKeys(ctx);
  const allocated = mem.heapUsed + mem.external;
  let clients = 0;
  for (const c of ctx.server.clients.values()) {
    clients += c.outputPendingBytes + (c.pushQueue?.bytes ?? 0) + (c.multi?.bytes ?? 0);
  }
  const overhead = clients + ctx.server.pubsub.nameBytes;
  const dataset = Math.max(0, allocated - overhead);
  const fields: [string, number | string][] = [
    ["peak.allocated", Math.max(allocated, mem.heapTotal)],
    ["total.allocated", allocated],
    ["startup.allocated", 0],
    ["replication.backlog", 0],
    ["clients.slaves", 0],
    ["clients.normal", clients],
    ["aof.buffer", 0],
    ["overhead.total", overhead],
    ["keys.count", keys],
    ["keys.bytes-per-key", keys === 0 ? 0 : Math.floor(dataset / keys)],
    ["dataset.bytes", dataset],
    ["dataset.percentage", allocated === 0 ? "0" : ((100 * dataset) / allocated).toFixed(4)],
    ["rss-overhead.bytes", mem.rss - allocated],
    ["cityhall.memtable.bytes", st.memtableSizeBytes],
    ["cityhall.sstable.bytes", st.sstableSizeBytes],
    ["cityhall.wal.bytes", st.walSizeBytes],
  ];
  ctx.out.map(fields.length);
  for (const [k, v] of fields) {
    ctx.out.bulk(k);
    if (typeof v === "number") ctx.out.integer(v);
    else ctx.out.double(Number(v));
  }
}

function memoryDoctor(ctx: CommandContext): string {
  const mem = Deno.memoryUsage();
  const used = mem.heapUsed + mem.external;
  let s = `RSS ${mem.rss} bytes, JavaScript heap ${mem.heapUsed} of ${mem.heapTotal} bytes, ` +
    `external ${mem.external} bytes.\n`;
  let worst = 0;
  for (const c of ctx.server.clients.values()) {
    worst = Math.max(worst, c.outputPendingBytes + (c.pushQueue?.bytes ?? 0));
  }
  if (worst > 0) s += `The largest pending client output is ${worst} bytes.\n`;
  if (mem.rss > 4 * used && mem.rss > 64 * 1024 * 1024) {
    s += "RSS is over four times the memory in use: most of it is the engine's caches and " +
      "memory the runtime has not returned yet.\n";
  } else s += "No memory problem detected.\n";
  return s;
}

function memory(ctx: CommandContext): void | Promise<void> {
  const { args, out } = ctx;
  const sub = lower(args[1]!);
  const n = args.length;
  switch (sub) {
    case "usage": {
      if (n < 3) throw arityError("memory|usage");
      for (let i = 3; i < n; i++) {
        if (lower(args[i]!) === "samples" && i + 1 < n) {
          if (parseInt64(args[++i]!) === undefined) {
            throw new ReplyError("ERR value is not an integer or out of range");
          }
        } else throw new ReplyError(ERR_SYNTAX);
      }
      const key = args[2]!;
      if (isInternalKey(key)) throw new ReplyError(ERR_RESERVED_KEY);
      const e = ctx.server.db.getEntry(key);
      if (e === undefined) return out.null();
      if (e.kind === KIND_META && isMemberType(e.value)) {
        return out.integer(memberMemoryUsage(ctx.server.db, key, e));
      }
      if (e.kind === KIND_META) return out.integer(seriesMemoryUsage(ctx, key));
      return out.integer(memoryUsage(key, e.value));
    }
    case "stats":
      if (n !== 2) throw arityError("memory|stats");
      return memoryStats(ctx);
    case "doctor":
      if (n !== 2) throw arityError("memory|doctor");
      return out.verbatim(memoryDoctor(ctx));
    case "malloc-stats":
      if (n !== 2) throw arityError("memory|malloc-stats");
      return out.verbatim("Stats not supported for the current allocator\n");
    case "purge":
      if (n !== 2) throw arityError("memory|purge");
      return out.ok();
    case "help":
      if (n !== 2) throw arityError("memory|help");
      out.array(MEMORY_HELP.length);
      for (const line of MEMORY_HELP) out.simple(line);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try MEMORY HELP.`);
  }
}

const OBJECT_HELP = [
  "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "ENCODING <key>",
  "    Return the kind of internal representation Redis would use for <key>'s value.",
  "FREQ <key>",
  "    Return the access frequency index of <key> (needs an LFU maxmemory-policy).",
  "IDLETIME <key>",
  "    Return the idle time of <key> (access times are not kept: always 0).",
  "REFCOUNT <key>",
  "    Return the number of references of the value of <key> (always 1).",
  "HELP",
  "    Print this help.",
];

function object(ctx: CommandContext): void {
  const { args, out } = ctx;
  const sub = lower(args[1]!);
  if (sub === "help") {
    if (args.length !== 2) throw arityError("object|help");
    out.array(OBJECT_HELP.length);
    for (const line of OBJECT_HELP) out.simple(line);
    return;
  }
  if (!["encoding", "freq", "idletime", "refcount"].includes(sub)) {
    throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try OBJECT HELP.`);
  }
  if (args.length !== 3) throw arityError(`object|${sub}`);
  if (isInternalKey(args[2]!)) throw new ReplyError(ERR_RESERVED_KEY);
  const e = ctx.server.db.getEntry(args[2]!);
  if (e === undefined) {
    notifyMiss(ctx, args[2]!);
    return out.null();
  }
  switch (sub) {
    case "encoding":
      // A module type's value (a time series) is a "raw" object in Redis.
      if (e.kind === KIND_META && isMemberType(e.value)) {
        return out.bulk(memberEncoding(ctx.server.db, e, ctx.server.config.typeEncoding));
      }
      return out.bulk(e.kind === KIND_META ? "raw" : stringEncoding(e.value));
    case "freq":
      // As Redis with a non-LFU policy: the only policy here is noeviction.
      throw new ReplyError(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please " +
          "note that when switching between policies at runtime LRU and LFU data will take " +
          "some time to adjust.",
      );
    case "idletime":
      return out.integer(0);
    default:
      return out.integer(1);
  }
}

// ---------------------------------------------------------------- RANDOMKEY and TOUCH

/** The first (or last) user key of `range`; never an internal key (`0xFF …`). */
async function firstKey(
  ctx: CommandContext,
  range: { prefix: Uint8Array } | { start: Uint8Array },
  reverse = false,
): Promise<Uint8Array | undefined> {
  // Only the empty prefix and a start past the user keys could reach 0xFF (a non-empty prefix
  // comes from a user key, so it never starts with 0xFF): bound both by the user range.
  const bounded = "prefix" in range
    ? range.prefix.length === 0 ? { end: USER_KEYS_END } : range
    : { start: range.start, end: USER_KEYS_END };
  for await (const [key] of ctx.server.db.scan(bounded, { limit: 1, reverse })) return key;
  return undefined;
}

/** Most bytes of a key RANDOMKEY descends through before it takes the next key. */
const RANDOMKEY_DEPTH_MAX = 64;

/**
 * A random key: a descent through the key trie, at each byte picking uniformly among the byte
 * values between the smallest and the largest key under the current prefix, then following the
 * first existing branch at or after it. Random, not uniform over keys (like Redis's, which is
 * only fair per hash bucket); two range reads per byte of the chosen key.
 */
async function randomkey(ctx: CommandContext): Promise<void> {
  let prefix: Uint8Array = new Uint8Array(0);
  for (let depth = 0; depth < RANDOMKEY_DEPTH_MAX; depth++) {
    const first = await firstKey(ctx, { prefix });
    const last = await firstKey(ctx, { prefix }, true);
    if (first === undefined || last === undefined) break;
    if (compareBytes(first, last) === 0) return ctx.out.bulk(first);
    const p = prefix.length;
    // `first` may be the prefix itself, a candidate of its own (-1 below).
    const lo = first.length > p ? first[p]! : -1;
    const hi = last[p]!;
    const pick = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (pick < 0) return ctx.out.bulk(first);
    const probe = new Uint8Array(p + 1);
    probe.set(prefix);
    probe[p] = pick;
    const next = await firstKey(ctx, { start: probe });
    if (next === undefined || !hasPrefix(next, prefix)) return ctx.out.bulk(last);
    prefix = next.subarray(0, p + 1);
  }
  const any = await firstKey(ctx, { prefix });
  if (any === undefined) return ctx.out.null();
  ctx.out.bulk(any);
}

function touch(ctx: CommandContext): void {
  const db = ctx.server.db;
  let n = 0;
  for (let i = 1; i < ctx.args.length; i++) {
    if (db.getEntry(ctx.args[i]!) !== undefined) n++;
    else notifyMiss(ctx, ctx.args[i]!);
  }
  ctx.out.integer(n);
}

const server = specBuilder("server", { firstKey: 0, lastKey: 0, step: 0 });
const generic = specBuilder("generic", { firstKey: 0, lastKey: 0, step: 0 });

/** SLOWLOG LATENCY MEMORY OBJECT RANDOMKEY TOUCH. */
export const INTROSPECTION_COMMANDS: CommandSpec[] = [
  {
    ...server("slowlog", -2, [], "2.2.12", "A container for slow log commands.", slowlog),
    subcommands: { get: -2, len: 2, reset: 2, help: 2 },
  },
  {
    ...server(
      "latency",
      -2,
      [],
      "2.8.13",
      "A container for latency diagnostics commands.",
      latency,
    ),
    subcommands: {
      latest: 2,
      history: 3,
      reset: -2,
      graph: 3,
      doctor: 2,
      histogram: -2,
      help: 2,
    },
  },
  {
    ...server("memory", -2, [], "4.0.0", "A container for memory diagnostics commands.", memory),
    subcommands: { usage: -3, stats: 2, doctor: 2, "malloc-stats": 2, purge: 2, help: 2 },
  },
  {
    ...generic("object", -2, [], "2.2.3", "A container for object introspection commands.", object),
    subcommands: { encoding: 3, freq: 3, idletime: 3, refcount: 3, help: 2 },
  },
  generic(
    "randomkey",
    1,
    ["readonly"],
    "1.0.0",
    "Returns a random key name from the database.",
    randomkey,
  ),
  {
    ...generic(
      "touch",
      -2,
      ["readonly", "fast"],
      "3.2.1",
      "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
      touch,
    ),
    firstKey: 1,
    lastKey: -1,
    step: 1,
  },
];
