/**
 * CLIENT (ID GETNAME SETNAME SETINFO INFO LIST KILL PAUSE UNPAUSE UNBLOCK REPLY NO-EVICT NO-TOUCH
 * HELP; TRACKING CACHING GETREDIR TRACKINGINFO in `client_tracking.ts`), RESET and MONITOR, with Redis 7 replies and error strings. ARCHITECTURE.md
 * § "Operator commands". Their table entries are in `client_commands.ts`; this module loads
 * with the first of them.
 *
 * @module
 */

import {
  arityError,
  type Client,
  type CommandContext,
  echoArg,
  ERR_NOT_INTEGER,
  ERR_SYNTAX,
  lower,
  parseInt64,
  ReplyError,
  text,
} from "../context.ts";
import { CLIENT_NAME_BYTES_MAX } from "../../limits.ts";
import { CLIENT_SUBCOMMANDS } from "./client_commands.ts";
import { TxnContext } from "../transaction.ts";
import { checkClientName, validName } from "./connection.ts";
import { isBlockedClient, registryFor } from "./blocking_registry.ts";
import {
  clientCaching,
  clientGetRedir,
  clientTracking,
  clientTrackingInfo,
} from "./client_tracking.ts";

/** Client type names as CLIENT KILL/LIST TYPE take them; a monitor counts as `normal` (Redis). */
function clientType(c: Client): "normal" | "pubsub" {
  return c.subscriptions !== undefined ? "pubsub" : "normal";
}

/** A TYPE argument as Redis's `getClientTypeByName`, or `undefined` when unknown. */
function typeByName(name: string): string | undefined {
  if (name === "normal" || name === "pubsub" || name === "master") return name;
  if (name === "replica" || name === "slave") return "replica";
  return undefined;
}

/** CLIENT LIST flags in Redis's order (`O` monitor, `P` pubsub, `x` multi ..., `N` none). */
function clientFlags(c: Client): string {
  let f = "";
  if (c.monitor) f += "O";
  if (c.subscriptions !== undefined) f += "P";
  if (c.multi !== undefined) f += "x";
  if (isBlockedClient(c)) f += "b";
  if (c.tracking !== undefined) f += "t";
  if (c.tracking?.brokenRedirect) f += "R";
  if (c.tracking?.bcast) f += "B";
  if (c.watchTouched) f += "d";
  if (c.closeAfterReply) f += "c";
  if (c.noEvict) f += "e";
  if (c.noTouch) f += "T";
  return f === "" ? "N" : f;
}

/**
 * The bytes of `args` as a RESP array of bulk strings: the query buffer Redis reports for the
 * client running the command (it keeps the command there while it runs).
 */
function respBytes(args: readonly Uint8Array[]): number {
  let n = 3 + String(args.length).length;
  for (const a of args) n += 5 + String(a.length).length + a.length;
  return n;
}

/**
 * One CLIENT INFO / CLIENT LIST line (without the newline), fields in Redis's order. `running`
 * is the command the client itself is running (the one asking): Redis counts it in `qbuf` and
 * `argv-mem`.
 */
export function clientInfoLine(
  client: Client,
  nowMs = Date.now(),
  running?: readonly Uint8Array[],
): string {
  const subs = client.subscriptions;
  const omem = client.outputPendingBytes + (client.pushQueue?.bytes ?? 0);
  const fields: [string, string | number][] = [
    ["id", client.id],
    ["addr", client.addr],
    ["laddr", client.laddr],
    ["fd", -1],
    ["name", client.name],
    ["age", Math.floor((nowMs - client.createdMs) / 1000)],
    ["idle", Math.floor((nowMs - client.lastInteractionMs) / 1000)],
    ["flags", clientFlags(client)],
    ["db", 0],
    ["sub", subs?.channels.size ?? 0],
    ["psub", subs?.patterns.size ?? 0],
    ["ssub", subs?.shards.size ?? 0],
    ["multi", client.multi?.queued.length ?? -1],
    ["qbuf", running === undefined ? 0 : respBytes(running)],
    ["qbuf-free", 0],
    ["argv-mem", running === undefined ? 0 : running.reduce((n, a) => n + a.length, 0)],
    ["multi-mem", client.multi?.bytes ?? 0],
    ["rbs", 0],
    ["rbp", 0],
    ["obl", 0],
    ["oll", client.pushQueue?.length ?? 0],
    ["omem", omem],
    ["tot-mem", omem + (client.multi?.bytes ?? 0)],
    ["events", omem > 0 ? "rw" : "r"],
    ["cmd", client.lastCommand],
    ["user", "default"],
    ["redir", client.tracking?.redirect ?? -1],
    ["resp", client.protocol],
    ["lib-name", client.libName],
    ["lib-ver", client.libVer],
  ];
  return fields.map(([k, v]) => `${k}=${v}`).join(" ");
}

const CLIENT_HELP = [
  "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "CACHING (YES|NO)",
  "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
  "GETREDIR",
  "    Return the client ID we are redirecting to when tracking is enabled.",
  "GETNAME",
  "    Return the name of the current connection.",
  "ID",
  "    Return the ID of the current connection.",
  "INFO",
  "    Return information about the current client connection.",
  "KILL <ip:port>",
  "    Kill connection made from <ip:port>.",
  "KILL <option> <value> [<option> <value> [...]]",
  "    Kill connections. Options are: ID <id>, TYPE normal|pubsub, USER default,",
  "    ADDR <ip:port>, LADDR <ip:port>, SKIPME yes|no (default yes).",
  "LIST [TYPE normal|pubsub] [ID <id> [<id> ...]]",
  "    Return information about client connections.",
  "NO-EVICT (ON|OFF)",
  "    Protect the current client connection from eviction (nothing is evicted here).",
  "NO-TOUCH (ON|OFF)",
  "    Commands of this connection do not change keys' access times (none are kept here).",
  "PAUSE <timeout> [WRITE|ALL]",
  "    Hold the commands of all clients (ALL) or only writes (WRITE) for <timeout> ms.",
  "REPLY (ON|OFF|SKIP)",
  "    Control the replies sent to the current connection.",
  "SETINFO <option> <value>",
  "    Set client meta attr. Options are LIB-NAME and LIB-VER.",
  "SETNAME <name>",
  "    Assign the name <name> to the current connection.",
  "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
  "         [OPTIN] [OPTOUT] [NOLOOP]",
  "    Control server assisted client side caching.",
  "TRACKINGINFO",
  "    Report tracking status for the current connection.",
  "UNBLOCK <clientid> [TIMEOUT|ERROR]",
  "    Unblock the specified blocked client.",
  "UNPAUSE",
  "    Stop the current client pause, resuming traffic.",
  "HELP",
  "    Print this help.",
];

function subcommandSyntaxError(args: Uint8Array[]): ReplyError {
  return new ReplyError(
    `ERR unknown subcommand or wrong number of arguments for '${echoArg(args[1]!, 128)}'. ` +
      `Try CLIENT HELP.`,
  );
}

function clientList(ctx: CommandContext): void {
  const { args, out } = ctx;
  const n = args.length;
  let type: string | undefined;
  let ids: Set<number> | undefined;
  if (n === 4 && lower(args[2]!) === "type") {
    type = typeByName(lower(args[3]!));
    if (type === undefined) throw new ReplyError(`ERR Unknown client type '${text(args[3]!)}'`);
  } else if (n >= 4 && lower(args[2]!) === "id") {
    ids = new Set();
    for (let i = 3; i < n; i++) {
      const id = parseInt64(args[i]!);
      if (id === undefined) throw new ReplyError("ERR Invalid client ID");
      ids.add(Number(id));
    }
  } else if (n !== 2) throw new ReplyError(ERR_SYNTAX);
  let s = "";
  const now = Date.now();
  for (const c of ctx.server.clients.values()) {
    if (ids !== undefined && !ids.has(c.id)) continue;
    if (type !== undefined && clientType(c) !== type) continue;
    s += clientInfoLine(c, now, c === ctx.client ? ctx.args : undefined) + "\n";
  }
  out.verbatim(s);
}

interface KillFilter {
  id?: number;
  type?: string;
  addr?: string;
  laddr?: string;
  skipMe: boolean;
}

function killFilter(args: Uint8Array[]): KillFilter {
  const f: KillFilter = { skipMe: true };
  for (let i = 2; i < args.length; i += 2) {
    const opt = lower(args[i]!);
    if (i + 1 >= args.length) throw new ReplyError(ERR_SYNTAX);
    const value = args[i + 1]!;
    if (opt === "id") {
      const id = parseInt64(value);
      if (id === undefined || id < 1n) {
        throw new ReplyError("ERR client-id should be greater than 0");
      }
      f.id = Number(id);
    } else if (opt === "type") {
      const type = typeByName(lower(value));
      if (type === undefined) throw new ReplyError(`ERR Unknown client type '${text(value)}'`);
      f.type = type;
    } else if (opt === "addr") f.addr = text(value);
    else if (opt === "laddr") f.laddr = text(value);
    else if (opt === "user") {
      if (text(value) !== "default") throw new ReplyError(`ERR No such user '${text(value)}'`);
    } else if (opt === "skipme") {
      const v = lower(value);
      if (v === "yes") f.skipMe = true;
      else if (v === "no") f.skipMe = false;
      else throw new ReplyError(ERR_SYNTAX);
    } else throw new ReplyError(ERR_SYNTAX);
  }
  return f;
}

function clientKill(ctx: CommandContext): void {
  const { args, client, out } = ctx;
  const oldStyle = args.length === 3;
  const filter: KillFilter = oldStyle ? { addr: text(args[2]!), skipMe: false } : killFilter(args);
  const victims: Client[] = [];
  for (const c of ctx.server.clients.values()) {
    if (filter.addr !== undefined && c.addr !== filter.addr) continue;
    if (filter.laddr !== undefined && c.laddr !== filter.laddr) continue;
    if (filter.id !== undefined && c.id !== filter.id) continue;
    if (filter.type !== undefined && clientType(c) !== filter.type) continue;
    if (c === client && filter.skipMe) continue;
    victims.push(c);
  }
  for (const c of victims) {
    ctx.server.logger("info", "closing client", {
      client: c.id,
      addr: c.addr,
      reason: "CLIENT KILL",
      by: client.id,
    });
    // The caller itself gets its reply first, then is closed (Redis: close after reply).
    if (c === client) c.closeAfterReply = true;
    else c.kill("killed by CLIENT KILL");
  }
  if (!oldStyle) return out.integer(victims.length);
  if (victims.length === 0) throw new ReplyError("ERR No such client");
  out.ok();
}

function clientPause(ctx: CommandContext): void {
  const { args } = ctx;
  if (args.length > 4) throw subcommandSyntaxError(args);
  let mode: "all" | "write" = "all";
  if (args.length === 4) {
    const m = lower(args[3]!);
    if (m !== "write" && m !== "all") {
      throw new ReplyError("ERR CLIENT PAUSE mode must be WRITE or ALL");
    }
    mode = m;
  }
  const ms = parseInt64(args[2]!);
  if (ms === undefined) throw new ReplyError("ERR timeout is not an integer or out of range");
  if (ms < 0n) throw new ReplyError("ERR timeout is negative");
  const endMs = Math.min(Date.now() + Number(ms), Number.MAX_SAFE_INTEGER);
  ctx.server.operator.pause.pause(mode, endMs);
  ctx.server.logger("info", "clients paused", { client: ctx.client.id, mode, timeout_ms: ms });
  ctx.out.ok();
}

function onOff(args: Uint8Array[]): boolean {
  const v = lower(args[2]!);
  if (v === "on") return true;
  if (v === "off") return false;
  throw new ReplyError(ERR_SYNTAX);
}

function clientSetInfo(ctx: CommandContext): void {
  const { args, client } = ctx;
  const attr = lower(args[2]!);
  if (attr !== "lib-name" && attr !== "lib-ver") {
    throw new ReplyError(`ERR Unrecognized option '${text(args[2]!)}'`);
  }
  if (!validName(args[3]!) || args[3]!.length > CLIENT_NAME_BYTES_MAX) {
    throw new ReplyError(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
  }
  if (attr === "lib-name") client.libName = text(args[3]!);
  else client.libVer = text(args[3]!);
  ctx.out.ok();
}

/** CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends a blocking pop's wait (1), or 0 when not blocked. */
function clientUnblock(ctx: CommandContext): void {
  const { args, out } = ctx;
  if (args.length > 4) throw subcommandSyntaxError(args);
  let error = false;
  if (args.length === 4) {
    const reason = lower(args[3]!);
    if (reason === "error") error = true;
    else if (reason !== "timeout") {
      throw new ReplyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
  }
  const id = parseInt64(args[2]!);
  if (id === undefined) throw new ReplyError(ERR_NOT_INTEGER);
  const target = ctx.server.clients.get(Number(id));
  const registry = registryFor(ctx.server.clients);
  const done = target !== undefined && registry !== undefined &&
    registry.unblockClient(
      target,
      error ? "UNBLOCKED client unblocked via CLIENT UNBLOCK" : undefined,
    );
  out.integer(done ? 1 : 0);
}

/**
 * CLIENT REPLY ON|OFF|SKIP: OFF drops every later reply, SKIP the next command's; only ON
 * answers (+OK). The connection drops the replies (`connection.ts`); pub/sub confirmations and
 * messages still go, as in Redis.
 */
function clientReply(ctx: CommandContext): void {
  const { client } = ctx;
  const mode = lower(ctx.args[2]!);
  if (mode === "on") {
    client.replyOff = false;
    client.replySkipNext = false;
    client.replySkip = false;
    return ctx.out.ok();
  }
  if (mode === "off") {
    client.replyOff = true;
    return;
  }
  if (mode === "skip") {
    if (!client.replyOff) client.replySkipNext = true;
    return;
  }
  throw new ReplyError(ERR_SYNTAX);
}

/** CLIENT: its subcommands. */
export function clientCommand(ctx: CommandContext): void {
  const { args, client, out } = ctx;
  const sub = lower(args[1]!);
  const n = args.length;
  const arity = CLIENT_SUBCOMMANDS[sub];
  if (arity !== undefined && ((arity > 0 && n !== arity) || n < -arity)) {
    throw arityError(`client|${sub}`);
  }
  switch (sub) {
    case "id":
      return out.integer(client.id);
    case "getname":
      return client.name === "" ? out.null() : out.bulk(client.name);
    case "setname":
      checkClientName(args[2]!);
      client.name = text(args[2]!);
      return out.ok();
    case "setinfo":
      return clientSetInfo(ctx);
    case "info":
      return out.verbatim(clientInfoLine(client, Date.now(), args) + "\n");
    case "list":
      return clientList(ctx);
    case "kill":
      return clientKill(ctx);
    case "pause":
      return clientPause(ctx);
    case "unpause":
      ctx.server.operator.pause.unpause();
      return out.ok();
    case "unblock":
      return clientUnblock(ctx);
    case "reply":
      return clientReply(ctx);
    case "no-evict":
      client.noEvict = onOff(args);
      return out.ok();
    case "no-touch":
      client.noTouch = onOff(args);
      return out.ok();
    case "tracking":
      return clientTracking(ctx);
    case "caching":
      return clientCaching(ctx);
    case "getredir":
      return clientGetRedir(ctx);
    case "trackinginfo":
      return clientTrackingInfo(ctx);
    case "help":
      out.array(CLIENT_HELP.length);
      for (const line of CLIENT_HELP) out.simple(line);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try CLIENT HELP.`);
  }
}

/** RESET: the connection back to its state at connect. */
export function reset(ctx: CommandContext): void {
  const { client, server } = ctx;
  client.multi = undefined;
  server.watches.unwatchAll(client);
  server.pubsub.forget(client);
  server.operator.monitors.remove(client);
  server.tracking.disable(client);
  client.name = "";
  client.noEvict = false;
  client.noTouch = false;
  client.replyOff = false;
  client.replySkipNext = false;
  client.out.protocol = 2;
  ctx.out.simple("RESET");
}

/** MONITOR: this client hears every command from now on. */
export function monitor(ctx: CommandContext): void {
  // Redis refuses MONITOR inside MULTI (a transaction's client may not block).
  if (ctx instanceof TxnContext) {
    throw new ReplyError("ERR MONITOR isn't allowed for DENY BLOCKING client");
  }
  // Already monitoring: ignored without a reply, as Redis does.
  if (ctx.client.monitor) return;
  ctx.server.operator.monitors.add(ctx.client);
  ctx.server.logger("info", "client is monitoring", { client: ctx.client.id });
  ctx.out.ok();
}
