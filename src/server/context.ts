/**
 * Types shared by the connection loop (`server.ts`) and the command groups (`commands/`): the
 * per-client state, the server-wide state commands may touch, the context a command runs in,
 * and the argument helpers with Redis's exact error strings.
 *
 * @module
 */

import type { TypeEncodingConfig } from "../types/introspect.ts";
import type { Database, WriteOp } from "../mod.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import type { VersionAllocator } from "../keyspace/mod.ts";
import type { Logger } from "../util/log.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { KeyspaceNotifier } from "./notifications.ts";
import type { Operator } from "./operator.ts";
import type { ClientSubscriptions, PubSub } from "./pubsub.ts";
import type { PushQueue } from "./push.ts";
import type { PackedArgs } from "./resp_packed.ts";
import type { RespVersion, RespWriter } from "./resp_writer.ts";
import type { ScanCursorTable } from "./scan_cursor.ts";
import type { ClientTracking, TrackingTable } from "./tracking.ts";
import type { WatchRegistry } from "./transaction.ts";

/** An error answered to the client as `-<reply>`; `reply` starts with the code (`ERR ...`). */
export class ReplyError extends Error {
  /** Creates the error; `reply` is the whole error line without `-`. */
  constructor(readonly reply: string) {
    super(reply);
    this.name = "ReplyError";
  }
}

/** `-ERR syntax error`. */
export const ERR_SYNTAX = "ERR syntax error";
/** `-ERR value is not an integer or out of range`. */
export const ERR_NOT_INTEGER = "ERR value is not an integer or out of range";
/** `-ERR value is not a valid float`. */
export const ERR_NOT_FLOAT = "ERR value is not a valid float";
/** `-ERR no such key`. */
export const ERR_NO_SUCH_KEY = "ERR no such key";
/** `-NOAUTH Authentication required.` */
export const ERR_NOAUTH = "NOAUTH Authentication required.";
/** `-WRONGPASS ...`. */
export const ERR_WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled.";
/** `-ERR DB index is out of range`. */
export const ERR_DB_INDEX = "ERR DB index is out of range";

/** A MULTI in progress: the queued commands and whether one of them was refused. */
export interface MultiState {
  /** Commands queued since MULTI, in order. */
  readonly queued: Uint8Array[][];
  /** Argument bytes queued (bounded by `MULTI_QUEUED_BYTES_MAX`). */
  bytes: number;
  /** A command was refused while queueing: EXEC answers EXECABORT. */
  dirty: boolean;
}

/** A key under WATCH: its bytes and the sequence of its live entry then (-1 = absent). */
export interface WatchedKey {
  /** The key. */
  readonly key: Uint8Array;
  /** `getEntry(key)?.seq ?? -1` when WATCH ran. */
  readonly seq: number;
}

/** State of one connected client. */
export class Client {
  /** Unique id, increasing from 1 (CLIENT ID). */
  readonly id: number;
  /** Peer address as `host:port`. */
  readonly addr: string;
  /** Peer host alone (failed AUTHs are counted per host). */
  readonly host: string;
  /** Local address as `host:port`. */
  readonly laddr: string;
  /** When the connection was accepted (Unix ms). */
  readonly createdMs: number;
  /** Name set with CLIENT SETNAME or HELLO SETNAME. */
  name = "";
  /** Library name from CLIENT SETINFO LIB-NAME. */
  libName = "";
  /** Library version from CLIENT SETINFO LIB-VER. */
  libVer = "";
  /** True once AUTH succeeded, or from the start when no token is configured. */
  authenticated: boolean;
  /** Last time a complete command arrived (Unix ms), for the idle timeout. */
  lastInteractionMs: number;
  /** When the first byte of the command still being received arrived (Unix ms); 0 = none. */
  requestStartMs = 0;
  /** Name of the last command run. */
  lastCommand = "NULL";
  /** True while a batch of commands is being executed or its replies written. */
  busy = false;
  /** Set by QUIT (and SHUTDOWN, too many failed AUTHs): flush the replies, run nothing more, close. */
  closeAfterReply = false;
  /** Why the connection is being closed, when the server decided it. */
  closeReason: string | undefined;
  /** The MULTI in progress, if any. */
  multi: MultiState | undefined;
  /** Keys under WATCH by id (see `WatchRegistry`), if any. */
  watched: Map<string, WatchedKey> | undefined;
  /** A watched key was written since WATCH: the next EXEC answers a null array. */
  watchTouched = false;
  /** Failed AUTH attempts on this connection. */
  authFailures = 0;
  /** Delay before the next reply is written (set by a failed AUTH). */
  replyDelayMs = 0;
  /** Reply bytes handed to the socket and not yet written (the client is not reading). */
  outputPendingBytes = 0;
  /** Since when replies have been waiting for the socket (Unix ms); 0 = drained. */
  outputPendingSinceMs = 0;
  /** Since when the pending output has been above the soft limit (Unix ms); 0 = below. */
  softLimitSinceMs = 0;
  /** Replies of the batch being executed. */
  readonly out: RespWriter;
  /** Set once the socket is being closed: nothing more is queued for it. */
  closed = false;
  /** Channels and patterns subscribed to (undefined = none: not in subscribe mode). */
  subscriptions: ClientSubscriptions | undefined;
  /** Pub/sub messages and MONITOR lines waiting for the socket. */
  pushQueue: PushQueue | undefined;
  /** Called when something was queued on `pushQueue` (the connection writes it out). */
  onPush: (() => void) | undefined;
  /** In MONITOR mode: every command run by anyone is streamed to it. */
  monitor = false;
  /** CLIENT NO-EVICT on (a flag only: nothing is evicted here). */
  noEvict = false;
  /** CLIENT NO-TOUCH on (a flag only: no access times are kept). */
  noTouch = false;
  /** CLIENT REPLY OFF: replies are dropped (pub/sub confirmations and messages still go). */
  replyOff = false;
  /** CLIENT TRACKING ON: its options (`tracking.ts`); undefined = off. */
  tracking: ClientTracking | undefined;
  /** CLIENT REPLY SKIP: the next command's reply is dropped (`replySkip` while it runs). */
  replySkipNext = false;
  /** The running command's reply is dropped (the command after CLIENT REPLY SKIP). */
  replySkip = false;
  /** Closes the socket (timeouts, limits, server shutdown); `reason` is logged. */
  readonly kill: (reason?: string) => void;

  /** Creates the state of a just-accepted connection. */
  constructor(
    init: {
      id: number;
      addr: string;
      host: string;
      laddr: string;
      authenticated: boolean;
      out: RespWriter;
      kill: () => void;
    },
  ) {
    this.id = init.id;
    this.addr = init.addr;
    this.host = init.host;
    this.laddr = init.laddr;
    this.authenticated = init.authenticated;
    this.out = init.out;
    const close = init.kill;
    this.kill = (reason?: string) => {
      this.closeReason ??= reason;
      this.closed = true;
      close();
    };
    this.createdMs = Date.now();
    this.lastInteractionMs = this.createdMs;
  }

  /** RESP version of the replies. */
  get protocol(): RespVersion {
    return this.out.protocol;
  }

  /** Output class `pubsub` (Redis): subscribed to something, or a MONITOR. */
  get isPubSub(): boolean {
    return this.subscriptions !== undefined || this.monitor;
  }
}

/** Settings CONFIG GET/SET reads and changes at run time. */
export interface ServerConfig {
  /** Most connected clients. */
  maxClients: number;
  /** Most clients connected and not yet authenticated (only with a token). */
  maxUnauthenticatedClients: number;
  /** Seconds without a complete command before a client is closed; 0 = never. */
  idleTimeoutS: number;
  /** Seconds a client has to authenticate (only with a token); 0 = no deadline. */
  authTimeoutS: number;
  /** Seconds a command may take to arrive complete from its first byte; 0 = no deadline. */
  requestTimeoutS: number;
  /** Pending reply bytes past which a client is closed at once; 0 = no limit. */
  outputHardLimitBytes: number;
  /** Pending reply bytes a client may stay above for `outputSoftLimitS`; 0 = no limit. */
  outputSoftLimitBytes: number;
  /** Seconds over the soft limit before the client is closed. */
  outputSoftLimitS: number;
  /** Seconds replies may wait for a client that does not read; 0 = forever. */
  outputDrainTimeoutS: number;
  /** Pending bytes past which a subscriber or MONITOR is closed at once; 0 = no limit. */
  pubsubHardLimitBytes: number;
  /** Pending bytes a subscriber may stay above for `pubsubSoftLimitS`; 0 = no limit. */
  pubsubSoftLimitBytes: number;
  /** Seconds a subscriber may stay over its soft limit. */
  pubsubSoftLimitS: number;
  /** Commands slower than this many microseconds go to the slow log; negative = none. */
  slowlogLogSlowerThanUs: number;
  /** Entries the slow log keeps. */
  slowlogMaxLen: number;
  /** Commands this many milliseconds or slower are latency events; 0 = monitor off. */
  latencyMonitorThresholdMs: number;
  /** Times a second the cron runs (Redis `hz`, 1 ... `SERVER_HZ_MAX`). */
  hz: number;
  /** Encoding thresholds OBJECT ENCODING answers by (`src/types/introspect.ts`). */
  typeEncoding: TypeEncodingConfig;
}

/** What commands may read or change of the whole server. */
export interface ServerState {
  /** The storage engine. */
  readonly db: Database;
  /**
   * The time-series layer over `db` (TS.* commands, RENAME/COPY of series keys). Opened when
   * first needed: at start when the data holds series, else by the first command of a group
   * that uses it, so it is open wherever a series exists; reading it before throws.
   */
  readonly timeseries: TimeSeriesStore;
  /** The time-series layer if it is open (what acts on every series acts only then). */
  readonly timeseriesIfOpen: TimeSeriesStore | undefined;
  /** The data versions of every type (one counter, shared with the time-series layer). */
  readonly versions: VersionAllocator;
  /** Log sink. */
  readonly logger: Logger;
  /** Command and connection counters. */
  readonly metrics: ServerMetrics;
  /** Run-time settings. */
  readonly config: ServerConfig;
  /** Connected clients by id. */
  readonly clients: Map<number, Client>;
  /** True when a token is configured (AUTH needed). */
  readonly authRequired: boolean;
  /** Compares `token` with the configured one in constant time. */
  checkToken(token: Uint8Array): Promise<boolean>;
  /** Counts a failed AUTH of `client`: delays its next reply, may close it (see `AuthGuard`). */
  recordAuthFailure(client: Client): void;
  /** Keys under WATCH, by client. */
  readonly watches: WatchRegistry;
  /** Runs the queued commands of `ctx.client`'s MULTI as one atomic transaction (EXEC). */
  execTransaction(ctx: CommandContext): void | Promise<void>;
  /** Positions of SCAN calls in progress. */
  readonly scanCursors: ScanCursorTable;
  /** Channels, patterns and their subscribers. */
  readonly pubsub: PubSub;
  /** Keyspace notifications (`notify-keyspace-events`). */
  readonly notifier: KeyspaceNotifier;
  /** Client-side caching: the tracking table and BCAST prefixes (CLIENT TRACKING). */
  readonly tracking: TrackingTable;
  /** Slow log, latency monitor, MONITOR feed, CLIENT PAUSE, instantaneous metrics. */
  readonly operator: Operator;
  /** When the server started (Unix ms). */
  readonly startTimeMs: number;
  /** Last successful SAVE/BGSAVE (Unix ms). */
  lastSaveMs: number;
  /**
   * Engine operations commands wrote since the last SAVE/BGSAVE (INFO's
   * `rdb_changes_since_last_save`; Redis counts changed keys or members, which is the same for
   * strings and a few more for a member type's bookkeeping records).
   */
  changesSinceSave: number;
  /** Listening TCP port. */
  readonly port: number;
  /** Listening address. */
  readonly hostname: string;
  /** Whether the listener uses TLS. */
  readonly tls: boolean;
  /** Engine sync mode, for INFO and CONFIG GET appendfsync. */
  readonly syncMode: string;
  /** Stops the server (SHUTDOWN); the CLI's callback exits the process. */
  shutdown(options: { save: boolean }): Promise<void>;
}

/** The context one command runs in. */
export interface CommandContext {
  /** The command name (as sent) and its arguments. */
  readonly args: Uint8Array[];
  /** Where the reply goes. */
  readonly out: RespWriter;
  /** The calling client. */
  readonly client: Client;
  /** The server. */
  readonly server: ServerState;
  /**
   * Applies `ops` to the engine now (the caller read with `getEntry` and did not await since)
   * and holds this command's reply until the batch is durable; if it fails, the reply becomes
   * `-ERR <message>`. `oneBatch`: one engine batch, all or nothing even across a crash (MSET,
   * EXEC); otherwise more than `WRITE_CHUNK_OPS` ops are written in several.
   */
  write(ops: WriteOp[], oneBatch?: boolean): void;
}

/** A command handler: writes exactly one reply to `ctx.out`, or throws `ReplyError`. */
export type CommandHandler = (ctx: CommandContext) => void | Promise<void>;

/** A command of the table (COMMAND INFO shape plus the handler). */
export interface CommandSpec {
  /** Lowercase name. */
  name: string;
  /** Redis arity: n = exactly n arguments with the name, -n = at least n. */
  arity: number;
  /** Redis command flags (`write`, `readonly`, `fast`, `no_auth`, ...). */
  flags: string[];
  /** Index of the first key argument (0 = none). */
  firstKey: number;
  /** Index of the last key argument (-1 = the last argument). */
  lastKey: number;
  /** Step between key arguments. */
  step: number;
  /** Command group for COMMAND DOCS (`string`, `generic`, `connection`, `server`). */
  group: string;
  /** One-line summary for COMMAND DOCS. */
  summary: string;
  /** Redis version that introduced it. */
  since: string;
  /**
   * Arity of each subcommand of a container command (`client`, `config`...), Redis style, with
   * the container's name counted: checked when a MULTI queues the command, as Redis does.
   */
  subcommands?: Readonly<Record<string, number>>;
  /** Runs the command. */
  handler: CommandHandler;
  /**
   * Runs the command from the arguments the parser kept packed (`resp_packed.ts`, TS.MADD),
   * with the same replies as `handler`; the dispatcher calls it when nothing else needs the
   * arguments one by one (`ctx.args` then holds only the name).
   */
  packedHandler?: (ctx: CommandContext, packed: PackedArgs) => void | Promise<void>;
  /**
   * Set on the stub of a command whose group is loaded on first use (`commands/mod.ts`): loads
   * the group, whose specs then replace the stubs in the table. The dispatcher awaits it and
   * looks the command up again before anything else; the stub's handler is never run.
   */
  load?: () => Promise<void>;
}

/** Key positions of a command spec (COMMAND INFO): none, or the first argument. */
export const NO_KEYS = { firstKey: 0, lastKey: 0, step: 0 } as const;
/** Key positions of a command whose one key is its first argument. */
export const ONE_KEY = { firstKey: 1, lastKey: 1, step: 1 } as const;

/** A positional `CommandSpec` builder for one command group with fixed key positions. */
export function specBuilder(
  group: string,
  keys: { firstKey: number; lastKey: number; step: number },
): (
  name: string,
  arity: number,
  flags: string[],
  since: string,
  summary: string,
  handler: CommandHandler,
) => CommandSpec {
  return (name, arity, flags, since, summary, handler) => ({
    name,
    arity,
    flags,
    ...keys,
    group,
    since,
    summary,
    handler,
  });
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** Bytes as a lowercase string (ASCII case folding only), for names and options. */
export function lower(bytes: Uint8Array): string {
  let s = "";
  const n = bytes.length;
  if (n > 64) return latin1.decode(bytes).toLowerCase();
  for (let i = 0; i < n; i++) {
    let c = bytes[i]!;
    if (c >= 65 && c <= 90) c += 32;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Bytes as UTF-8 text (for names, patterns in messages). */
export function text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/**
 * An argument echoed in an error as Redis's `%s` and `%.128s` echo it: up to its first NUL byte
 * and at most `bytesMax` bytes, every byte as sent, valid UTF-8 or not. A byte above 0x7f is the
 * lone surrogate U+DC80-U+DCFF, which `RespWriter` writes back as that byte.
 */
export function echoArg(bytes: Uint8Array, bytesMax = Number.MAX_SAFE_INTEGER): string {
  let s = "";
  const n = Math.min(bytes.length, bytesMax);
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === 0) break;
    s += String.fromCharCode(c < 0x80 ? c : 0xdc00 + c);
  }
  return s;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Parses a strict int64 like Redis's `string2ll`; `undefined` when it is not one. */
export function parseInt64(bytes: Uint8Array): bigint | undefined {
  const n = bytes.length;
  if (n === 0 || n > 20) return undefined;
  let i = 0;
  if (bytes[0] === 45) {
    if (n === 1) return undefined;
    i = 1;
  }
  if (bytes[i] === 48 && (n - i > 1 || i === 1)) return undefined;
  for (let j = i; j < n; j++) {
    const c = bytes[j]!;
    if (c < 48 || c > 57) return undefined;
  }
  const v = BigInt(latin1.decode(bytes));
  if (v < INT64_MIN || v > INT64_MAX) return undefined;
  return v;
}

/** True when `v` fits a signed 64-bit integer. */
export function isInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

/** An int64 argument, or throws `ERR value is not an integer or out of range`. */
export function intArg(bytes: Uint8Array): bigint {
  const v = parseInt64(bytes);
  if (v === undefined) throw new ReplyError(ERR_NOT_INTEGER);
  return v;
}

/**
 * A count argument as Redis's getPositiveLongFromObjectOrReply reads it: a non-negative int64,
 * capped to the safe Number range. Anything else, a non-integer included, is `message` (Redis
 * answers "value is out of range, must be positive" even for "x").
 */
export function countArg(
  bytes: Uint8Array,
  message = "ERR value is out of range, must be positive",
): number {
  const v = parseInt64(bytes);
  if (v === undefined || v < 0n) throw new ReplyError(message);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** An integer argument in the safe Number range, or the not-an-integer error. */
export function safeIntArg(bytes: Uint8Array): number {
  const v = intArg(bytes);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ReplyError(ERR_NOT_INTEGER);
  }
  return Number(v);
}

/** Parses a float like Redis's `string2ld`: no spaces, no trailing bytes, no NaN. */
export function parseFloatArg(bytes: Uint8Array): number | undefined {
  // A plain integer of up to 15 digits (a score like ZADD's "0"), exact as a double: computed
  // here, without the string and pattern tests below (same answer: `Number` of it).
  const n = bytes.length;
  if (n > 0 && n <= 16) {
    let i = bytes[0] === 45 || bytes[0] === 43 ? 1 : 0;
    if (i < n && n - i <= 15) {
      let v = 0;
      for (; i < n; i++) {
        const d = bytes[i]! - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      if (i === n) return bytes[0] === 45 ? -v : v;
    }
  }
  const s = latin1.decode(bytes);
  if (s.length === 0 || s.length > 5000) return undefined;
  if (/^\s|\s$/.test(s)) return undefined;
  const lowered = s.toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(lowered)) return lowered.startsWith("-") ? -Infinity : Infinity;
  const hex = lowered.startsWith("0x", lowered[0] === "+" || lowered[0] === "-" ? 1 : 0);
  if (!hex && !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return undefined;
  const v = hex ? parseHexFloat(lowered) : Number(s);
  // strtod's ERANGE, which Redis refuses: a finite spelling that overflows to infinity, or a
  // nonzero one that underflows to zero ("1e400", "1e-400").
  if (v === undefined || !Number.isFinite(v)) return undefined;
  if (v === 0 && /[1-9a-f]/.test(lowered.replace(/^[+-]?(0x)?/, "").split(hex ? "p" : "e")[0]!)) {
    return undefined;
  }
  return v;
}

/**
 * A C99 hexadecimal float (`0x10`, `0x1.8p1`, `-0x.8p-3`), which Redis accepts wherever it reads
 * a double because it parses with strtod/strtold. Rounded once, to nearest even: the mantissa
 * keeps its first 30 hex digits (120 bits) with a sticky bit for any nonzero digit dropped, and
 * the power of two is applied in steps that cannot overflow or underflow early.
 */
function parseHexFloat(s: string): number | undefined {
  const m = /^([+-]?)0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$/.exec(s);
  if (m === null) return undefined;
  const int = m[2]!;
  const frac = m[3] ?? "";
  if (int.length + frac.length === 0) return undefined;
  let digits = (int + frac).replace(/^0+/, "");
  let exp = (m[4] === undefined ? 0 : Number(m[4])) - 4 * frac.length;
  if (!Number.isFinite(exp)) return undefined;
  if (digits.length > 30) {
    const sticky = /[1-9a-f]/.test(digits.slice(30));
    exp += 4 * (digits.length - 30);
    digits = digits.slice(0, 30) + (sticky ? "1" : "0");
    exp -= 4;
  }
  let v = digits.length === 0 ? 0 : Number(BigInt("0x" + digits));
  // Scale by 2^exp without an intermediate Infinity or 0.
  while (exp > 0 && v !== 0 && Number.isFinite(v)) {
    const step = Math.min(exp, 1000);
    v *= 2 ** step;
    exp -= step;
  }
  while (exp < 0 && v !== 0) {
    const step = Math.max(exp, -1000);
    v *= 2 ** step;
    exp -= step;
  }
  return m[1] === "-" ? -v : v;
}

/** Formats a double like Redis's `LD_STR_HUMAN`: plain decimal, no exponent, no trailing zeros. */
export function formatHumanDouble(x: number): string {
  if (Number.isInteger(x)) return BigInt(x).toString();
  let s = String(x);
  if (!s.includes("e")) return s;
  s = x.toFixed(20);
  if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  return s;
}

/** The `wrong number of arguments` error of `name` (lowercase, `a|b` for subcommands). */
export function arityError(name: string): ReplyError {
  return new ReplyError(`ERR wrong number of arguments for '${name}' command`);
}
