/**
 * The RESP server: accepts TCP (or TLS) connections, parses pipelined commands, runs them in
 * order against the engine and answers each read batch with one write.
 * ARCHITECTURE.md § "RESP server" describes the connection life cycle and the limits.
 *
 * Durability: a write command applies its batch to the engine at once (so later commands see
 * it) but its reply is held until the engine says the batch is durable; the replies of a read
 * batch are written only after every write it issued, and the latest write of any connection
 * it may have observed, are durable. A failed write turns its own reply into `-ERR …`.
 *
 * Invariants:
 * - Commands of one connection run one at a time, in arrival order.
 * - Nothing is executed after QUIT or after a protocol error in the same connection.
 * - A client counts against `maxClients` from accept to close.
 *
 * @module
 */

import { acceptLoop } from "../util/net.ts";
import { timingSafeEqual } from "@std/crypto/timing-safe-equal";
import {
  CityHallError,
  type Database,
  InvalidArgumentError,
  ProtocolError,
  type WriteOp,
} from "../mod.ts";
import { BATCH_OPS_MAX } from "../limits.ts";
import { AssertionError } from "../util/assert.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { buildCommandTable } from "./commands/mod.ts";
import {
  arityError,
  Client,
  type CommandContext,
  type CommandSpec,
  ERR_NOAUTH,
  lower,
  ReplyError,
  type ServerConfig,
  type ServerState,
  text,
} from "./context.ts";
import {
  CLIENTS_MAX_DEFAULT,
  CLIENTS_MAX_LIMIT,
  IDLE_TIMEOUT_S_DEFAULT,
  RESP_OUTPUT_FLUSH_BYTES,
} from "../limits.ts";
import { ServerMetrics } from "./metrics.ts";
import { HttpOnRespPortError, RespParser, RespWriter } from "./resp.ts";
import { ScanCursorTable } from "./scan_cursor.ts";

/** Options of `startServer`. */
export interface ServerOptions {
  /** Address to bind (default `127.0.0.1`). */
  hostname?: string;
  /** TCP port (default 7878; 0 picks a free one, see `Server.addr`). */
  port?: number;
  /** Token clients must give with AUTH or HELLO … AUTH; none = no authentication. */
  authToken?: string;
  /** Most connected clients (default 10,000). */
  maxClients?: number;
  /** Close clients idle this many seconds; 0 = never (default). */
  idleTimeoutS?: number;
  /** Serve TLS with this PEM certificate chain and key. */
  tls?: { cert: string; key: string };
  /** Where log lines go (default: nowhere). */
  logger?: Logger;
  /** The engine's sync mode, reported by INFO and CONFIG GET appendfsync (default "always"). */
  syncMode?: string;
  /**
   * Called by SHUTDOWN after the replies are sent; the CLI closes the server and the engine
   * and exits. Without it SHUTDOWN only closes the server.
   */
  onShutdown?: (options: { save: boolean }) => void | Promise<void>;
}

/** A running RESP server. */
export interface Server {
  /** The address it listens on (the real port when `port: 0` was asked). */
  readonly addr: Deno.NetAddr;
  /** Command counts, latency histograms and connection counters (for `/metrics`). */
  readonly metrics: ServerMetrics;
  /** Run-time settings (CONFIG SET changes them). */
  readonly config: ServerConfig;
  /** Number of connected clients. */
  readonly connectedClients: number;
  /** Resolves when the server has closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets running commands finish and answer, then closes every connection. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

/** True when `hostname` only accepts connections from this machine. */
export function isLoopback(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/**
 * The bind security rule: a non-loopback address needs a token unless `insecureNoAuth` says
 * otherwise. Throws `InvalidArgumentError` (how to fix it in the message) when refusing;
 * returns a warning to log loudly when the override is used, else `undefined`.
 */
export function checkBindSecurity(
  hostname: string,
  options: { authToken?: string | undefined; insecureNoAuth?: boolean | undefined } = {},
): string | undefined {
  if (isLoopback(hostname) || (options.authToken !== undefined && options.authToken !== "")) {
    return undefined;
  }
  if (options.insecureNoAuth) {
    return `Listening on ${hostname} without authentication: anyone who can reach this ` +
      `address can read and change every key (--insecure-no-auth)`;
  }
  throw new InvalidArgumentError(
    `Refusing to listen on non-loopback address ${hostname} without an auth token: set one ` +
      `with --auth-token-file FILE or CITYHALL_AUTH_TOKEN, or pass --insecure-no-auth`,
  );
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function addrString(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return String((addr as { path?: string }).path ?? "");
}

/** `-ERR unknown command …` exactly as Redis words it. */
export function unknownCommandError(args: Uint8Array[]): string {
  let rest = "";
  for (let i = 1; i < args.length && rest.length < 128; i++) {
    rest += `'${text(args[i]!).slice(0, 128 - rest.length)}' `;
  }
  return `ERR unknown command '${text(args[0]!).slice(0, 128)}', with args beginning with: ${rest}`;
}

const NO_AUTH_COMMANDS = new Set(["auth", "hello", "quit"]);
const encoder = new TextEncoder();

interface PendingWrite {
  promise: Promise<void>;
  /** Reply range in the client's output, set when the command finishes. */
  start: number;
  end: number;
}

/** Per-connection command context; fields change for every command. */
class Context implements CommandContext {
  args: Uint8Array[] = [];
  readonly pending: PendingWrite[] = [];
  constructor(
    readonly out: RespWriter,
    readonly client: Client,
    readonly server: ServerState,
    readonly core: ServerCore,
  ) {}

  write(ops: WriteOp[]): void {
    let promise: Promise<void>;
    if (ops.length <= BATCH_OPS_MAX) promise = this.server.db.write(ops);
    else {
      // Chunks are applied in the same synchronous run, so other clients see all or nothing.
      const parts: Promise<void>[] = [];
      for (let i = 0; i < ops.length; i += BATCH_OPS_MAX) {
        parts.push(this.server.db.write(ops.slice(i, i + BATCH_OPS_MAX)));
      }
      promise = Promise.all(parts).then(() => {});
    }
    this.core.trackWrite(promise);
    this.pending.push({ promise, start: -1, end: -1 });
  }
}

class ServerCore implements ServerState, Server {
  readonly db: Database;
  readonly logger: Logger;
  readonly metrics = new ServerMetrics();
  readonly config: ServerConfig;
  readonly clients = new Map<number, Client>();
  readonly scanCursors = new ScanCursorTable();
  readonly startTimeMs = Date.now();
  lastSaveMs = Date.now();
  readonly port: number;
  readonly hostname: string;
  readonly tls: boolean;
  readonly syncMode: string;
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly #listener: Deno.Listener;
  readonly #table: Map<string, CommandSpec>;
  readonly #tokenHash: Uint8Array | undefined;
  readonly #onShutdown: ServerOptions["onShutdown"];
  readonly #tasks = new Set<Promise<void>>();
  #nextClientId = 1;
  #closing = false;
  #closed: Promise<void> | undefined;
  #idleTimer: ReturnType<typeof setInterval>;
  #writesInFlight = 0;
  #lastWrite: Promise<void> = Promise.resolve();
  #acceptLoop: Promise<void>;
  #resolveFinished!: () => void;

  constructor(
    db: Database,
    listener: Deno.Listener,
    options: ServerOptions,
    tokenHash: Uint8Array | undefined,
  ) {
    this.db = db;
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.port = this.addr.port;
    this.hostname = this.addr.hostname;
    this.tls = options.tls !== undefined;
    this.logger = options.logger ?? silentLogger;
    this.syncMode = options.syncMode ?? "always";
    this.#onShutdown = options.onShutdown;
    this.config = {
      maxClients: options.maxClients ?? CLIENTS_MAX_DEFAULT,
      idleTimeoutS: options.idleTimeoutS ?? IDLE_TIMEOUT_S_DEFAULT,
    };
    this.#tokenHash = tokenHash;
    this.#table = buildCommandTable();
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#idleTimer = setInterval(() => this.#closeIdleClients(), 1000);
    // Never keeps the process alive on its own: the listener does.
    this.#idleTimer.unref();
    this.#acceptLoop = this.#accept();
  }

  get authRequired(): boolean {
    return this.#tokenHash !== undefined;
  }

  get connectedClients(): number {
    return this.clients.size;
  }

  async checkToken(token: Uint8Array): Promise<boolean> {
    if (this.#tokenHash === undefined) return true;
    // Hashing both sides makes the comparison constant-time whatever the lengths.
    return timingSafeEqual(await sha256(token), this.#tokenHash);
  }

  async shutdown(options: { save: boolean }): Promise<void> {
    if (this.#onShutdown) await this.#onShutdown(options);
    else await this.close();
  }

  trackWrite(promise: Promise<void>): void {
    this.#writesInFlight++;
    const done = () => {
      this.#writesInFlight--;
    };
    promise.then(done, done);
    this.#lastWrite = promise;
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      clearInterval(this.#idleTimer);
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      await this.#acceptLoop;
      // Idle clients close now; busy ones finish their batch, answer, then see #closing.
      for (const c of this.clients.values()) if (!c.busy) c.kill();
      const grace = setTimeout(() => {
        for (const c of this.clients.values()) c.kill();
      }, 5000);
      await Promise.allSettled([...this.#tasks]);
      clearTimeout(grace);
      this.logger("info", "RESP server closed", { port: this.port });
      this.#resolveFinished();
    })();
    return this.#closed;
  }

  #closeIdleClients(): void {
    const timeoutS = this.config.idleTimeoutS;
    if (timeoutS <= 0) return;
    const now = Date.now();
    for (const c of this.clients.values()) {
      if (!c.busy && now - c.lastInteractionMs > timeoutS * 1000) {
        this.logger("debug", "closing idle client", { client: c.id, addr: c.addr });
        c.kill();
      }
    }
  }

  #accept(): Promise<void> {
    return acceptLoop(this.#listener, {
      isClosing: () => this.#closing,
      logger: this.logger,
      what: "RESP",
      onConnection: (conn) => {
        const task = this.#serve(conn).catch((err) => {
          this.logger("error", "connection failed", { error: String(err) });
        });
        this.#tasks.add(task);
        task.finally(() => this.#tasks.delete(task));
      },
    });
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const id = this.#nextClientId++;
    this.metrics.connectionsReceived++;
    const closeConn = () => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    };
    if (this.clients.size >= this.config.maxClients) {
      this.metrics.connectionsRejected++;
      this.logger("warn", "rejecting client: max number of clients reached", {
        addr: addrString(conn.remoteAddr),
        maxclients: this.config.maxClients,
      });
      try {
        await writeAll(conn, encoder.encode("-ERR max number of clients reached\r\n"));
      } catch {
        // The client went away first.
      }
      closeConn();
      return;
    }
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // TLS connections may not expose it.
    }
    const out = new RespWriter();
    const client = new Client({
      id,
      addr: addrString(conn.remoteAddr),
      laddr: addrString(conn.localAddr),
      authenticated: this.#tokenHash === undefined,
      out,
      kill: closeConn,
    });
    this.clients.set(id, client);
    this.logger("debug", "client connected", { client: id, addr: client.addr });
    const parser = new RespParser();
    parser.restricted = !client.authenticated;
    const ctx = new Context(out, client, this, this);
    let reason = "client closed";
    try {
      while (!this.#closing) {
        let n: number | null;
        try {
          n = await conn.read(parser.writable());
        } catch {
          reason = "connection reset";
          break;
        }
        if (n === null) break;
        parser.commit(n);
        this.metrics.netInputBytes += n;
        client.lastInteractionMs = Date.now();
        client.busy = true;
        let keepOpen: boolean;
        try {
          keepOpen = await this.#runBatch(ctx, parser, conn);
        } catch (err) {
          if (err instanceof AssertionError) throw err;
          reason = `write failed: ${err instanceof Error ? err.message : String(err)}`;
          keepOpen = false;
        } finally {
          client.busy = false;
        }
        if (!keepOpen) {
          reason = client.closeAfterReply ? "quit" : "protocol error";
          break;
        }
      }
      if (this.#closing) reason = "server shutdown";
    } finally {
      this.clients.delete(id);
      closeConn();
      this.logger("debug", "client disconnected", { client: id, addr: client.addr, reason });
    }
  }

  /** Runs every complete command in the parser; false when the connection must close. */
  async #runBatch(ctx: Context, parser: RespParser, conn: Deno.Conn): Promise<boolean> {
    const { client, out } = ctx;
    while (true) {
      let args: Uint8Array[] | undefined;
      try {
        args = parser.next();
      } catch (err) {
        if (err instanceof HttpOnRespPortError) {
          this.logger(
            "warn",
            "Possible SECURITY ATTACK detected: HTTP request on the RESP port, closing connection",
            { client: client.id, addr: client.addr },
          );
          await this.#flush(ctx, conn);
          return false;
        }
        if (err instanceof ProtocolError) {
          this.metrics.protocolErrors++;
          this.logger("info", "protocol error, closing connection", {
            client: client.id,
            addr: client.addr,
            error: err.message,
          });
          out.error(`ERR ${err.message}`);
          await this.#flush(ctx, conn);
          return false;
        }
        throw err;
      }
      if (args === undefined) break;
      const running = this.#execute(ctx, args);
      if (running !== undefined) await running;
      parser.restricted = !client.authenticated;
      if (client.closeAfterReply) {
        await this.#flush(ctx, conn);
        return false;
      }
      if (out.length >= RESP_OUTPUT_FLUSH_BYTES) await this.#flush(ctx, conn);
    }
    await this.#flush(ctx, conn);
    return true;
  }

  /** Runs one command; returns a promise only when the command is asynchronous. */
  #execute(ctx: Context, args: Uint8Array[]): Promise<void> | undefined {
    const { out, client } = ctx;
    const name = lower(args[0]!);
    const start = out.length;
    const spec = this.#table.get(name);
    if (spec === undefined) {
      out.error(unknownCommandError(args));
      this.metrics.errorReplies++;
      return undefined;
    }
    client.lastCommand = name;
    if ((spec.arity > 0 && args.length !== spec.arity) || args.length < -spec.arity) {
      out.error(arityError(name).reply);
      this.metrics.record(name, 0, true);
      return undefined;
    }
    if (!client.authenticated && !NO_AUTH_COMMANDS.has(name)) {
      out.error(ERR_NOAUTH);
      this.metrics.record(name, 0, true);
      return undefined;
    }
    ctx.args = args;
    const firstPending = ctx.pending.length;
    const t0 = performance.now();
    const finish = (failed: boolean) => {
      for (let i = firstPending; i < ctx.pending.length; i++) {
        ctx.pending[i]!.start = start;
        ctx.pending[i]!.end = out.length;
      }
      this.metrics.record(name, (performance.now() - t0) / 1000, failed);
    };
    let result: void | Promise<void>;
    try {
      result = spec.handler(ctx);
    } catch (err) {
      this.#replyError(out, start, err, name);
      finish(true);
      return undefined;
    }
    if (result === undefined) {
      finish(false);
      return undefined;
    }
    return result.then(
      () => finish(false),
      (err) => {
        this.#replyError(out, start, err, name);
        finish(true);
      },
    );
  }

  #replyError(out: RespWriter, start: number, err: unknown, name: string): void {
    if (err instanceof AssertionError) throw err;
    out.truncate(start);
    if (err instanceof ReplyError) out.error(err.reply);
    else if (err instanceof CityHallError) {
      // Engine operating errors (InvalidArgumentError, ClosedError, IoError): the message.
      out.error(`ERR ${err.message}`);
    } else {
      this.logger("error", "command failed", { command: name, error: String(err) });
      out.error(`ERR internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Waits until every reply in the output may be sent, then writes the output once. */
  async #flush(ctx: Context, conn: Deno.Conn): Promise<void> {
    const out = ctx.out;
    const pending = ctx.pending;
    let failures: { start: number; end: number; message: string }[] | undefined;
    if (pending.length > 0) {
      // Writes of one group commit share one promise: await each distinct promise once.
      let last: Promise<unknown> | undefined;
      let error: unknown;
      let failed = false;
      for (const p of pending) {
        if (p.promise !== last) {
          last = p.promise;
          failed = false;
          try {
            await p.promise;
          } catch (e) {
            failed = true;
            error = e;
          }
        }
        if (failed) {
          (failures ??= []).push({
            start: p.start,
            end: p.end,
            message: `ERR ${error instanceof Error ? error.message : String(error)}`,
          });
        }
      }
      pending.length = 0;
    }
    if (this.#writesInFlight > 0) {
      // The replies may show another client's write that is not durable yet.
      await this.#lastWrite.catch(() => {});
    }
    if (out.length === 0) return;
    let bytes = out.take();
    if (failures !== undefined) bytes = spliceFailures(bytes, failures);
    this.metrics.netOutputBytes += bytes.length;
    await writeAll(conn, bytes);
  }
}

/** Replaces the reply ranges of failed writes with their errors. */
function spliceFailures(
  bytes: Uint8Array,
  failures: { start: number; end: number; message: string }[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  let lastStart = -1;
  for (const f of failures) {
    // Several writes of one command share a range: replace it once.
    if (f.start === lastStart || f.start < at) continue;
    lastStart = f.start;
    parts.push(bytes.subarray(at, f.start));
    const w = new RespWriter();
    w.error(f.message);
    parts.push(w.take().slice());
    at = f.end;
  }
  parts.push(bytes.subarray(at));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Starts the RESP server on `options.hostname:options.port` serving `db`. The bind security
 * rule is the caller's (see `checkBindSecurity`).
 */
export async function startServer(db: Database, options: ServerOptions = {}): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 7878;
  const maxClients = options.maxClients ?? CLIENTS_MAX_DEFAULT;
  if (!Number.isSafeInteger(maxClients) || maxClients < 1 || maxClients > CLIENTS_MAX_LIMIT) {
    throw new InvalidArgumentError(
      `Invalid option maxClients: ${maxClients} (must be an integer from 1 to ${CLIENTS_MAX_LIMIT})`,
    );
  }
  const idle = options.idleTimeoutS ?? IDLE_TIMEOUT_S_DEFAULT;
  if (!Number.isSafeInteger(idle) || idle < 0) {
    throw new InvalidArgumentError(
      `Invalid option idleTimeoutS: ${idle} (must be an integer >= 0)`,
    );
  }
  const tokenHash = options.authToken === undefined || options.authToken === ""
    ? undefined
    : await sha256(encoder.encode(options.authToken));
  const listener = options.tls
    ? Deno.listenTls({ hostname, port, cert: options.tls.cert, key: options.tls.key })
    : Deno.listen({ hostname, port });
  const server = new ServerCore(db, listener, options, tokenHash);
  server.logger("info", "RESP server listening", {
    addr: addrString(server.addr),
    tls: server.tls,
    auth: server.authRequired,
    maxclients: server.config.maxClients,
  });
  return server;
}
