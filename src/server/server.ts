/**
 * The RESP server: accepts TCP (or TLS) connections, admits them within the client caps, serves
 * each with a `Connection`, and watches every client's deadlines and output limits.
 * ARCHITECTURE.md § "RESP server" describes the connection life cycle and the limits.
 *
 * Durability: a write command applies its batch to the engine at once (so later commands see
 * it) but its reply is held until the engine says the batch is durable; the replies of a read
 * batch are written only after every write it issued, and the latest write of any connection
 * it may have observed, are durable. A failed write turns its own reply into `-ERR ...`.
 *
 * Invariants:
 * - A client counts against `maxClients` from accept to close; with a token, against
 *   `maxUnauthenticatedClients` until it authenticates. At either cap the oldest
 *   unauthenticated client is closed first; only when there is none is a new one refused.
 * - Every client is closed when a deadline of § "Client deadlines and caps" passes (checked every
 *   `CLIENT_CHECK_INTERVAL_MS`), whether or not it is busy.
 *
 * @module
 */

import { acceptLoop } from "../util/net.ts";
import { timingSafeEqual } from "../util/timing_safe_equal.ts";
import type { Database } from "../mod.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { buildCommandTable } from "./commands/mod.ts";
import { Client, type ServerConfig, type ServerState } from "./context.ts";
import { CLIENT_CHECK_INTERVAL_MS, TYPES_GC_INTERVAL_MS } from "../limits.ts";
import { KeyspaceNotifier } from "./notifications.ts";
import { TrackingTable } from "./tracking.ts";
import { Operator } from "./operator.ts";
import { type PublishHook, publishSeriesSamples, PubSub } from "./pubsub.ts";
import { AuthFailures } from "./auth_guard.ts";
import { Connection } from "./connection.ts";
import { Context, Dispatcher, type WriteGroup } from "./dispatch.ts";
import { ExclusiveGate } from "./gate.ts";
import { ServerMetrics } from "./metrics.ts";
import {
  attachRegistry,
  attachRegistryLoader,
  detachRegistry,
  detachRegistryLoader,
} from "../metrics/attach.ts";
import type { Registry } from "../metrics/registry.ts";
import { RespWriter } from "./resp_writer.ts";
import { ScanCursorTable } from "./scan_cursor.ts";
import { execTransaction, WatchRegistry } from "./transaction.ts";
import type { CommandContext } from "./context.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import type { VersionAllocator } from "../keyspace/mod.ts";
import {
  holdsSeries,
  importTimeseries,
  type TimeseriesModule,
  TimeSeriesSlot,
} from "./_timeseries_slot.ts";
import { TypeGarbageCollector } from "../types/gc.ts";
import { registryFor } from "./commands/blocking_registry.ts";
import { passedDeadline } from "./_client_deadlines.ts";
import { checkedConfig, type ServerOptions } from "./server_options.ts";

export { unknownCommandError } from "./dispatch.ts";
export { checkBindSecurity, isLoopback } from "./bind_security.ts";
export type { ServerOptions } from "./server_options.ts";

/** A running RESP server. */
export interface Server {
  /** The address it listens on (the real port when `port: 0` was asked). */
  readonly addr: Deno.NetAddr;
  /** Command counts, latency histograms and connection counters (for `/metrics`). */
  readonly metrics: ServerMetrics;
  /**
   * The stats declared over `metrics` (attached to the database under `resp`), declared when
   * first asked for: INFO, `/metrics` and `/v1/stats` load them through the database's attached
   * loaders (`loadAttachedRegistries`).
   */
  loadRegistry(): Promise<Registry>;
  /** Run-time settings (CONFIG SET changes them). */
  readonly config: ServerConfig;
  /** Number of connected clients. */
  readonly connectedClients: number;
  /**
   * True while the cron sleeps: it stops once no client has been connected for a while and
   * wakes with the next one (`src/server/operator.ts`).
   */
  readonly cronAsleep: boolean;
  /**
   * Publishing for other layers (the time-series live feed, see `publishSeriesSamples`):
   * ARCHITECTURE.md § "Pub/sub" (Publishing from other layers).
   */
  readonly pubsub: PublishHook;
  /** Resolves when the server has closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets running commands finish and answer, then closes every connection. */
  close(): Promise<void>;
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

function hostString(addr: Deno.Addr): string {
  return addr.transport === "tcp" || addr.transport === "udp" ? addr.hostname : addrString(addr);
}

const encoder = new TextEncoder();

/** A write group as the server tracks it: the engine's promise and its writes in flight. */
interface TrackedGroup extends WriteGroup {
  readonly promise: Promise<void>;
  writes: number;
}

class ServerCore implements ServerState, Server {
  readonly db: Database;
  readonly logger: Logger;
  readonly metrics = new ServerMetrics();
  #registry: Registry | undefined;
  readonly config: ServerConfig;
  readonly clients = new Map<number, Client>();
  readonly scanCursors = new ScanCursorTable();
  readonly watches = new WatchRegistry();
  readonly pubsub: PubSub;
  readonly notifier: KeyspaceNotifier;
  readonly tracking: TrackingTable;
  readonly operator: Operator;
  readonly gate = new ExclusiveGate();
  readonly dispatcher: Dispatcher;
  readonly #timeseries: TimeSeriesSlot;
  /** The member types' garbage sweep (hashes, sets, sorted sets, lists). */
  readonly typesGc: TypeGarbageCollector;
  readonly authFailures = new AuthFailures();
  readonly startTimeMs = Date.now();
  lastSaveMs = Date.now();
  changesSinceSave = 0;
  readonly port: number;
  readonly hostname: string;
  readonly tls: boolean;
  readonly syncMode: string;
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly #listener: Deno.Listener;
  readonly #tokenHash: Uint8Array | undefined;
  readonly #onShutdown: ServerOptions["onShutdown"];
  readonly #tasks = new Set<Promise<void>>();
  /** Clients not yet authenticated, oldest first (only with a token). */
  readonly #unauthenticated = new Map<number, Client>();
  #nextClientId = 1;
  #closing = false;
  #closed: Promise<void> | undefined;
  /** The client check's timer, while clients are connected (`#armClientCheck`). */
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  writesInFlight = 0;
  lastWrite: Promise<void> = Promise.resolve();
  #acceptLoop: Promise<void>;
  #resolveFinished!: () => void;

  constructor(
    db: Database,
    listener: Deno.Listener,
    options: ServerOptions,
    config: ServerConfig,
    tokenHash: Uint8Array | undefined,
    layer?: TimeseriesModule,
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
    this.config = config;
    this.#tokenHash = tokenHash;
    this.pubsub = new PubSub(this);
    // The live feed: samples a command wrote go out on `__ts__:<key>` while anyone listens
    // (ARCHITECTURE.md § "Pub/sub", Publishing from other layers).
    const pubsub = this.pubsub;
    this.#timeseries = new TimeSeriesSlot(db, options.timeseries, {
      active: () => !pubsub.idle,
      samples: (key, samples) => publishSeriesSamples(pubsub, key, samples),
    }, options.logger);
    if (layer !== undefined) this.#timeseries.open(layer);
    this.notifier = new KeyspaceNotifier(this.pubsub, this);
    // Client-side caching: while any client tracks, every batch the engine applies (whoever
    // wrote it: a command, the HTTP API, a leader's record) and every expired key are heard.
    const onExpired = (key: Uint8Array) => this.tracking.keyChanged(key, undefined);
    let stopHearing: (() => void) | undefined;
    let stopHearingReplaced: (() => void) | undefined;
    this.tracking = new TrackingTable({
      config: this.config,
      metrics: this.metrics,
      logger: this.logger,
      clients: this.clients,
      active: (on) => {
        this.notifier.expiryListener = on ? onExpired : undefined;
        stopHearing?.();
        stopHearing = on ? db.onApplied((ops) => this.tracking.applied(ops)) : undefined;
        stopHearingReplaced?.();
        stopHearingReplaced = on ? db.onReplaced(() => this.tracking.replaced()) : undefined;
      },
      logKeys: (value, visit) => this.#timeseries.loaded?.changedKeys(value, visit),
    });
    this.operator = new Operator(this);
    this.operator.start();
    this.typesGc = new TypeGarbageCollector(
      db,
      (err) => this.logger("warn", "member-type garbage sweep failed", { error: String(err) }),
    );
    this.typesGc.start(TYPES_GC_INTERVAL_MS);
    // The groups that use the time-series layer open it with their first command.
    const openTimeseries = () => this.loadTimeseries();
    this.dispatcher = new Dispatcher(
      buildCommandTable({
        timeseries: openTimeseries,
        timeseriesQuery: openTimeseries,
        dump: openTimeseries,
      }),
      this,
    );
    // The stats' declarations load when a view first asks for them (ARCHITECTURE.md § "Memory").
    attachRegistryLoader(db, "resp", () => this.loadRegistry());
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#acceptLoop = this.#accept();
  }

  /** Declares the stats once, attaches them to the database and returns them. */
  async loadRegistry(): Promise<Registry> {
    if (this.#registry === undefined) {
      const { serverRegistry } = await import("./metric_decls.ts");
      if (this.#registry === undefined) {
        this.#registry = serverRegistry(this);
        detachRegistryLoader(this.db, "resp");
        if (!this.#closing) attachRegistry(this.db, "resp", this.#registry);
      }
    }
    return this.#registry;
  }

  /** The time-series layer; only called where a series exists, which means it is open. */
  get timeseries(): TimeSeriesStore {
    const store = this.#timeseries.loaded;
    if (store === undefined) throw new Error("The time-series layer is not open");
    return store;
  }

  /** The time-series layer if it is open (SAVE, FLUSHALL act on it only then). */
  get timeseriesIfOpen(): TimeSeriesStore | undefined {
    return this.#timeseries.loaded;
  }

  /** Opens the time-series layer if it is not yet (once). */
  loadTimeseries(): Promise<TimeSeriesStore> {
    return this.#timeseries.load();
  }

  /** The data versions of every type (one counter, shared with the time-series layer). */
  get versions(): VersionAllocator {
    return this.#timeseries.versions;
  }

  get authRequired(): boolean {
    return this.#tokenHash !== undefined;
  }

  get connectedClients(): number {
    return this.clients.size;
  }

  get cronAsleep(): boolean {
    return this.operator.asleep;
  }

  get closing(): boolean {
    return this.#closing;
  }

  get outputHardLimitBytes(): number {
    return this.config.outputHardLimitBytes;
  }

  /** Clients connected and not yet authenticated. */
  get unauthenticatedClients(): number {
    return this.#unauthenticated.size;
  }

  async checkToken(token: Uint8Array): Promise<boolean> {
    if (this.#tokenHash === undefined) return true;
    // Hashing both sides makes the comparison constant-time whatever the lengths.
    return timingSafeEqual(await sha256(token), this.#tokenHash);
  }

  recordAuthFailure(client: Client): void {
    client.authFailures++;
    this.metrics.authFailures++;
    const verdict = this.authFailures.record(client.host, client.authFailures, Date.now());
    client.replyDelayMs = verdict.delayMs;
    this.logger("warn", "authentication failed", {
      client: client.id,
      addr: client.addr,
      failures: client.authFailures,
      source_failures: verdict.sourceFailures,
    });
    if (verdict.close) {
      client.closeAfterReply = true;
      client.closeReason ??= "too many failed AUTH attempts";
      this.metrics.authFailureDisconnections++;
    }
  }

  execTransaction(ctx: CommandContext): void | Promise<void> {
    return execTransaction(this, ctx);
  }

  /** The server as transactions see it. */
  get state(): ServerState {
    return this;
  }

  runQueued(
    ...args: Parameters<Dispatcher["runQueued"]>
  ): ReturnType<Dispatcher["runQueued"]> {
    return this.dispatcher.runQueued(...args);
  }

  onAuthenticated(client: Client): void {
    this.#unauthenticated.delete(client.id);
  }

  beforeBatch(): void {
    this.operator.beforeBatch();
  }

  async shutdown(options: { save: boolean }): Promise<void> {
    if (this.#onShutdown) await this.#onShutdown(options);
    else await this.close();
  }

  trackWrite(promise: Promise<void>): WriteGroup {
    this.writesInFlight++;
    // The writes of one group commit share the engine's promise: one reaction per group.
    const last = this.#trackedGroup;
    if (last !== undefined && last.promise === promise) {
      last.writes++;
      return last;
    }
    const group: TrackedGroup = {
      promise,
      writes: 1,
      done: promise.then(
        () => this.#settle(group, false, undefined),
        (err) => this.#settle(group, true, err),
      ),
      settled: false,
      failed: false,
      error: undefined,
    };
    this.#trackedGroup = group;
    this.lastWrite = group.done;
    return group;
  }

  #settle(group: TrackedGroup, failed: boolean, error: unknown): void {
    this.writesInFlight -= group.writes;
    if (this.#trackedGroup === group) this.#trackedGroup = undefined;
    group.settled = true;
    group.failed = failed;
    group.error = error;
  }

  /** The newest group commit written to, and how many writes it holds. */
  #trackedGroup: TrackedGroup | undefined;

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      clearInterval(this.#checkTimer);
      this.operator.stop();
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      await this.#acceptLoop;
      // Idle clients close now; busy ones finish their batch, answer, then see #closing.
      for (const c of this.clients.values()) if (!c.busy) c.kill("server shutdown");
      // Blocked clients (BLPOP...) get their timeout reply now, then see #closing.
      registryFor(this.clients)?.cancelAll();
      const grace = setTimeout(() => {
        for (const c of this.clients.values()) c.kill("server shutdown");
      }, 5000);
      await Promise.allSettled([...this.#tasks]);
      clearTimeout(grace);
      await this.#timeseries.close();
      await this.typesGc.close();
      detachRegistryLoader(this.db, "resp");
      if (this.#registry !== undefined) detachRegistry(this.db, "resp", this.#registry);
      this.logger("info", "RESP server closed", { port: this.port });
      this.#resolveFinished();
    })();
    return this.#closed;
  }

  /**
   * Checks the clients' deadlines every `CLIENT_CHECK_INTERVAL_MS` from the first client on; the
   * check ends itself when none is left, so that an idle server runs no timer for it.
   */
  #armClientCheck(): void {
    if (this.#checkTimer !== undefined || this.#closing) return;
    this.#checkTimer = setInterval(() => this.#checkClients(), CLIENT_CHECK_INTERVAL_MS);
    // Never keeps the process alive on its own: the listener does.
    Deno.unrefTimer(this.#checkTimer);
  }

  #checkClients(): void {
    if (this.clients.size === 0) {
      clearInterval(this.#checkTimer);
      this.#checkTimer = undefined;
      return;
    }
    const now = Date.now();
    for (const c of this.clients.values()) {
      const passed = passedDeadline(c, this.config, this.authRequired, now);
      if (passed === undefined) continue;
      (this.metrics[passed.counter] as number)++;
      this.logger(passed.reason === "idle timeout" ? "debug" : "info", "closing client", {
        client: c.id,
        addr: c.addr,
        reason: passed.reason,
      });
      c.kill(passed.reason);
    }
  }

  /** Closes the oldest unauthenticated client to make room; false when there is none. */
  #evictUnauthenticated(why: string): boolean {
    for (const [id, c] of this.#unauthenticated) {
      this.#unauthenticated.delete(id);
      if (c.authenticated) continue;
      this.clients.delete(id);
      this.metrics.unauthenticatedEvictions++;
      this.logger("info", "closing client", { client: id, addr: c.addr, reason: why });
      c.kill(why);
      return true;
    }
    return false;
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

  /** Admits a new connection within the caps; false when it must be refused. */
  #admit(): boolean {
    if (
      this.authRequired && this.#unauthenticated.size >= this.config.maxUnauthenticatedClients
    ) this.#evictUnauthenticated("too many unauthenticated clients");
    if (this.clients.size < this.config.maxClients) return true;
    return this.#evictUnauthenticated("max number of clients reached");
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
    if (!this.#admit()) {
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
      host: hostString(conn.remoteAddr),
      laddr: addrString(conn.localAddr),
      authenticated: this.#tokenHash === undefined,
      out,
      kill: closeConn,
    });
    this.clients.set(id, client);
    this.#armClientCheck();
    this.operator.wake();
    if (!client.authenticated) this.#unauthenticated.set(id, client);
    this.logger("debug", "client connected", { client: id, addr: client.addr });
    const connection = new Connection(this, conn, new Context(out, client, this, this));
    let reason = "connection failed";
    try {
      reason = await connection.run();
    } finally {
      this.clients.delete(id);
      this.#unauthenticated.delete(id);
      this.watches.unwatchAll(client);
      client.multi = undefined;
      client.closed = true;
      this.pubsub.forget(client);
      this.tracking.disable(client);
      this.operator.monitors.remove(client);
      client.pushQueue = undefined;
      closeConn();
      this.logger("debug", "client disconnected", { client: id, addr: client.addr, reason });
    }
  }
}

/**
 * Starts the RESP server on `options.hostname:options.port` serving `db`. The bind security
 * rule is the caller's (see `checkBindSecurity`).
 */
export async function startServer(db: Database, options: ServerOptions = {}): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 7878;
  const config = checkedConfig(options);
  const tokenHash = options.authToken === undefined || options.authToken === ""
    ? undefined
    : await sha256(encoder.encode(options.authToken));
  // Data with series: the time-series layer opens before the first client can reach it.
  const layer = options.timeseries === undefined && holdsSeries(db)
    ? await importTimeseries()
    : undefined;
  const listener = options.tls
    ? Deno.listenTls({ hostname, port, cert: options.tls.cert, key: options.tls.key })
    : Deno.listen({ hostname, port });
  const server = new ServerCore(db, listener, options, config, tokenHash, layer);
  server.logger("info", "RESP server listening", {
    addr: addrString(server.addr),
    tls: server.tls,
    auth: server.authRequired,
    maxclients: server.config.maxClients,
  });
  return server;
}
