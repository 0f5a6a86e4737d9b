/**
 * Connection commands: PING ECHO AUTH HELLO SELECT QUIT (CLIENT, RESET and MONITOR are in
 * `client.ts`).
 *
 * AUTH and HELLO ... AUTH accept the user `default` (or none) and the configured token, compared
 * in constant time by `ServerState.checkToken`.
 *
 * @module
 */

import { REDIS_COMPAT_VERSION } from "../../version.ts";
import {
  arityError,
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
  if (ctx.client.subscriptions !== undefined && ctx.client.protocol === 2) {
    // In RESP2 subscribe mode PING answers like a message: `pong` and the argument (or "").
    ctx.out.array(2);
    ctx.out.bulk("pong");
    ctx.out.bulk(ctx.args[1] ?? "");
  } else if (ctx.args.length === 2) ctx.out.bulk(ctx.args[1]!);
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

/** True when `name` has only printable ASCII without spaces (client names, library names). */
export function validName(name: Uint8Array): boolean {
  for (const c of name) if (c < 33 || c > 126) return false;
  return true;
}

/** Throws Redis's error when `name` cannot be a client name. */
export function checkClientName(name: Uint8Array): void {
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
];
