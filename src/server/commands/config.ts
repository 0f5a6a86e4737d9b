/**
 * CONFIG GET/SET/RESETSTAT/REWRITE/HELP: the Redis parameters clients and tools read, and the
 * run-time settings of § "Client deadlines and caps" that CONFIG SET may change.
 * ARCHITECTURE.md § "Commands" lists them.
 *
 * @module
 */

import {
  arityError,
  type CommandContext,
  echoArg,
  ERR_SYNTAX,
  lower,
  parseInt64,
  ReplyError,
  text,
} from "../context.ts";
import { globMatch } from "../glob.ts";
import {
  TYPE_ENCODING_PARAMS,
  type TypeEncodingConfig,
  type TypeEncodingParam,
} from "../../types/introspect.ts";
import { formatNotifyFlags, NOTIFY_FLAGS_ERROR, parseNotifyFlags } from "../notifications.ts";
import {
  CLIENTS_MAX_LIMIT,
  RESP_BULK_SIZE_BYTES_MAX,
  RESP_QUERY_BUFFER_BYTES_MAX,
  SERVER_HZ_MAX,
  SLOWLOG_LEN_MAX,
  TRACKING_TABLE_KEYS_MAX,
} from "../../limits.ts";

const encoder = new TextEncoder();

function appendFsync(syncMode: string): string {
  return syncMode === "always" ? "always" : syncMode === "interval" ? "everysec" : "no";
}

/** `client-output-buffer-limit` as Redis prints it (no `slave` clients here). */
function outputLimitText(ctx: CommandContext): string {
  const c = ctx.server.config;
  return `normal ${c.outputHardLimitBytes} ${c.outputSoftLimitBytes} ${c.outputSoftLimitS} ` +
    `slave 0 0 0 pubsub ${c.pubsubHardLimitBytes} ${c.pubsubSoftLimitBytes} ${c.pubsubSoftLimitS}`;
}

/**
 * Integer parameters CONFIG SET may change: name -> setting and accepted range. `llong` ones take
 * any int64 up to Redis's LLONG_MAX (and say so in the error), kept at most 2^53 - 1.
 */
const INT_PARAMS: Record<
  string,
  { key: IntSetting; min: number; max: number; llong?: true; clamp?: [number, number] }
> = {
  maxclients: { key: "maxClients", min: 1, max: CLIENTS_MAX_LIMIT },
  timeout: { key: "idleTimeoutS", min: 0, max: 2147483647 },
  "cityhall-maxclients-unauthenticated": {
    key: "maxUnauthenticatedClients",
    min: 1,
    max: CLIENTS_MAX_LIMIT,
  },
  "cityhall-auth-timeout": { key: "authTimeoutS", min: 0, max: 2147483647 },
  "cityhall-request-timeout": { key: "requestTimeoutS", min: 0, max: 2147483647 },
  "cityhall-output-drain-timeout": { key: "outputDrainTimeoutS", min: 0, max: 2147483647 },
  "slowlog-log-slower-than": {
    key: "slowlogLogSlowerThanUs",
    min: -1,
    max: Number.MAX_SAFE_INTEGER,
    llong: true,
  },
  "slowlog-max-len": { key: "slowlogMaxLen", min: 0, max: SLOWLOG_LEN_MAX },
  // Redis takes 0 ... INT_MAX and runs at 1 ... 500 (CONFIG GET shows the clamped value).
  hz: { key: "hz", min: 0, max: 2147483647, clamp: [1, SERVER_HZ_MAX] },
  "latency-monitor-threshold": {
    key: "latencyMonitorThresholdMs",
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    llong: true,
  },
};

type IntSetting =
  | "maxClients"
  | "idleTimeoutS"
  | "maxUnauthenticatedClients"
  | "authTimeoutS"
  | "requestTimeoutS"
  | "outputDrainTimeoutS"
  | "slowlogLogSlowerThanUs"
  | "slowlogMaxLen"
  | "latencyMonitorThresholdMs"
  | "hz";

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
    ["client-output-buffer-limit", outputLimitText(ctx)],
    ["maxmemory", "0"],
    ["maxmemory-policy", "noeviction"],
    // The token is never shown.
    ["requirepass", ""],
    ["cityhall-maxclients-unauthenticated", String(s.config.maxUnauthenticatedClients)],
    ["cityhall-auth-timeout", String(s.config.authTimeoutS)],
    ["cityhall-request-timeout", String(s.config.requestTimeoutS)],
    ["cityhall-output-drain-timeout", String(s.config.outputDrainTimeoutS)],
    ["notify-keyspace-events", formatNotifyFlags(s.notifier.flags)],
    ["slowlog-log-slower-than", String(s.config.slowlogLogSlowerThanUs)],
    ["slowlog-max-len", String(s.config.slowlogMaxLen)],
    ["latency-monitor-threshold", String(s.config.latencyMonitorThresholdMs)],
    ["hz", String(s.config.hz)],
    ["tracking-table-max-keys", String(s.tracking.maxKeys)],
    ...Object.entries(TYPE_ENCODING_PARAMS).map(([name, p]): [string, string] => [
      name,
      String(s.config.typeEncoding[p.key]),
    ]),
  ];
}

/** Parses a Redis memory amount (`64mb`, `1gb`, `100k`, `4096`); `undefined` when not one. */
export function parseMemory(word: string): number | undefined {
  const m = /^(\d{1,15})(k|kb|m|mb|g|gb)?$/i.exec(word);
  if (m === null) return undefined;
  const unit = (m[2] ?? "").toLowerCase();
  const mul: Record<string, number> = {
    "": 1,
    k: 1000,
    kb: 1024,
    m: 1000 ** 2,
    mb: 1024 ** 2,
    g: 1000 ** 3,
    gb: 1024 ** 3,
  };
  const v = Number(m[1]) * mul[unit]!;
  return Number.isSafeInteger(v) ? v : undefined;
}

interface OutputLimit {
  hard: number;
  soft: number;
  softS: number;
}

/**
 * The `normal` and `pubsub` classes of a `client-output-buffer-limit` value (`<class> <hard>
 * <soft> <secs>` groups, Redis style); `slave` is accepted and ignored (no such clients here).
 */
function parseOutputLimit(
  value: string,
): { normal?: OutputLimit; pubsub?: OutputLimit } | "invalid" {
  const words = value.trim().split(/\s+/);
  if (words.length % 4 !== 0) return "invalid";
  const parsed: { normal?: OutputLimit; pubsub?: OutputLimit } = {};
  for (let i = 0; i < words.length; i += 4) {
    const cls = words[i]!.toLowerCase();
    if (!["normal", "slave", "replica", "pubsub"].includes(cls)) return "invalid";
    const hard = parseMemory(words[i + 1]!);
    const soft = parseMemory(words[i + 2]!);
    const softS = /^\d{1,9}$/.test(words[i + 3]!) ? Number(words[i + 3]) : undefined;
    if (hard === undefined || soft === undefined || softS === undefined) return "invalid";
    if (cls === "normal") parsed.normal = { hard, soft, softS };
    if (cls === "pubsub") parsed.pubsub = { hard, soft, softS };
  }
  return parsed;
}

/** A `save` value Redis accepts: empty, or pairs of non-negative integers. */
function validSaveParams(value: string): boolean {
  const words = value.trim() === "" ? [] : value.trim().split(/\s+/);
  return words.length % 2 === 0 && words.every((w) => /^\d{1,18}$/.test(w));
}

/** The value of an encoding threshold, checked against the parameter's range. */
function encodingValue(name: string, p: TypeEncodingParam, arg: Uint8Array): number {
  const memory = p.memory ? parseMemory(text(arg)) : undefined;
  const v = memory !== undefined ? BigInt(memory) : parseInt64(arg);
  if (v === undefined) throw configSetError(name, "argument couldn't be parsed into an integer");
  if (v < p.min || v > p.max) {
    throw configSetError(name, `argument must be between ${p.min} and ${p.max} inclusive`);
  }
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** `wanted` means `current`: the same words (any case), or the same memory amount. */
function sameConfigValue(current: string, wanted: string): boolean {
  if (current.toLowerCase() === wanted.trim().toLowerCase()) return true;
  const a = parseMemory(current);
  return a !== undefined && a === parseMemory(wanted.trim());
}

function configSetError(param: string, reason: string): ReplyError {
  return new ReplyError(
    `ERR CONFIG SET failed (possibly related to argument '${param}') - ${reason}`,
  );
}

/** CONFIG <subcommand> .... */
export function configCommand(ctx: CommandContext): void {
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
      const updates: Partial<Omit<typeof server.config, "typeEncoding">> = {};
      let notifyFlags: number | undefined;
      let trackingMaxKeys: number | undefined;
      const encoding: Partial<TypeEncodingConfig> = {};
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
        if (name === "client-output-buffer-limit") {
          const limit = parseOutputLimit(text(args[i + 1]!));
          if (limit === "invalid") {
            throw configSetError(name, "Invalid client-output-buffer-limit value");
          }
          if (limit.normal !== undefined) {
            updates.outputHardLimitBytes = limit.normal.hard;
            updates.outputSoftLimitBytes = limit.normal.soft;
            updates.outputSoftLimitS = limit.normal.softS;
          }
          if (limit.pubsub !== undefined) {
            updates.pubsubHardLimitBytes = limit.pubsub.hard;
            updates.pubsubSoftLimitBytes = limit.pubsub.soft;
            updates.pubsubSoftLimitS = limit.pubsub.softS;
          }
          continue;
        }
        if (name === "notify-keyspace-events") {
          const flags = parseNotifyFlags(text(args[i + 1]!));
          if (flags === undefined) throw configSetError(name, NOTIFY_FLAGS_ERROR);
          notifyFlags = flags;
          continue;
        }
        if (name === "tracking-table-max-keys") {
          const v = parseInt64(args[i + 1]!);
          if (v === undefined) {
            throw configSetError(name, "argument couldn't be parsed into an integer");
          }
          if (v < 0n || v > BigInt(TRACKING_TABLE_KEYS_MAX)) {
            throw configSetError(
              name,
              `argument must be between 0 and ${TRACKING_TABLE_KEYS_MAX} inclusive`,
            );
          }
          trackingMaxKeys = Number(v);
          continue;
        }
        if (name === "save") {
          // Checked as Redis does, then ignored: every write is in the WAL already.
          if (!validSaveParams(text(args[i + 1]!))) {
            throw configSetError(name, "Invalid save parameters");
          }
          continue;
        }
        const encodingParam = TYPE_ENCODING_PARAMS[name];
        if (encodingParam !== undefined) {
          encoding[encodingParam.key] = encodingValue(name, encodingParam, args[i + 1]!);
          continue;
        }
        const param = INT_PARAMS[name];
        if (param === undefined) {
          // A parameter fixed at start may be "set" to the value it has: nothing changes, and
          // tools that re-apply a whole configuration (or Redis's CONFIG sanity test) succeed.
          // requirepass never: CONFIG GET does not show the token, so equality is unknown.
          const current = name === "requirepass"
            ? undefined
            : configParams(ctx).find(([n]) => n === name)?.[1];
          if (current !== undefined && sameConfigValue(current, text(args[i + 1]!))) continue;
          throw configSetError(name, "can't set immutable config");
        }
        const v = parseInt64(args[i + 1]!);
        if (v === undefined) {
          throw configSetError(name, "argument couldn't be parsed into an integer");
        }
        const max = param.llong ? 2n ** 63n - 1n : BigInt(param.max);
        if (v < BigInt(param.min) || v > max) {
          throw configSetError(name, `argument must be between ${param.min} and ${max} inclusive`);
        }
        const n = Math.min(Number(v), param.max);
        updates[param.key] = param.clamp
          ? Math.min(Math.max(n, param.clamp[0]), param.clamp[1])
          : n;
      }
      // All checked first: a bad parameter changes nothing, as in Redis.
      Object.assign(server.config, updates);
      Object.assign(server.config.typeEncoding, encoding);
      if (notifyFlags !== undefined) server.notifier.flags = notifyFlags;
      if (trackingMaxKeys !== undefined) {
        server.tracking.maxKeys = trackingMaxKeys;
        // Redis evicts at its next cron tick or command; here at once, with the invalidations.
        server.tracking.evictOverLimit();
      }
      server.logger("info", "config changed", {
        ...updates,
        ...encoding,
        ...(trackingMaxKeys === undefined ? {} : { tracking_table_max_keys: trackingMaxKeys }),
        ...(notifyFlags === undefined
          ? {}
          : { notify_keyspace_events: formatNotifyFlags(notifyFlags) }),
      });
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
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try CONFIG HELP.`);
  }
}
