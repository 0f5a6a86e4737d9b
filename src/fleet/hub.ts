/**
 * The hub of a fleet: a sync listener that edges dial (`cityhall hub --sync-port 7881`), one
 * session per site (`hub_session.ts`), each site's data applied under its namespace
 * (`hub_apply.ts`), and the status of every site for INFO sites, `/metrics` and
 * `cityhall hub site list`. ARCHITECTURE.md § "Fleets: hub and uplink".
 *
 * Admission, with the limits of § "Fleet limits": at most `HUB_HANDSHAKES_MAX` connections in
 * the handshake (a new one past it closes the oldest), each within `HANDSHAKE_TIMEOUT_MS` of
 * its accept; at most `HUB_SESSIONS_MAX` sessions, one per site (a reconnect replaces the
 * older session).
 *
 * @module
 */

import { replicationPort } from "../engine/mod.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import { registryKey } from "../timeseries/log.ts";
import { attachKeyGuard } from "../server/key_guard.ts";
import type { Database } from "../engine/mod.ts";
import { type FileSystem, joinPath, writeFileAtomic } from "../fs/mod.ts";
import {
  FETCH_WAIT_MS_DEFAULT,
  HANDSHAKE_TIMEOUT_MS,
  HEARTBEAT_MS_DEFAULT,
  HUB_HANDSHAKES_MAX,
  HUB_PARTIAL_FRAMES_BYTES_MAX,
  HUB_SESSIONS_MAX,
  HUB_SYNC_PORT_DEFAULT,
  REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
  UPLINK_FETCH_BYTES_DEFAULT,
} from "../limits.ts";
import { ERROR_REFUSED, ERROR_SHUTDOWN, parseHexId } from "../replication/frame.ts";
import type { Refusal } from "../replication/handshake.ts";
import {
  type LogFields,
  type Logger,
  type LogLevel,
  silentLogger,
  ThrottledLog,
} from "../util/log.ts";
import { acceptLoop } from "../util/net.ts";
import { hex } from "./frames.ts";
import { SiteApplier, TrustedWriter } from "./hub_apply.ts";
import { alignRetention, type HubRetention } from "./hub_series.ts";
import { HubSession } from "./hub_session.ts";
import { hubWriteGuard, siteKeyRefusal } from "./namespace.ts";
import { HUB_DIR_NAME, loadSites, type SiteRecord } from "./sites.ts";
import {
  etaSeconds,
  type MetricFamily,
  RateMeter,
  statusFamilies,
  statusInfoPairs,
  type SyncStatus,
} from "./status.ts";

/** The hub's status file (what `cityhall hub site list` reads with the hub stopped). */
export const HUB_STATUS_FILE_NAME = "status.json";
/** Least time between two writes of the hub's status file. */
const HUB_STATUS_WRITE_INTERVAL_MS = 1_000;
/** Least time between two rate-limited log lines about unauthenticated peers. */
const PRE_AUTH_LOG_INTERVAL_MS = 10_000;

/** Options of `startHub`. */
export interface HubOptions {
  /** Address to bind (default 127.0.0.1). */
  hostname?: string;
  /** Sync port (default 7881; 0 picks a free one, see `addr`). */
  port?: number;
  /** Serve TLS with this PEM certificate chain and key. */
  tls?: { cert: string; key: string };
  /** Heartbeat interval told to edges and longest long-poll (default 1000 ms). */
  heartbeatMs?: number;
  /** Close a session silent this long (default 10,000 ms). */
  idleTimeoutMs?: number;
  /** Time from accept to a complete UPLINK_HELLO (default 10,000 ms; tests shorten it). */
  handshakeTimeoutMs?: number;
  /** Record bytes asked per FETCH (default 1 MiB). */
  fetchBytes?: number;
  /** Long-poll asked per FETCH (default 1000 ms). */
  fetchWaitMs?: number;
  /** Log sink. */
  logger?: Logger;
  /** The hub's time-series layer: sites' series are replayed into it (none: dropped). */
  timeseries?: TimeSeriesStore;
  /** RETENTION of the series from sites (`--retention`; default 0, keep everything). */
  seriesRetention?: HubRetention;
}

/** A running hub. */
export interface FleetHub {
  /** The sync listener's address. */
  readonly addr: Deno.NetAddr;
  /** Every registered site's status, in name order. */
  statuses(): SiteStatus[];
  /** The `INFO sites` lines. */
  infoLines(): [string, string | number][];
  /** The `/metrics` families of every site. */
  metricFamilies(): MetricFamily[];
  /** Stops listening and closes every session. */
  close(): Promise<void>;
}

/** A site's status at the hub. */
export interface SiteStatus extends SyncStatus {
  /** The edge recorded for the site (32 hex digits), or null before first contact. */
  edgeId: string | null;
  /** The edge's address in the current or last session. */
  address: string;
}

/** What the hub keeps per site while it runs. */
export class SiteState {
  readonly name: string;
  readonly applier: SiteApplier;
  readonly meter = new RateMeter();
  record: SiteRecord;
  session: HubSession | undefined;
  state = "offline";
  address = "";
  ackedSeq = 0;
  edgeDurableSeq = 0;
  behindBytes = 0;
  behindMs = 0;
  behindAtMs = 0;
  lastContactMs = 0;
  lastError = "";
  wireBytes = 0;
  entries = 0;
  resumes = 0;
  snapshots = 0;
  /** The edge lost its position in its WAL: the next session starts with a snapshot. */
  needsSnapshot = false;
  /** A frame a cut link interrupted, for RESUME: its bytes so far and the edge it came from. */
  partial: { bytes: Uint8Array; edgeId: string } | undefined;

  constructor(record: SiteRecord, applier: SiteApplier) {
    this.name = record.name;
    this.record = record;
    this.applier = applier;
  }

  /** The status as INFO, `/metrics` and the status file show it. */
  status(nowMs: number): SiteStatus {
    const rates = this.meter.rates();
    const behindEntries = Math.max(0, this.edgeDurableSeq - this.ackedSeq);
    const behindSeconds = behindEntries === 0 || this.behindAtMs === 0
      ? 0
      : Math.round((this.behindMs + nowMs - this.behindAtMs) / 1000);
    return {
      site: this.name,
      state: this.state,
      edgeId: this.record.edgeId,
      address: this.address,
      ackedSeq: this.ackedSeq,
      edgeDurableSeq: this.edgeDurableSeq,
      behindEntries,
      behindBytes: behindEntries === 0 ? 0 : this.behindBytes,
      behindSeconds,
      rateBytesPerSec: rates.bytesPerSec,
      rateEntriesPerSec: rates.entriesPerSec,
      etaSeconds: etaSeconds(behindEntries, rates.entriesPerSec),
      lastContactMs: this.lastContactMs,
      wireBytes: this.wireBytes,
      entries: this.entries,
      resumes: this.resumes,
      snapshots: this.snapshots,
      lastError: this.lastError,
    };
  }
}

/** What a session needs from its hub (`hub_session.ts`). */
export interface HubCore {
  readonly db: Database;
  readonly fs: FileSystem;
  readonly logger: Logger;
  readonly writer: TrustedWriter;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly fetchBytes: number;
  readonly fetchWaitMs: number;
  /** The site registered under `name` (the registry is re-read first). */
  site(name: string): SiteState | undefined;
  /** Capacity and one session per site; `undefined` = admitted. */
  admit(session: HubSession, site: SiteState): Refusal | undefined;
  /** Where a site's snapshot files are staged. */
  stagingDir(site: string): string;
  /** Keeps a cut frame for RESUME within the hub's budget. */
  keepPartial(site: SiteState, bytes: Uint8Array, edgeId: string): void;
  /** Log lines about unauthenticated peers, rate-limited. */
  logPreAuth(message: string, fields: LogFields): void;
  /** The status changed: write the status file soon. */
  dirty(): void;
  /** The session has ended. */
  sessionEnded(session: HubSession): void;
}

/** Starts the hub's sync listener on `db` (the hub's own database). */
export function startHub(db: Database, options: HubOptions = {}): FleetHub {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? HUB_SYNC_PORT_DEFAULT;
  const listener = options.tls
    ? Deno.listenTls({ hostname, port, cert: options.tls.cert, key: options.tls.key })
    : Deno.listen({ hostname, port });
  const hub = new Hub(db, listener, options);
  hub.logger("info", "hub sync listener started", {
    addr: `${hub.addr.hostname}:${hub.addr.port}`,
    tls: options.tls !== undefined,
    hubId: hex(db.databaseId),
    sites: hub.siteCount,
  });
  return hub;
}

class Hub implements FleetHub, HubCore {
  readonly db: Database;
  readonly fs: FileSystem;
  readonly logger: Logger;
  readonly writer = new TrustedWriter();
  readonly timeseries: TimeSeriesStore | undefined;
  readonly seriesRetention: HubRetention;
  readonly addr: Deno.NetAddr;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly fetchBytes: number;
  readonly fetchWaitMs: number;
  readonly #listener: Deno.Listener;
  readonly #sites = new Map<string, SiteState>();
  readonly #sessions = new Set<HubSession>();
  readonly #handshaking = new Set<HubSession>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #acceptLoop: Promise<void>;
  #closing = false;
  #closed: Promise<void> | undefined;
  #dirty = true;
  #statusWrittenMs = 0;
  readonly #preAuthLog: ThrottledLog;
  #partialBytes = 0;
  #sitesReadMs = 0;

  constructor(db: Database, listener: Deno.Listener, options: HubOptions) {
    this.db = db;
    this.fs = replicationPort(db).fileSystem;
    this.logger = options.logger ?? silentLogger;
    this.#preAuthLog = new ThrottledLog(this.logger, PRE_AUTH_LOG_INTERVAL_MS);
    this.timeseries = options.timeseries;
    this.seriesRetention = options.seriesRetention ?? 0;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
    this.idleTimeoutMs = options.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.fetchBytes = options.fetchBytes ?? UPLINK_FETCH_BYTES_DEFAULT;
    this.fetchWaitMs = Math.min(options.fetchWaitMs ?? FETCH_WAIT_MS_DEFAULT, this.heartbeatMs);
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.#reloadSites();
    db.setWriteGuard(
      hubWriteGuard(
        () => this.#sites.keys(),
        () => this.writer.active,
        (version) => db.getEntry(registryKey(version))?.value,
      ),
    );
    attachKeyGuard(db, siteKeyRefusal(() => this.#sites.keys()));
    this.#alignRetention();
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    this.#acceptLoop = acceptLoop(listener, {
      isClosing: () => this.#closing,
      logger: this.logger,
      what: "hub sync",
      onConnection: (conn) => this.#startSession(conn),
    });
  }

  /** A fixed `--retention` applies to the sites' series already here, too. */
  #alignRetention(): void {
    const ms = this.seriesRetention;
    if (this.timeseries === undefined || ms === "edge") return;
    const aligned = alignRetention(
      this.timeseries,
      this.#sites.keys(),
      ms,
      (ops) => this.writer.write(this.db, ops),
    );
    if (aligned.changed === 0) return;
    this.logger("info", "sites' series given the hub's retention", {
      series: aligned.changed,
      retention_ms: ms,
    });
    aligned.durable.catch((err) =>
      this.logger("warn", "cannot apply the hub's retention", { error: String(err) })
    );
  }

  get siteCount(): number {
    return this.#sites.size;
  }

  /** Re-reads `sites.json`: new sites appear, removed ones lose their session. */
  #reloadSites(): void {
    this.#sitesReadMs = Date.now();
    let records: SiteRecord[];
    try {
      records = loadSites(this.fs, this.db.dir);
    } catch (err) {
      this.logger("error", "cannot read the site registry", { error: String(err) });
      return;
    }
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.name);
      const known = this.#sites.get(record.name);
      if (known === undefined) {
        const applier = new SiteApplier(
          this.db,
          record.name,
          this.writer,
          this.logger,
          this.timeseries,
          this.seriesRetention,
        );
        const site = new SiteState(record, applier);
        const edge = record.edgeId === null ? undefined : parseHexId(record.edgeId);
        if (edge !== undefined) site.ackedSeq = applier.position(edge);
        this.#sites.set(record.name, site);
        this.#dirty = true;
        continue;
      }
      if (
        known.record.edgeId !== record.edgeId || known.record.tokenSha256 !== record.tokenSha256
      ) {
        // Reset or a new token: the current session was admitted under the old record.
        known.session?.refuse(ERROR_REFUSED, "Site was changed at the hub");
        known.partial = undefined;
      }
      known.record = record;
    }
    for (const [name, site] of this.#sites) {
      if (seen.has(name)) continue;
      site.session?.refuse(ERROR_REFUSED, "Site was removed at the hub");
      this.#sites.delete(name);
      this.#dirty = true;
      this.logger("info", "site removed", { site: name });
    }
  }

  site(name: string): SiteState | undefined {
    this.#reloadSites();
    return this.#sites.get(name);
  }

  stagingDir(site: string): string {
    return joinPath(this.db.dir, HUB_DIR_NAME, "staging", site);
  }

  keepPartial(site: SiteState, bytes: Uint8Array, edgeId: string): void {
    if (site.partial !== undefined) this.#partialBytes -= site.partial.bytes.length;
    site.partial = undefined;
    if (bytes.length > HUB_PARTIAL_FRAMES_BYTES_MAX / 4) return;
    // Oldest out first until the new one fits the budget.
    for (const other of this.#sites.values()) {
      if (this.#partialBytes + bytes.length <= HUB_PARTIAL_FRAMES_BYTES_MAX) break;
      if (other.partial === undefined) continue;
      this.#partialBytes -= other.partial.bytes.length;
      other.partial = undefined;
    }
    site.partial = { bytes, edgeId };
    this.#partialBytes += bytes.length;
  }

  dirty(): void {
    this.#dirty = true;
  }

  #tick(): void {
    this.#reloadSites();
    const now = Date.now();
    if (this.#dirty || now - this.#statusWrittenMs > 10 * HUB_STATUS_WRITE_INTERVAL_MS) {
      this.#writeStatus(now);
    }
  }

  #writeStatus(now: number): void {
    this.#dirty = false;
    this.#statusWrittenMs = now;
    const body = {
      hubId: hex(this.db.databaseId),
      syncPort: this.addr.port,
      pid: Deno.pid,
      updatedMs: now,
      sites: this.statuses(),
    };
    try {
      const dir = joinPath(this.db.dir, HUB_DIR_NAME);
      this.fs.mkdirp(dir);
      writeFileAtomic(
        this.fs,
        dir,
        HUB_STATUS_FILE_NAME,
        new TextEncoder().encode(JSON.stringify(body, null, 2) + "\n"),
      );
    } catch (err) {
      this.logger("warn", "cannot write the hub status file", { error: String(err) });
    }
  }

  #startSession(conn: Deno.Conn): void {
    if (this.#handshaking.size >= HUB_HANDSHAKES_MAX) {
      const oldest = this.#handshaking.values().next().value!;
      this.#handshaking.delete(oldest);
      this.logPreAuth("too many uplink handshakes in progress: closed the oldest", {
        addr: oldest.addr,
        limit: HUB_HANDSHAKES_MAX,
      });
      oldest.close();
    }
    const session = new HubSession(this, conn);
    this.#sessions.add(session);
    this.#handshaking.add(session);
    const task = session.run().catch((err) => {
      this.logger("warn", "uplink session failed", { addr: session.addr, error: String(err) });
    }).finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  logPreAuth(message: string, fields: LogFields, level: LogLevel = "warn"): void {
    this.#preAuthLog.log(level, message, fields);
  }

  admit(session: HubSession, site: SiteState): Refusal | undefined {
    if (this.#closing) {
      return { code: ERROR_SHUTDOWN, message: "Hub is shutting down", reason: "shutting down" };
    }
    const previous = site.session;
    if (previous !== undefined && previous !== session) {
      site.session = undefined;
      previous.refuse(ERROR_REFUSED, "Replaced by a newer connection of the same site");
    }
    let admitted = 0;
    for (const s of this.#sites.values()) if (s.session !== undefined) admitted++;
    if (admitted >= HUB_SESSIONS_MAX) {
      return {
        code: ERROR_REFUSED,
        message: `Too many uplink sessions (limit ${HUB_SESSIONS_MAX})`,
        reason: "too many sessions",
      };
    }
    this.#handshaking.delete(session);
    site.session = session;
    site.state = "online";
    site.address = session.addr;
    this.#dirty = true;
    return undefined;
  }

  sessionEnded(session: HubSession): void {
    this.#sessions.delete(session);
    this.#handshaking.delete(session);
    for (const site of this.#sites.values()) {
      if (site.session !== session) continue;
      site.session = undefined;
      if (site.state !== "refused") site.state = "offline";
      this.#dirty = true;
      this.logger("info", "site disconnected", { site: site.name, addr: session.addr });
    }
  }

  statuses(): SiteStatus[] {
    const now = Date.now();
    // A site added a moment ago is listed too (at most one registry read per 200 ms).
    if (now - this.#sitesReadMs >= 200) this.#reloadSites();
    return [...this.#sites.values()]
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
      .map((s) => s.status(now));
  }

  infoLines(): [string, string | number][] {
    const statuses = this.statuses();
    const lines: [string, string | number][] = [
      ["cityhall_role", "hub"],
      ["hub_id", hex(this.db.databaseId)],
      ["sync_port", this.addr.port],
      ["sites", statuses.length],
      ["sites_connected", statuses.filter((s) => s.state === "online").length],
    ];
    statuses.forEach((s, i) => {
      lines.push([`site${i}`, statusInfoPairs(s).map(([k, v]) => `${k}=${v}`).join(",")]);
    });
    return lines;
  }

  metricFamilies(): MetricFamily[] {
    return statusFamilies("cityhall_site", this.statuses(), (s) => ({ site: s.site }));
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      clearInterval(this.#timer);
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      await this.#acceptLoop;
      for (const s of this.#sessions) s.refuse(ERROR_SHUTDOWN, "Hub is shutting down");
      await Promise.allSettled([...this.#tasks]);
      this.db.setWriteGuard(undefined);
      attachKeyGuard(this.db, undefined);
      this.#writeStatus(Date.now());
      this.logger("info", "hub sync listener closed", { port: this.addr.port });
    })();
    return this.#closed;
  }
}
