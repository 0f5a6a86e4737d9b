/**
 * Connection commands: PING ECHO AUTH HELLO SELECT QUIT CLIENT.
 *
 * AUTH and HELLO … AUTH accept the user `default` (or none) and the configured token, compared
 * in constant time by `ServerState.checkToken`.
 *
 * @module
 */

import { REDIS_COMPAT_VERSION } from "../../version.ts";
import {
  arityError,
  type Client,
  type CommandContext,
  type CommandSpec,
  ERR_DB_INDEX,
  ERR_SYNTAX,
  ERR_WRONGPASS,
  lower,
  NO_KEYS,
  parseInt64,
  ReplyError,
  specBuilder,
  text,
} from "../context.ts";
import { CLIENT_NAME_BYTES_MAX } from "../../limits.ts";

function ping(ctx: CommandContext): void {
  if (ctx.args.length > 2) throw arityError("ping");
  if (ctx.args.length === 2) ctx.out.bulk(ctx.args[1]!);
  else ctx.out.simple("PONG");
}

/** Authenticates `client` with `username`/`password`; false when refused. */
async function authenticate(
  ctx: CommandContext,
  username: Uint8Array | undefined,
  password: Uint8Array,
): Promise<boolean> {
  const { server, client } = ctx;
  if (username !== undefined && text(username) !== "default") {
    // Still hash and compare, so a wrong user name takes as long as a wrong token.
    await server.checkToken(password);
    server.recordAuthFailure(client);
    return false;
  }
  if (!server.authRequired) {
    // The default user has no password: any password is accepted (ACL `nopass`).
    client.authenticated = true;
    return true;
  }
  const ok = await server.checkToken(password);
  if (ok) client.authenticated = true;
  else server.recordAuthFailure(client);
  return ok;
}

async function auth(ctx: CommandContext): Promise<void> {
  const { args } = ctx;
  if (args.length > 3) throw new ReplyError(ERR_SYNTAX);
  if (!ctx.server.authRequired && args.length === 2) {
    throw new ReplyError(
      "ERR AUTH <password> called without any password configured for the default user. " +
        "Are you sure your configuration is correct?",
    );
  }
  const ok = await authenticate(ctx, args.length === 3 ? args[1] : undefined, args.at(-1)!);
  if (!ok) throw new ReplyError(ERR_WRONGPASS);
  ctx.out.ok();
}

function validName(name: Uint8Array): boolean {
  for (const c of name) if (c < 33 || c > 126) return false;
  return true;
}

function checkClientName(name: Uint8Array): void {
  if (!validName(name) || name.length > CLIENT_NAME_BYTES_MAX) {
    throw new ReplyError(
      "ERR Client names cannot contain spaces, newlines or special characters.",
    );
  }
}

async function hello(ctx: CommandContext): Promise<void> {
  const { args, client } = ctx;
  let version = 0;
  if (args.length >= 2) {
    const v = parseInt64(args[1]!);
    if (v === undefined) {
      throw new ReplyError("ERR Protocol version is not an integer or out of range");
    }
    if (v < 2n || v > 3n) throw new ReplyError("NOPROTO unsupported protocol version");
    version = Number(v);
  }
  let username: Uint8Array | undefined;
  let password: Uint8Array | undefined;
  let name: Uint8Array | undefined;
  for (let j = 2; j < args.length; j++) {
    const more = args.length - 1 - j;
    const opt = lower(args[j]!);
    if (opt === "auth" && more >= 2) {
      username = args[j + 1]!;
      password = args[j + 2]!;
      j += 2;
    } else if (opt === "setname" && more >= 1) {
      name = args[j + 1]!;
      j++;
    } else throw new ReplyError(`ERR Syntax error in HELLO option '${text(args[j]!)}'`);
  }
  if (username !== undefined && password !== undefined) {
    if (!await authenticate(ctx, username, password)) throw new ReplyError(ERR_WRONGPASS);
  }
  if (!client.authenticated) {
    throw new ReplyError(
      "NOAUTH HELLO must be called with the client already authenticated, otherwise the " +
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and " +
        "select the RESP protocol version at the same time",
    );
  }
  if (name !== undefined) {
    checkClientName(name);
    client.name = text(name);
  }
  if (version !== 0) client.out.protocol = version as 2 | 3;
  const out = ctx.out;
  out.map(7);
  out.bulk("server");
  out.bulk("redis");
  out.bulk("version");
  out.bulk(REDIS_COMPAT_VERSION);
  out.bulk("proto");
  out.integer(client.protocol);
  out.bulk("id");
  out.integer(client.id);
  out.bulk("mode");
  out.bulk("standalone");
  out.bulk("role");
  out.bulk("master");
  out.bulk("modules");
  out.array(0);
}

function select(ctx: CommandContext): void {
  const index = parseInt64(ctx.args[1]!);
  if (index === undefined || index < -(2n ** 31n) || index >= 2n ** 31n) {
    throw new ReplyError("ERR value is not an integer or out of range");
  }
  if (index !== 0n) throw new ReplyError(ERR_DB_INDEX);
  ctx.out.ok();
}

function quit(ctx: CommandContext): void {
  ctx.client.closeAfterReply = true;
  ctx.out.ok();
}

/** One CLIENT INFO / CLIENT LIST line (without the newline), fields in Redis's order. */
export function clientInfoLine(client: Client, nowMs = Date.now()): string {
  const fields: [string, string | number][] = [
    ["id", client.id],
    ["addr", client.addr],
    ["laddr", client.laddr],
    ["fd", -1],
    ["name", client.name],
    ["age", Math.floor((nowMs - client.createdMs) / 1000)],
    ["idle", Math.floor((nowMs - client.lastInteractionMs) / 1000)],
    ["flags", client.multi !== undefined ? "x" : "N"],
    ["db", 0],
    ["sub", 0],
    ["psub", 0],
    ["ssub", 0],
    ["multi", client.multi?.queued.length ?? -1],
    ["qbuf", 0],
    ["qbuf-free", 0],
    ["argv-mem", 0],
    ["multi-mem", client.multi?.bytes ?? 0],
    ["rbs", 0],
    ["rbp", 0],
    ["obl", 0],
    ["oll", 0],
    ["omem", client.outputPendingBytes],
    ["tot-mem", 0],
    ["events", "r"],
    ["cmd", client.lastCommand],
    ["user", "default"],
    ["redir", -1],
    ["resp", client.protocol],
    ["lib-name", client.libName],
    ["lib-ver", client.libVer],
  ];
  return fields.map(([k, v]) => `${k}=${v}`).join(" ");
}

const CLIENT_HELP = [
  "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "GETNAME",
  "    Return the name of the current connection.",
  "ID",
  "    Return the ID of the current connection.",
  "INFO",
  "    Return information about the current client connection.",
  "LIST [TYPE normal] [ID <id> [<id> ...]]",
  "    Return information about client connections.",
  "SETINFO <option> <value>",
  "    Set client meta attr. Options are LIB-NAME and LIB-VER.",
  "SETNAME <name>",
  "    Assign the name <name> to the current connection.",
  "HELP",
  "    Print this help.",
];

function clientCommand(ctx: CommandContext): void {
  const { args, client, out } = ctx;
  const sub = lower(args[1]!);
  const n = args.length;
  const wrongArity = () => arityError(`client|${sub}`);
  switch (sub) {
    case "id":
      if (n !== 2) throw wrongArity();
      return out.integer(client.id);
    case "getname":
      if (n !== 2) throw wrongArity();
      return client.name === "" ? out.null() : out.bulk(client.name);
    case "setname":
      if (n !== 3) throw wrongArity();
      checkClientName(args[2]!);
      client.name = text(args[2]!);
      return out.ok();
    case "setinfo": {
      if (n !== 4) throw wrongArity();
      const attr = lower(args[2]!);
      if (attr !== "lib-name" && attr !== "lib-ver") {
        throw new ReplyError(`ERR Unrecognized option '${text(args[2]!)}'`);
      }
      if (!validName(args[3]!) || args[3]!.length > CLIENT_NAME_BYTES_MAX) {
        throw new ReplyError(
          `ERR ${attr} cannot contain spaces, newlines or special characters.`,
        );
      }
      if (attr === "lib-name") client.libName = text(args[3]!);
      else client.libVer = text(args[3]!);
      return out.ok();
    }
    case "info":
      if (n !== 2) throw wrongArity();
      return out.verbatim(clientInfoLine(client) + "\n");
    case "list": {
      let ids: Set<number> | undefined;
      for (let i = 2; i < n; i++) {
        const opt = lower(args[i]!);
        if (opt === "type" && i + 1 < n) {
          const t = lower(args[++i]!);
          if (!["normal", "master", "replica", "pubsub"].includes(t)) {
            throw new ReplyError(`ERR Unknown client type '${text(args[i]!)}'`);
          }
          if (t !== "normal") ids = new Set();
        } else if (opt === "id" && i + 1 < n) {
          ids ??= new Set();
          while (i + 1 < n) {
            const id = parseInt64(args[++i]!);
            if (id === undefined || id <= 0n) throw new ReplyError("ERR Invalid client ID");
            ids.add(Number(id));
          }
        } else throw new ReplyError(ERR_SYNTAX);
      }
      let s = "";
      const now = Date.now();
      for (const c of ctx.server.clients.values()) {
        if (ids !== undefined && !ids.has(c.id)) continue;
        s += clientInfoLine(c, now) + "\n";
      }
      return out.verbatim(s);
    }
    case "help":
      out.array(CLIENT_HELP.length);
      for (const line of CLIENT_HELP) out.simple(line);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${text(args[1]!)}'. Try CLIENT HELP.`);
  }
}

const spec = specBuilder("connection", NO_KEYS);

/** The connection commands. */
export const CONNECTION_COMMANDS: CommandSpec[] = [
  spec("ping", -1, ["fast"], "1.0.0", "Returns the server's liveliness response.", ping),
  spec(
    "echo",
    2,
    ["fast"],
    "1.0.0",
    "Returns the given string.",
    (ctx) => ctx.out.bulk(ctx.args[1]!),
  ),
  spec(
    "auth",
    -2,
    ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
    "1.0.0",
    "Authenticates the connection.",
    auth,
  ),
  spec(
    "hello",
    -1,
    ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
    "6.0.0",
    "Handshakes with the Redis server.",
    hello,
  ),
  spec("select", 2, ["loading", "stale", "fast"], "1.0.0", "Changes the selected database.", (
    ctx,
  ) => select(ctx)),
  spec(
    "quit",
    -1,
    ["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"],
    "1.0.0",
    "Closes the connection.",
    quit,
  ),
  {
    ...spec(
      "client",
      -2,
      ["noscript", "loading", "stale"],
      "2.4.0",
      "A container for client connection commands.",
      clientCommand,
    ),
    subcommands: {
      id: 2,
      getname: 2,
      setname: 3,
      setinfo: 4,
      info: 2,
      list: -2,
      help: 2,
    },
  },
];
