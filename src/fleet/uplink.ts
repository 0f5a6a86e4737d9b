/**
 * The edge side of a fleet: an uplink the edge dials to its hub (`cityhall serve --uplink
 * HOST:PORT --site NAME --uplink-token-file F`), so it works behind NAT and carrier-grade NAT.
 * Over that connection the hub still sets the pace (`uplink_session.ts` answers its requests);
 * the edge keeps every WAL record until the hub has acknowledged it (the retention pin of
 * `EdgeStateStore`, installed before `Database.open` by `openEdgeDatabase`), however long the
 * link is down, bounded only by the disk and its policy (`disk_policy.ts`).
 * ARCHITECTURE.md § "Fleets: hub and uplink".
 *
 * Link states, each change logged once: `connecting` → `connected` → `retrying` …; `waiting`
 * outside the sync windows; `refused` when the hub refuses this edge (wrong token, a site
 * recorded for another edge, …): it retries at the longest backoff and logs the reason once;
 * `stopped`.
 *
 * @module
 */

import { replicationPort } from "../engine/mod.ts";
import type { IsRollup, ShipMode } from "./catchup.ts";
import { Database, type DatabaseOptions } from "../engine/mod.ts";
import { CityHallError } from "../errors.ts";
import { RealFs } from "../fs/mod.ts";
import { CONNECT_TIMEOUT_MS, STATUS_WRITE_INTERVAL_MS } from "../limits.ts";
import { Backoff, type BackoffOptions } from "../replication/backoff.ts";
import { parseHostPort } from "../replication/replica.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { dial } from "../util/net.ts";
import { addSample, EdgeStateStore, saveUplinkStatus } from "./edge_state.ts";
import { DurableTimes, ResumeCache, walBytesAbove } from "./edge_wal.ts";
import { errorMessage } from "./link.ts";
import {
  formatWindows,
  RateLimiter,
  type SyncWindow,
  systemClock,
  type UplinkClock,
  windowState,
} from "./pacer.ts";
import {
  etaSeconds,
  type MetricFamily,
  RateMeter,
  statusFamilies,
  statusInfoPairs,
  type SyncStatus,
} from "./status.ts";
import { RefusedError, UplinkSession } from "./uplink_session.ts";
import { ZstdTuner } from "./zstd_tuner.ts";

/** Options of `startUplink`. */
export interface UplinkOptions {
  /** The hub's sync address, `host:port`. */
  hub: string;
  /** The site this edge sends as. */
  site: string;
  /** The site's token (from `cityhall hub site add`). */
  token: string;
  /** PEM CA certificate: connect with TLS and trust this CA. */
  tlsCaCert?: string;
  /** Bytes per second on the link after compression (none = unlimited). */
  rateLimitBytesPerSec?: number;
  /**
   * `--uplink-ship`: "raw" (default) ships every series; "rollups" only series a downsampling
   * rule feeds (`isRollup` answers which), raw samples stay at the edge.
   */
  ship?: ShipMode;
  /** Whether an edge series version is a rollup (the edge's time-series store knows). */
  isRollup?: IsRollup;
  /** Catch-up in CHUNKS frames (default true; false sends RECORDS always, for comparisons). */
  catchUpChunks?: boolean;
  /** Local-time windows to sync in (none = always). */
  windows?: SyncWindow[];
  /** Where the windows read the time (tests move it). */
  clock?: UplinkClock;
  /** Reconnect backoff (default 1 s to 60 s). */
  backoff?: BackoffOptions;
  /** Heartbeat interval when idle (default 1000 ms). */
  heartbeatMs?: number;
  /** Drop a link silent this long (default 10,000 ms). */
  idleTimeoutMs?: number;
  /** Time from connect to UPLINK_WELCOME, absolute (default 10,000 ms). */
  handshakeTimeoutMs?: number;
  /** A fixed zstd level for RECORDS frames (default: 3, tuned up under a rate limit). */
  zstdLevel?: number;
  /** What the disk-full policy reports (`disk_policy.ts`). */
  diskStatus?: () => Record<string, string | number>;
  /** Log sink. */
  logger?: Logger;
}

/** The edge's status: the sync numbers plus the link's own. */
export interface UplinkStatus extends SyncStatus {
  hub: string;
  hubId: string | null;
  window: string;
  inWindow: boolean;
  rateLimitBytesPerSec: number;
  evictedThroughSeq: number;
  evictedEntries: number;
  evictedBytes: number;
  refusal: string;
  disk: Record<string, string | number>;
  updatedMs: number;
  pid: number;
}

/** A running uplink. */
export interface Uplink {
  /** Link state. */
  readonly state: string;
  /** Every sequence up to this is durable at the hub. */
  readonly ackedSeq: number;
  /** The status, live. */
  status(): UplinkStatus;
  /** The `INFO uplink` lines. */
  infoLines(): [string, string | number][];
  /** The `/metrics` families. */
  metricFamilies(): MetricFamily[];
  /** Resolves when the hub has acknowledged `seq` (tests, benchmarks). */
  waitForAck(seq: number): Promise<void>;
  /** Stops the link and writes the status; the database stays open. */
  close(): Promise<void>;
}

/** What a session sees of its uplink (`uplink_session.ts`). */
export interface UplinkOwner {
  readonly db: Database;
  readonly options: UplinkOptions;
  readonly log: Logger;
  readonly store: EdgeStateStore;
  readonly limiter: RateLimiter | undefined;
  readonly cache: ResumeCache;
  readonly tuner: ZstdTuner;
  /** Bytes came from the hub. */
  contact(): void;
  /** WELCOME accepted: the hub's id and its position for this site. */
  welcomed(hubId: string, position: number): void;
  /** The hub acknowledged `seq`. */
  acked(seq: number): void;
  /** `n` bytes went out on the link. */
  wrote(n: number): void;
  /** A cut frame was resumed. */
  resumed(): void;
  /** A snapshot was sent. */
  snapshotSent(): void;
  /** How long ago (ms) `afterSeq + 1` became durable; 0 when it is not yet. */
  behind(afterSeq: number): number;
}

/**
 * Opens `dir` as an edge's database: loads the uplink state first so that the open-time WAL
 * retention already keeps what the hub has not acknowledged.
 */
export async function openEdgeDatabase(
  dir: string,
  site: string,
  options: DatabaseOptions = {},
): Promise<{ db: Database; store: EdgeStateStore }> {
  const fs = options.fs ?? new RealFs();
  const store = EdgeStateStore.load(fs, dir, site);
  const db = await Database.open(dir, {
    ...options,
    fs,
    retentionPins: () => ({ pinnedSeqs: [store.pin] }),
  });
  return { db, store };
}

/** Starts the uplink of edge `db` (opened with `openEdgeDatabase`, whose `store` it shares). */
export function startUplink(db: Database, store: EdgeStateStore, options: UplinkOptions): Uplink {
  parseHostPort(options.hub);
  return new UplinkLink(db, store, options);
}

class UplinkLink implements Uplink, UplinkOwner {
  readonly db: Database;
  readonly options: UplinkOptions;
  readonly log: Logger;
  readonly store: EdgeStateStore;
  readonly limiter: RateLimiter | undefined;
  readonly cache = new ResumeCache();
  readonly tuner: ZstdTuner;
  readonly #backoff: Backoff;
  readonly #clock: UplinkClock;
  readonly #times: DurableTimes;
  readonly #meter = new RateMeter();
  readonly #offDurable: () => void;
  readonly #timer: ReturnType<typeof setInterval>;
  #state = "connecting";
  #session: UplinkSession | undefined;
  #closing = false;
  /** Aborted by `close()`: a connect attempt in progress ends at once. */
  readonly #connecting = new AbortController();
  #run: Promise<void>;
  #wakeSleep: (() => void) | undefined;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #lastContactMs = 0;
  #lastError = "";
  #refusal = "";
  #wireBytes = 0;
  #entries = 0;
  #resumes = 0;
  #snapshots = 0;
  #dirty = true;
  #ackMoved = false;
  #statusWrittenMs = 0;
  #windowClosed = false;

  constructor(db: Database, store: EdgeStateStore, options: UplinkOptions) {
    this.db = db;
    this.store = store;
    this.options = options;
    this.log = options.logger ?? silentLogger;
    this.#backoff = new Backoff(options.backoff);
    this.#clock = options.clock ?? systemClock;
    this.limiter = options.rateLimitBytesPerSec === undefined
      ? undefined
      : new RateLimiter(options.rateLimitBytesPerSec);
    this.tuner = new ZstdTuner(options.rateLimitBytesPerSec);
    this.#times = new DurableTimes(store);
    this.#times.note(db.durableSeq, Date.now());
    this.#offDurable = replicationPort(db).onDurable((seq) => this.#times.note(seq, Date.now()));
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    this.log("info", "uplink starting", {
      hub: options.hub,
      site: options.site,
      hubId: store.state.hubId ?? "unknown",
      ackedSeq: store.state.ackedSeq,
      lastSeq: db.lastSeq,
      window: formatWindows(options.windows ?? []) || "always",
      rateLimit: options.rateLimitBytesPerSec ?? "none",
    });
    this.#persist();
    this.#run = this.#loop();
  }

  get state(): string {
    return this.#state;
  }

  get ackedSeq(): number {
    return this.store.state.ackedSeq;
  }

  // ---------------------------------------------------------------- UplinkOwner

  contact(): void {
    this.#lastContactMs = Date.now();
  }

  welcomed(hubId: string, position: number): void {
    const recorded = this.store.state.hubId;
    if (recorded !== null && recorded !== hubId) {
      this.log("warn", "the hub's id changed (a different or re-initialised hub)", {
        recorded,
        hubId,
        position,
      });
    }
    this.store.state.hubId = hubId;
    // The hub's position is the truth: higher after a sneakernet import, lower after the hub
    // was restored from an older copy (then it gets what it lacks, or a snapshot).
    this.store.ack(position, Date.now());
    this.store.save();
    this.#lastError = "";
    this.#refusal = "";
    this.#setState("connected", { hubId, position, lastSeq: this.db.lastSeq });
    this.#settleWaiters();
  }

  acked(seq: number): void {
    const before = this.store.state.ackedSeq;
    if (seq <= before) return;
    this.store.ack(seq, Date.now());
    this.#entries += seq - before;
    this.#meter.add(0, seq - before);
    this.#backoff.reset();
    this.#ackMoved = true;
    this.#dirty = true;
    this.#settleWaiters();
    if (Date.now() - this.#statusWrittenMs >= STATUS_WRITE_INTERVAL_MS) this.#persist();
  }

  wrote(n: number): void {
    this.#wireBytes += n;
    this.#meter.add(n, 0);
  }

  resumed(): void {
    this.#resumes++;
  }

  snapshotSent(): void {
    this.#snapshots++;
  }

  behind(afterSeq: number): number {
    if (afterSeq >= this.db.durableSeq) return 0;
    const t = this.#times.timeOf(afterSeq + 1);
    return t === undefined ? 0 : Math.max(0, Date.now() - t);
  }

  // ---------------------------------------------------------------- status

  status(): UplinkStatus {
    const now = Date.now();
    const s = this.store.state;
    const durable = this.db.durableSeq;
    const behindEntries = Math.max(0, durable - s.ackedSeq);
    const rates = this.#meter.rates();
    const windows = this.options.windows ?? [];
    return {
      site: this.options.site,
      state: this.#state,
      ackedSeq: s.ackedSeq,
      edgeDurableSeq: durable,
      behindEntries,
      behindBytes: behindEntries === 0 ? 0 : walBytesAbove(this.db, s.ackedSeq),
      behindSeconds: Math.round(this.behind(s.ackedSeq) / 1000),
      rateBytesPerSec: rates.bytesPerSec,
      rateEntriesPerSec: rates.entriesPerSec,
      etaSeconds: etaSeconds(behindEntries, rates.entriesPerSec),
      lastContactMs: this.#lastContactMs,
      wireBytes: this.#wireBytes,
      entries: this.#entries,
      resumes: this.#resumes,
      snapshots: this.#snapshots,
      lastError: this.#lastError,
      hub: this.options.hub,
      hubId: s.hubId,
      window: formatWindows(windows) || "always",
      inWindow: windowState(windows, this.#clock).open,
      rateLimitBytesPerSec: this.options.rateLimitBytesPerSec ?? 0,
      evictedThroughSeq: s.evictedThroughSeq,
      evictedEntries: s.evictedEntries,
      evictedBytes: s.evictedBytes,
      refusal: this.#refusal,
      disk: this.options.diskStatus?.() ?? {},
      updatedMs: now,
      pid: Deno.pid,
    };
  }

  infoLines(): [string, string | number][] {
    const st = this.status();
    const lines: [string, string | number][] = [
      ["cityhall_role", "edge"],
      ["uplink_hub", st.hub],
      ["uplink_hub_id", st.hubId ?? ""],
      ["uplink_window", st.window],
      ["uplink_in_window", st.inWindow ? 1 : 0],
      ["uplink_rate_limit_bytes_per_sec", st.rateLimitBytesPerSec],
      ["uplink_evicted_entries", st.evictedEntries],
      ["uplink_evicted_bytes", st.evictedBytes],
      ["uplink_refusal", st.refusal],
    ];
    for (const [k, v] of statusInfoPairs(st)) lines.push([`uplink_${k}`, v]);
    for (const [k, v] of Object.entries(st.disk)) lines.push([`disk_${k}`, v]);
    return lines;
  }

  metricFamilies(): MetricFamily[] {
    const st = this.status();
    const families = statusFamilies("cityhall_uplink", [st], (s) => ({ site: s.site }));
    families.push({
      name: "cityhall_uplink_evicted_entries_total",
      type: "counter",
      help: "Operations the disk-full policy evicted before the hub had them",
      samples: [{ labels: { site: st.site }, value: st.evictedEntries }],
    });
    for (const [k, v] of Object.entries(st.disk)) {
      if (typeof v !== "number") continue;
      families.push({
        name: `cityhall_disk_${k}`,
        type: k.endsWith("_total") ? "counter" : "gauge",
        help: `Disk-full policy: ${k.replace(/_/g, " ")}`,
        samples: [{ labels: {}, value: v }],
      });
    }
    return families;
  }

  waitForAck(seq: number): Promise<void> {
    if (this.store.state.ackedSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }

  #settleWaiters(): void {
    const acked = this.store.state.ackedSeq;
    for (const w of this.#waiters.filter((w) => w.seq <= acked)) w.resolve();
    this.#waiters = this.#waiters.filter((w) => w.seq > acked);
  }

  /** Once a second: retention after acknowledgements, a time sample, the files. */
  #tick(): void {
    if (this.#ackMoved) {
      this.#ackMoved = false;
      replicationPort(this.db).applyRetention();
    }
    if (addSample(this.store.state, this.db.durableSeq, Date.now())) this.#dirty = true;
    if (this.#dirty) this.#persist();
  }

  /** Writes `state.json` and `status.json`. */
  #persist(): void {
    this.#dirty = false;
    this.#statusWrittenMs = Date.now();
    try {
      this.store.save();
      saveUplinkStatus(replicationPort(this.db).fileSystem, this.db.dir, this.status());
    } catch (err) {
      this.log("warn", "cannot write the uplink files", { error: errorMessage(err) });
    }
  }

  #setState(state: string, fields: Record<string, string | number | undefined> = {}): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    const level = state === "refused" ? "error" : state === "retrying" ? "warn" : "info";
    this.log(level, `uplink ${state}`, { from: previous, hub: this.options.hub, ...fields });
    this.#persist();
  }

  /** The hub refuses this edge: logs the reason once (again only when it changes). */
  #refuse(reason: string): void {
    if (this.#state === "refused" && this.#refusal === reason) return;
    const again = this.#state === "refused";
    this.#refusal = reason;
    if (again) {
      this.log("error", "uplink refused", { hub: this.options.hub, error: reason });
      this.#persist();
    } else this.#setState("refused", { error: reason });
  }

  async close(): Promise<void> {
    if (this.#closing) return await this.#run;
    this.#closing = true;
    this.#wakeSleep?.();
    this.#connecting.abort();
    this.#session?.end("Edge is shutting down");
    await this.#run;
    clearInterval(this.#timer);
    this.#offDurable();
    this.#setState("stopped");
    this.#persist();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => this.#wakeSleep = undefined);
  }

  async #loop(): Promise<void> {
    while (!this.#closing) {
      const window = windowState(this.options.windows ?? [], this.#clock);
      if (!window.open) {
        this.#setState("waiting", { nextWindowInS: Math.round(window.changeInMs / 1000) });
        await this.#sleep(Math.min(window.changeInMs + 50, 60_000));
        continue;
      }
      let healthy = false;
      let refused = false;
      this.#windowClosed = false;
      try {
        healthy = await this.#runSession(window.changeInMs);
      } catch (err) {
        this.#lastError = errorMessage(err);
        refused = err instanceof RefusedError;
        if (!this.#closing && refused) this.#refuse(this.#lastError);
        this.log("debug", "uplink session ended", { error: this.#lastError });
      }
      if (this.#closing) break;
      if (this.#windowClosed) {
        this.#lastError = "";
        continue;
      }
      if (healthy) this.#backoff.reset();
      const delay = refused ? this.#backoff.maxMs : this.#backoff.next();
      if (!refused) this.#setState("retrying", { error: this.#lastError, retryInMs: delay });
      this.#persist();
      await this.#sleep(delay);
    }
  }

  /** Connects and runs one session until it ends or the window closes. */
  async #runSession(windowLeftMs: number): Promise<boolean> {
    // Attempts while retrying (or refused) stay in that state: one log line per change.
    if (this.#state === "waiting" || this.#state === "stopped") this.#setState("connecting");
    const conn = await this.#connect();
    if (this.#closing) {
      conn.close();
      return false;
    }
    const session = new UplinkSession(this, conn);
    this.#session = session;
    const timer = Number.isFinite(windowLeftMs)
      ? setTimeout(() => {
        this.#windowClosed = true;
        this.log("info", "uplink window closed: disconnecting", { hub: this.options.hub });
        session.end("Uplink window closed");
      }, windowLeftMs + 50)
      : undefined;
    try {
      return await session.run();
    } finally {
      clearTimeout(timer);
      this.#session = undefined;
    }
  }

  async #connect(): Promise<Deno.Conn> {
    const { hostname, port } = parseHostPort(this.options.hub);
    try {
      return await dial({
        hostname,
        port,
        timeoutMs: this.options.handshakeTimeoutMs ?? CONNECT_TIMEOUT_MS,
        signal: this.#connecting.signal,
        ...(this.options.tlsCaCert !== undefined ? { tlsCaCert: this.options.tlsCaCert } : {}),
      });
    } catch (err) {
      throw new CityHallError(
        `Cannot connect to the hub ${this.options.hub}: ${errorMessage(err)}`,
      );
    }
  }
}
