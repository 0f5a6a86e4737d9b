/**
 * `cityhall client …` and the top-level shortcuts `cityhall put|get|del|scan …`.
 *
 * Both run the same subcommands with the same output. `client` always talks to a server over
 * RESP. The shortcuts talk to the server at `--host/--port` when one answers and otherwise
 * open `--data-dir` directly with the engine; the engine's directory lock makes that safe,
 * since a running server holds it. When `--data-dir` is given and the answering server
 * serves another directory, the shortcut opens the given directory instead.
 *
 * Exit codes: 0 success, 1 key not found / server error / cannot connect, 2 usage error.
 *
 * @module
 */

import { Database } from "../engine/mod.ts";
import { CityHallError, LockedError } from "../errors.ts";
import { isLoopback } from "../server/mod.ts";
import { intFlag, type ParsedArgs, parseFlags, UsageError } from "./_args.ts";
import {
  formatHostPort,
  HOST_DEFAULT,
  readAuthToken,
  resolveDataDir,
  RESP_PORT_DEFAULT,
} from "./_common.ts";
import { dataDirFailure, describeFsError, formatFsError } from "./_fs_errors.ts";
import { printErr, printJson, printOut, writeOut } from "./_output.ts";
import { bytesToJson, parseInfo, replyToJson } from "./format.ts";
import { runPrompt, STATS_SECTIONS } from "./prompt.ts";
import { ConnectionClosedError, RespClient } from "./resp_client.ts";
import { describeConnectError, expectOk, remoteScan, ServerReplyError } from "./_remote.ts";

/** Largest `--limit` of `scan`. */
const SCAN_LIMIT_MAX = Number.MAX_SAFE_INTEGER;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TAB = encoder.encode("\t");
const NEWLINE = encoder.encode("\n");

/** Help of `cityhall client`. */
export const CLIENT_HELP = `Usage: cityhall client [options] [command [args…]]

Talk to a running CityHall server over the Redis protocol. Without a command, opens a
prompt like redis-cli (127.0.0.1:7878> ) that also reads commands from a pipe.

Commands:
  put KEY VALUE          Store VALUE under KEY; prints OK (alias: set)
  get KEY                Print the value and a newline (like redis-cli, so that
                         "| while read v" sees it); exit 1 with "not found" on stderr if
                         missing. --no-newline prints the value's exact bytes only
  del KEY…               Delete keys; prints how many existed (aliases: delete, rm)
  scan PREFIX [--limit N]  Print "key<TAB>value" lines for keys starting with PREFIX
  stats                  Engine and server statistics (INFO stats cityhall)
  ping                   Check that the server answers (prints PONG)
  info [SECTION…]        The server's INFO text

Prompt input: Redis commands (SET k v, GET k, … with redis-cli quoting) plus
  DELETE k…  (→ DEL)      SCAN prefix  (→ keys and values with that prefix)
  STATS      (→ INFO)     BATCH n      (writes n random records as MULTI/EXEC groups and
                                        prints how many were written and the rate)
  HELP, QUIT

Options:
  --host HOST            Server address (default ${HOST_DEFAULT})
  --port PORT            Server RESP port (default ${RESP_PORT_DEFAULT})
  --auth-token-file F    Authenticate with the token in F (default: env CITYHALL_AUTH_TOKEN)
  --tls-ca F             Connect with TLS, trusting the CA certificate (PEM) in F
  --json                 Machine-readable output (one JSON document per command)
  --limit N              scan: at most N keys (default: all)
  --no-newline           get: print the value's exact bytes, without the newline
  -h, --help             Show this help

Exit codes: 0 ok, 1 not found / server error / cannot connect, 2 usage error.
Values that start with "-" (like -3.5) are values, not flags; "--" ends the flags.
`;

/** Help of the top-level shortcuts. */
export const SHORTCUT_HELP =
  `Usage: cityhall [options] put KEY VALUE | get KEY | del KEY… | scan PREFIX [--limit N]

Read and write keys. When a server answers at --host/--port, the command goes through it
(like cityhall client). When none answers (connection refused), the data directory is
opened directly; the engine's lock keeps this safe while a server holds it. Aliases:
set = put, delete = rm = del. get prints the value and a newline, like redis-cli.

Options (before or after the command):
  --data-dir DIR         Data directory for direct use (default ~/.cityhall/data). If a
                         server answers but serves another directory, DIR is opened directly
  --direct               Open the data directory directly without trying a server
  --host HOST            Server address (default ${HOST_DEFAULT})
  --port PORT            Server RESP port (default ${RESP_PORT_DEFAULT})
  --auth-token-file F    Token for the server (default: env CITYHALL_AUTH_TOKEN)
  --tls-ca F             Connect with TLS, trusting the CA certificate (PEM) in F
  --json                 Machine-readable output
  --limit N              scan: at most N keys (default: all)
  --no-newline           get: print the value's exact bytes, without the newline
  -h, --help             Show this help

Exit codes: 0 ok, 1 not found / error, 2 usage error.
`;

/** A place keys live: a server over RESP, or a directory opened directly. */
interface Store {
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  del(keys: string[]): Promise<number>;
  scan(prefix: string, limit: number | undefined): AsyncIterable<[Uint8Array, Uint8Array]>;
  close(): Promise<void>;
}

class RemoteStore implements Store {
  constructor(readonly client: RespClient) {}

  async put(key: string, value: string): Promise<void> {
    expectOk(await this.client.command(["SET", key, value]));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const reply = expectOk(await this.client.command(["GET", key]));
    return reply.kind === "bulk" && reply.value !== null ? reply.value : undefined;
  }

  async del(keys: string[]): Promise<number> {
    const reply = expectOk(await this.client.command(["DEL", ...keys]));
    return reply.kind === "integer" ? Number(reply.value) : 0;
  }

  scan(prefix: string, limit: number | undefined): AsyncIterable<[Uint8Array, Uint8Array]> {
    return remoteScan(this.client, prefix, limit);
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

class DirectStore implements Store {
  constructor(readonly db: Database) {}

  put(key: string, value: string): Promise<void> {
    return this.db.put(key, value);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.db.get(key);
  }

  async del(keys: string[]): Promise<number> {
    // This process holds the directory lock, so nothing changes between the reads and the
    // write; the deletes themselves are one atomic batch.
    const existing = new Set<string>();
    for (const key of keys) if ((await this.db.get(key)) !== undefined) existing.add(key);
    if (existing.size > 0) {
      await this.db.write([...existing].map((key) => ({ type: "delete" as const, key })));
    }
    return existing.size;
  }

  scan(prefix: string, limit: number | undefined): AsyncIterable<[Uint8Array, Uint8Array]> {
    return this.db.scan({ prefix }, limit === undefined ? {} : { limit });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** Flags of `client` and the shortcuts. */
const CLIENT_FLAGS = {
  string: ["host", "port", "auth-token-file", "tls-ca", "limit"],
  boolean: ["json", "no-newline"],
};
const SHORTCUT_FLAGS = {
  string: [...CLIENT_FLAGS.string, "data-dir"],
  boolean: [...CLIENT_FLAGS.boolean, "direct"],
};

/** Where a client command connects. */
export interface Target {
  hostname: string;
  port: number;
  authToken: string | undefined;
  tlsCaCert: string | undefined;
}

/** The server `--host`, `--port`, `--auth-token-file` and `--tls-ca` name. */
export async function targetOf(command: string, parsed: ParsedArgs): Promise<Target> {
  return {
    hostname: parsed.strings.get("host") ?? HOST_DEFAULT,
    port: intFlag(command, parsed, "port", { min: 1, max: 65535 }) ?? RESP_PORT_DEFAULT,
    authToken: await readAuthToken(command, parsed.strings.get("auth-token-file")),
    tlsCaCert: await readTlsCa(command, parsed.strings.get("tls-ca")),
  };
}

async function readTlsCa(command: string, path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(
      command,
      `cannot read --tls-ca ${path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

const SUBCOMMANDS = new Set(["put", "get", "del", "scan", "stats", "ping", "info"]);
const ALIASES: Record<string, string> = { set: "put", delete: "del", rm: "del" };

function canonical(name: string): string {
  const lower = name.toLowerCase();
  return ALIASES[lower] ?? lower;
}

/** Checks the positional arguments of a subcommand; throws `UsageError`. */
function checkArity(command: string, sub: string, args: string[], parsed: ParsedArgs): void {
  const want: Record<string, [number, number]> = {
    put: [2, 2],
    get: [1, 1],
    del: [1, Infinity],
    scan: [1, 1],
    stats: [0, 0],
    ping: [0, 0],
    info: [0, Infinity],
  };
  const [min, max] = want[sub]!;
  if (args.length < min || args.length > max) {
    const usage: Record<string, string> = {
      put: "put KEY VALUE",
      get: "get KEY",
      del: "del KEY…",
      scan: "scan PREFIX [--limit N]",
      stats: "stats",
      ping: "ping",
      info: "info [SECTION…]",
    };
    throw new UsageError(command, `usage: ${usage[sub]}`);
  }
  if (parsed.strings.has("limit") && sub !== "scan") {
    throw new UsageError(command, "--limit applies to scan only");
  }
  if (parsed.booleans.has("no-newline") && sub !== "get") {
    throw new UsageError(command, "--no-newline applies to get only");
  }
}

/** Runs one key subcommand against `store` and prints its output; returns the exit code. */
async function runStoreCommand(
  store: Store,
  sub: string,
  args: string[],
  options: { json: boolean; limit: number | undefined; newline: boolean },
): Promise<number> {
  const { json } = options;
  switch (sub) {
    case "put":
      await store.put(args[0]!, args[1]!);
      if (json) printJson({ ok: true });
      else printOut("OK");
      return 0;
    case "get": {
      const value = await store.get(args[0]!);
      if (value === undefined) {
        if (json) printJson({ key: args[0], value: null });
        printErr("not found");
        return 1;
      }
      if (json) printJson({ key: args[0], value: bytesToJson(value) });
      else {
        // A newline after the value, like redis-cli, so that `cityhall get k | while read v`
        // and `$(…)` see a complete line; --no-newline keeps the exact bytes for binary data.
        writeOut(value);
        if (options.newline) writeOut(NEWLINE);
      }
      return 0;
    }
    case "del": {
      const n = await store.del(args);
      if (json) printJson({ deleted: n });
      else printOut(String(n));
      return 0;
    }
    case "scan": {
      const items: { key: unknown; value: unknown }[] = [];
      for await (const [key, value] of store.scan(args[0]!, options.limit)) {
        if (json) items.push({ key: bytesToJson(key), value: bytesToJson(value) });
        else writeOut(joinLine(key, value));
      }
      if (json) printJson(items);
      return 0;
    }
  }
  throw new Error(`Unhandled subcommand ${sub}`);
}

function joinLine(key: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + value.length + 2);
  out.set(key);
  out.set(TAB, key.length);
  out.set(value, key.length + 1);
  out.set(NEWLINE, key.length + value.length + 1);
  return out;
}

async function runServerCommand(
  client: RespClient,
  sub: string,
  args: string[],
  json: boolean,
): Promise<number> {
  if (sub === "ping") {
    const t0 = performance.now();
    const reply = expectOk(await client.command(["PING"]));
    const latencyMs = Math.round((performance.now() - t0) * 1000) / 1000;
    const text = reply.kind === "simple" ? reply.value : JSON.stringify(replyToJson(reply));
    if (json) printJson({ reply: text, latencyMs });
    else printOut(text);
    return 0;
  }
  const sections = sub === "stats" ? STATS_SECTIONS : args;
  const reply = expectOk(await client.command(["INFO", ...sections]));
  const text = reply.kind === "bulk" && reply.value !== null ? decoder.decode(reply.value) : "";
  if (json) printJson(parseInfo(text));
  else writeOut(text.replace(/\r\n/g, "\n"));
  return 0;
}

/** Prints an operating error of a subcommand and returns exit code 1. */
function reportFailure(err: unknown): number {
  const fsError = describeFsError(err);
  if (err instanceof ServerReplyError) printErr(`cityhall: ${err.message}`);
  else if (err instanceof ConnectionClosedError) printErr(`cityhall: ${err.message}`);
  else if (err instanceof CityHallError) printErr(`cityhall: ${err.message}`);
  else if (fsError !== undefined) printErr(`cityhall: ${formatFsError(fsError)}`);
  else throw err;
  return 1;
}

/** `cityhall client …`; returns the exit code. */
export async function clientCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("client", args, CLIENT_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(CLIENT_HELP);
    return 0;
  }
  const [first, ...rest] = parsed.positionals;
  const sub = first === undefined ? undefined : canonical(first);
  if (sub !== undefined && !SUBCOMMANDS.has(sub)) {
    throw new UsageError("client", `unknown client command '${first}'`);
  }
  if (sub !== undefined) checkArity("client", sub, rest, parsed);
  const limit = intFlag("client", parsed, "limit", { min: 1, max: SCAN_LIMIT_MAX });
  const target = await targetOf("client", parsed);
  const json = parsed.booleans.has("json");
  if (sub === undefined) {
    return await runPrompt({ ...target, json });
  }
  let client: RespClient;
  try {
    client = await RespClient.connect(target);
  } catch (err) {
    printErr(`cityhall: ${connectFailure(err, target)}`);
    return 1;
  }
  try {
    if (sub === "stats" || sub === "ping" || sub === "info") {
      return await runServerCommand(client, sub, rest, json);
    }
    return await runStoreCommand(new RemoteStore(client), sub, rest, {
      json,
      limit,
      newline: !parsed.booleans.has("no-newline"),
    });
  } catch (err) {
    return reportFailure(err);
  } finally {
    client.close();
  }
}

/** One line saying why connecting to `target` failed. */
export function connectFailure(err: unknown, target: Target): string {
  if (err instanceof Error && err.message.startsWith("Authentication failed")) {
    return `${err.message} (at ${formatHostPort(target.hostname, target.port)})`;
  }
  return describeConnectError(err, target.hostname, target.port);
}

async function sameDirectory(a: string, b: string): Promise<boolean> {
  try {
    return (await Deno.realPath(a)) === (await Deno.realPath(b));
  } catch {
    return false;
  }
}

/** The directory the server at the other end serves, if it tells (CONFIG GET dir). */
async function serverDirectory(client: RespClient): Promise<string | undefined> {
  const reply = await client.command(["CONFIG", "GET", "dir"]);
  if (reply.kind !== "array" || reply.value === null) return undefined;
  const value = reply.value[1];
  return value?.kind === "bulk" && value.value !== null ? decoder.decode(value.value) : undefined;
}

/** Whether `dir` is a directory, missing, a file, or unreachable (the error says why). */
async function directoryState(
  dir: string,
): Promise<"directory" | "missing" | "file" | { error: unknown }> {
  try {
    return (await Deno.stat(dir)).isDirectory ? "directory" : "file";
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? "missing" : { error: err };
  }
}

/**
 * `cityhall put|set|get|del|delete|scan …`: through the server when one answers, else on the
 * data directory directly. `name` is the command as typed; returns the exit code.
 */
export async function shortcutCommand(name: string, args: string[]): Promise<number> {
  const parsed = parseFlags(name, args, SHORTCUT_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(SHORTCUT_HELP);
    return 0;
  }
  const sub = canonical(name);
  const positionals = parsed.positionals;
  checkArity(name, sub, positionals, parsed);
  const limit = intFlag(name, parsed, "limit", { min: 1, max: SCAN_LIMIT_MAX });
  const json = parsed.booleans.has("json");
  const dirFlag = parsed.strings.get("data-dir");
  const dir = resolveDataDir(name, dirFlag);
  const target = await targetOf(name, parsed);
  const where = formatHostPort(target.hostname, target.port);

  let store: Store | undefined;
  if (!parsed.booleans.has("direct")) {
    try {
      const client = await RespClient.connect(target);
      store = new RemoteStore(client);
      if (dirFlag !== undefined && isLoopback(target.hostname)) {
        // A server answers, but maybe for another directory than the one asked for.
        const served = await serverDirectory(client).catch(() => undefined);
        if (served !== undefined && !(await sameDirectory(served, dir))) {
          client.close();
          store = undefined;
        }
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.ConnectionRefused)) {
        printErr(`cityhall: ${connectFailure(err, target)}`);
        return 1;
      }
    }
  }
  if (store === undefined) {
    const state = await directoryState(dir);
    if (typeof state !== "string") {
      const message = dataDirFailure(dir, state.error);
      if (message === undefined) throw state.error;
      printErr(`cityhall ${name}: ${message}`);
      return 1;
    }
    if (state === "file") {
      printErr(`cityhall ${name}: Cannot open data directory ${dir}: it is a file`);
      return 1;
    }
    if (sub !== "put" && state === "missing") {
      printErr(
        parsed.booleans.has("direct")
          ? `cityhall ${name}: No database exists at ${dir} (pass --data-dir)`
          : `cityhall: No server answers at ${where} and no database exists at ${dir} ` +
            `(start one with "cityhall serve", or pass --data-dir/--host/--port)`,
      );
      return 1;
    }
    try {
      store = new DirectStore(await Database.open(dir, { syncMode: "always" }));
    } catch (err) {
      if (err instanceof LockedError) {
        printErr(
          `cityhall: Cannot open ${dir}: it is locked by another process, and no server ` +
            `answers at ${where} (is its server listening elsewhere? pass --host/--port)`,
        );
        return 1;
      }
      const message = dataDirFailure(dir, err);
      if (message === undefined) throw err;
      printErr(`cityhall ${name}: ${message}`);
      return 1;
    }
  }
  try {
    return await runStoreCommand(store, sub, positionals, {
      json,
      limit,
      newline: !parsed.booleans.has("no-newline"),
    });
  } catch (err) {
    return reportFailure(err);
  } finally {
    await store.close();
  }
}
