/**
 * Server commands: TIME FLUSHDB FLUSHALL SAVE BGSAVE LASTSAVE SHUTDOWN WAIT MODULE, and the
 * table entries of COMMAND (`command_info.ts`), CONFIG (`config.ts`) and INFO (`info.ts`), whose
 * handlers load with their first call.
 *
 * @module
 */

import {
  arityError,
  type CommandContext,
  type CommandSpec,
  echoArg,
  ERR_SYNTAX,
  intArg,
  lower,
  NO_KEYS,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { replicationRoleOf } from "../../replication/hooks.ts";
import { TxnContext } from "../transaction.ts";
import { handlerOnFirstUse } from "./_lazy_handler.ts";

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
  // Client-side caching: the deletes invalidate nothing one by one; once they are done every
  // tracking client drops its whole cache (a null invalidation).
  const tracking = ctx.server.tracking;
  tracking.flushStarted();
  try {
    await ctx.server.db.clear();
  } finally {
    tracking.flushed();
  }
  // Series lost their keys: drop their in-memory state now, not at the next maintenance round.
  ctx.server.timeseriesIfOpen?.collectAllGarbage();
  // The engine deleted every key itself: no tracked TTL may later be announced as expired.
  if (!(ctx instanceof TxnContext)) ctx.server.notifier.tracker.forgetAll();
  ctx.server.logger("info", "database cleared", { client: ctx.client.id });
  ctx.out.ok();
}

async function save(ctx: CommandContext): Promise<void> {
  // Head chunks live in memory and the WAL: persist them first, so that afterwards everything
  // is in SSTables.
  const changes = ctx.server.changesSinceSave;
  await ctx.server.timeseriesIfOpen?.persistAll();
  await ctx.server.db.flush();
  ctx.server.lastSaveMs = Date.now();
  ctx.server.changesSinceSave -= changes;
  ctx.out.ok();
}

function bgsave(ctx: CommandContext): void {
  if (ctx.args.length > 2 || (ctx.args.length === 2 && lower(ctx.args[1]!) !== "schedule")) {
    throw new ReplyError(ERR_SYNTAX);
  }
  const server = ctx.server;
  const changes = server.changesSinceSave;
  Promise.resolve(server.timeseriesIfOpen?.persistAll()).then(() => server.db.flush()).then(
    () => {
      server.lastSaveMs = Date.now();
      server.changesSinceSave -= changes;
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
  if (saveFirst) {
    await server.timeseriesIfOpen?.persistAll();
    await server.db.flush();
  }
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

// ---------------------------------------------------------------- MODULE

/**
 * The RedisTimeSeries version whose commands and replies CityHall follows (1.8), as MODULE LIST
 * reports it: tools such as RedisInsight look for a `timeseries` module before they offer their
 * time-series views. CityHall loads no modules; its time series are built in.
 */
const TIMESERIES_MODULE_VERSION = 10800;

function moduleCommand(ctx: CommandContext): void {
  const { args, out } = ctx;
  const sub = lower(args[1]!);
  switch (sub) {
    case "list":
      if (args.length !== 2) throw arityError("module|list");
      out.array(1);
      out.map(4);
      out.bulk("name");
      out.bulk("timeseries");
      out.bulk("ver");
      out.integer(TIMESERIES_MODULE_VERSION);
      out.bulk("path");
      out.bulk("built-in");
      out.bulk("args");
      out.array(0);
      return;
    case "load":
    case "loadex":
      if (args.length < 3) throw arityError(`module|${sub}`);
      throw new ReplyError(
        "ERR Modules cannot be loaded: CityHall has no module support (its time series are built in)",
      );
    case "unload":
      if (args.length !== 3) throw arityError("module|unload");
      throw new ReplyError(
        "ERR Error unloading module: the time series are built into CityHall and cannot be unloaded",
      );
    case "help":
      if (args.length !== 2) throw arityError("module|help");
      out.array(3);
      out.simple("MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
      out.simple("LIST");
      out.simple("    Return a list of loaded modules (the built-in time series).");
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try MODULE HELP.`);
  }
}

const spec = specBuilder("server", NO_KEYS);
/** The handler of a command whose module is not loaded yet (replaced by handlerOnFirstUse). */
const notLoaded = () => {};

/** The server commands; COMMAND describes `table`, which must include these. */
export function serverCommands(table: Map<string, CommandSpec>): CommandSpec[] {
  return [
    // COMMAND, CONFIG and INFO load their modules with their first call (_lazy_handler.ts).
    handlerOnFirstUse(
      {
        ...spec(
          "command",
          -1,
          ["loading", "stale"],
          "2.8.13",
          "Returns detailed information about all commands.",
          notLoaded,
        ),
        subcommands: { count: 2, list: -2, info: -2, docs: -2, getkeys: -4, help: 2 },
      },
      async () => (await import("./command_info.ts")).commandCommand(table),
    ),
    handlerOnFirstUse(
      {
        ...spec(
          "config",
          -2,
          ["admin", "noscript", "loading", "stale"],
          "2.0.0",
          "A container for server configuration commands.",
          notLoaded,
        ),
        subcommands: { get: -3, set: -4, resetstat: 2, rewrite: 2, help: 2 },
      },
      async () => (await import("./config.ts")).configCommand,
    ),
    {
      ...spec(
        "module",
        -2,
        ["admin", "noscript"],
        "4.0.0",
        "A container for module commands.",
        moduleCommand,
      ),
      subcommands: { list: 2, load: -3, loadex: -3, unload: 3, help: 2 },
    },
    handlerOnFirstUse(
      spec(
        "info",
        -1,
        ["loading", "stale"],
        "1.0.0",
        "Returns information and statistics about the server.",
        notLoaded,
      ),
      async () => (await import("./info.ts")).info,
    ),
    spec("time", 1, ["loading", "stale", "fast"], "2.6.0", "Returns the server time.", time),
    spec("flushdb", -1, ["write"], "1.0.0", "Removes all keys from the current database.", flushdb),
    spec("flushall", -1, ["write"], "1.0.0", "Removes all keys from all databases.", flushdb),
    spec(
      "save",
      1,
      ["admin", "noscript", "no_multi"],
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
