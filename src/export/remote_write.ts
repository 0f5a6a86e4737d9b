/**
 * `serve --remote-write URL`: ships the store's samples to a Prometheus remote-write receiver
 * (VictoriaMetrics, Mimir, Thanos, Prometheus) with CityHall Sync's offline-first promise
 * (ARCHITECTURE.md § "Remote-write export"):
 *
 * - **Position.** Per series, the newest timestamp the receiver acknowledged, persisted after
 *   every acknowledged request (`position.ts`). A restart resumes there; a crash between the
 *   answer and the persist resends one request (receivers accept identical samples again).
 * - **Order.** Each round sends, per series, the samples after its position, oldest first, in
 *   requests of at most `REMOTE_WRITE_EXPORT_SAMPLES_PER_SEND`. A sample written later with an
 *   older timestamp than the position is not sent: receivers refuse out-of-order samples.
 * - **Failures.** 5xx, 429 and network errors are retried with exponential backoff and full
 *   jitter, honouring `Retry-After`; the position does not move, so nothing is lost while the
 *   receiver is down (the store keeps the samples under its own retention). Other 4xx mean the
 *   receiver refuses this data for good: the request is counted, logged at warn with the
 *   answer, and skipped (retrying would block every later sample).
 * - **Selection.** Every series, or those matching `filter` (the TS.MRANGE filter syntax), or
 *   only rollups (destinations of compaction rules).
 *
 * @module
 */

import type { TimeSeriesStore } from "../timeseries/store.ts";
import type { Series } from "../timeseries/series_set.ts";
import type { LabelFilter } from "../timeseries/labels.ts";
import { readSamples } from "../timeseries/write.ts";
import { isLive } from "../timeseries/series_ops.ts";
import { StoreSource, withStaleBits } from "../promql/store_source.ts";
import { encodeRemoteWrite, type SeriesToWrite } from "../ingest/remote_write.ts";
import { Backoff } from "../replication/backoff.ts";
import {
  type FileSystem,
  joinPath,
  readWholeFile,
  RealFs,
  writeFileAtomicAsync,
} from "../fs/mod.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import {
  REMOTE_WRITE_EXPORT_BACKOFF_BASE_MS,
  REMOTE_WRITE_EXPORT_BACKOFF_MAX_MS,
  REMOTE_WRITE_EXPORT_INTERVAL_MS,
  REMOTE_WRITE_EXPORT_RETRY_AFTER_MS_MAX,
  REMOTE_WRITE_EXPORT_SAMPLES_PER_SEND,
  REMOTE_WRITE_EXPORT_TIMEOUT_MS,
} from "../limits.ts";
import { decodePosition, encodePosition, type Position } from "./position.ts";
import { registerExporter, unregisterExporter } from "./registry.ts";

/** Options of `RemoteWriteExporter.start`. */
export interface ExporterOptions {
  /** Receiver URL (`http://host:9090/api/v1/write`); user:password@ becomes basic auth. */
  url: string;
  /** The store shipped from. */
  store: TimeSeriesStore;
  /** Data directory: the position lives in `<dataDir>/remote_write/`. */
  dataDir: string;
  /** Only series matching these filters (undefined: all). */
  filter?: LabelFilter[] | undefined;
  /** Only rollup series (destinations of compaction rules). */
  rollupsOnly?: boolean;
  logger?: Logger;
  /** Period between rounds when caught up. */
  intervalMs?: number;
  /** Backoff floor and ceiling. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Samples per request. */
  samplesPerSend?: number;
  fs?: FileSystem;
  /** Clock (ms) for a new target's start. */
  nowMs?: () => number;
}

/** What INFO and `/metrics` show of one exporter. */
export interface ExporterStats {
  url: string;
  /** Samples acknowledged by the receiver. */
  samplesSent: number;
  /** Compressed bytes of acknowledged requests. */
  bytesSent: number;
  /** Requests acknowledged. */
  requestsSent: number;
  /** Attempts that failed and were retried (5xx, 429, network). */
  retries: number;
  /** Requests refused with another 4xx (skipped, logged) and their samples. */
  requestsRefused: number;
  samplesRefused: number;
  /** Newest stored timestamp minus the newest shipped one, worst series (ms; 0 = caught up). */
  lagMs: number;
  /** Series with samples not yet shipped, as of the last round. */
  pendingSeries: number;
  /** Time of the last acknowledged request (ms since epoch; 0 = never). */
  lastSuccessMs: number;
  /** The last failure, or "". */
  lastError: string;
  /** True while the receiver is failing and requests are being retried. */
  retrying: boolean;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `Retry-After` in ms (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** A file name for a target: its URL's SHA-256, so any URL maps to a safe, stable name. */
async function positionName(url: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url)),
  );
  return [...digest.subarray(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("") +
    ".pos";
}

/** One remote-write target. */
export class RemoteWriteExporter {
  readonly #o: Required<Omit<ExporterOptions, "filter">> & { filter?: LabelFilter[] | undefined };
  readonly #source: StoreSource;
  readonly #endpoint: string;
  readonly #auth: string | undefined;
  readonly #dir: string;
  readonly #file: string;
  readonly #position: Position;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  readonly #stats: ExporterStats;
  #loop: Promise<void> | undefined;

  private constructor(o: ExporterOptions, dir: string, file: string, position: Position) {
    this.#o = {
      logger: silentLogger,
      intervalMs: REMOTE_WRITE_EXPORT_INTERVAL_MS,
      backoffBaseMs: REMOTE_WRITE_EXPORT_BACKOFF_BASE_MS,
      backoffMaxMs: REMOTE_WRITE_EXPORT_BACKOFF_MAX_MS,
      samplesPerSend: REMOTE_WRITE_EXPORT_SAMPLES_PER_SEND,
      fs: new RealFs(),
      nowMs: Date.now,
      rollupsOnly: false,
      ...o,
    };
    this.#source = new StoreSource(o.store);
    const u = new URL(o.url);
    if (u.username !== "" || u.password !== "") {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      this.#auth = "Basic " +
        btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)));
      u.username = "";
      u.password = "";
    }
    this.#endpoint = u.toString();
    this.#dir = dir;
    this.#file = file;
    this.#position = position;
    this.#backoff = new Backoff({ baseMs: this.#o.backoffBaseMs, maxMs: this.#o.backoffMaxMs });
    this.#stats = {
      url: this.#endpoint,
      samplesSent: 0,
      bytesSent: 0,
      requestsSent: 0,
      retries: 0,
      requestsRefused: 0,
      samplesRefused: 0,
      lagMs: 0,
      pendingSeries: 0,
      lastSuccessMs: 0,
      lastError: "",
      retrying: false,
    };
  }

  /**
   * Loads (or creates) the target's position and starts shipping in the background. A new
   * target starts at the current time: history before it is not sent.
   */
  static async start(o: ExporterOptions): Promise<RemoteWriteExporter> {
    const url = new URL(o.url); // throws TypeError on a bad URL: the CLI checked it
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`Invalid remote-write URL ${o.url}: use http:// or https://`);
    }
    const fs = o.fs ?? new RealFs();
    const dir = joinPath(o.dataDir, "remote_write");
    fs.mkdirp(dir);
    const file = await positionName(o.url);
    let position: Position;
    if (fs.stat(joinPath(dir, file)) !== undefined) {
      try {
        position = decodePosition(readWholeFile(fs, joinPath(dir, file)));
      } catch (err) {
        throw new Error(
          `${(err as Error).message} in ${
            joinPath(dir, file)
          } (of ${o.url}; delete it to start over from now)`,
        );
      }
    } else {
      position = { startMs: (o.nowMs ?? Date.now)(), shipped: new Map() };
      await writeFileAtomicAsync(fs, dir, file, encodePosition(position));
    }
    const e = new RemoteWriteExporter({ ...o, fs }, dir, file, position);
    registerExporter(e);
    e.#loop = e.#run();
    e.#o.logger("info", "remote write export started", {
      url: e.#endpoint,
      series: position.shipped.size,
    });
    return e;
  }

  /** Current numbers. */
  stats(): ExporterStats {
    return { ...this.#stats };
  }

  /** Stops after the request in flight (its answer still moves the position). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    unregisterExporter(this);
  }

  /** Candidate series: the filter's through the label index, else every series in memory. */
  #selected(): Iterable<Series> {
    const store = this.#o.store;
    return this.#o.filter ? store.select(this.#o.filter) : store.context.set.all();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let sent = false;
      try {
        sent = await this.#round(signal);
      } catch (err) {
        this.#stats.lastError = String(err);
        this.#o.logger("error", "remote write export round failed", { error: String(err) });
      }
      if (!sent) await sleep(this.#o.intervalMs, signal);
    }
  }

  /** Ships one request's worth; returns true when it sent something (more may be pending). */
  async #round(signal: AbortSignal): Promise<boolean> {
    const ctx = this.#o.store.context;
    const budget = this.#o.samplesPerSend;
    const batch: SeriesToWrite[] = [];
    const moves: [number, number][] = [];
    let count = 0;
    let pending = 0;
    let lag = 0;
    for (const s of this.#selected()) {
      if (this.#o.rollupsOnly && s.meta.sourceVersion === 0) continue;
      const mark = this.#position.shipped.get(s.version) ?? this.#position.startMs;
      if (s.lastTs <= mark) continue;
      // Only series with something to send pay for the liveness lookup.
      if (!this.#o.filter && !isLive(ctx, s)) continue;
      lag = Math.max(lag, s.lastTs - mark);
      pending++;
      if (count >= budget) continue;
      const from = Math.max(mark + 1, s.retentionCutoff);
      const got = readSamples(ctx, s, from, s.lastTs);
      if (got.ts.length === 0) continue;
      const take = Math.min(budget - count, got.ts.length);
      const labels = this.#source.labelsOf(s);
      batch.push({
        labels: labels.names.map((n, i) => [n, labels.values[i]!] as const),
        timestamps: got.ts.subarray(0, take),
        values: withStaleBits(got.values.subarray(0, take)),
      });
      moves.push([s.version, got.ts[take - 1]!]);
      count += take;
    }
    this.#stats.pendingSeries = pending;
    this.#stats.lagMs = lag;
    if (count === 0) return false;
    const body = encodeRemoteWrite(batch);
    const outcome = await this.#send(body, count, signal);
    if (outcome === "aborted") return false;
    for (const [version, ts] of moves) this.#position.shipped.set(version, ts);
    // Series gone from the store keep no position.
    for (const version of this.#position.shipped.keys()) {
      if (ctx.set.byVersion(version) === undefined) this.#position.shipped.delete(version);
    }
    await writeFileAtomicAsync(this.#o.fs, this.#dir, this.#file, encodePosition(this.#position));
    return true;
  }

  /** Sends until acknowledged or refused for good; "aborted" when stopped while retrying. */
  async #send(
    body: Uint8Array,
    samples: number,
    signal: AbortSignal,
  ): Promise<"sent" | "refused" | "aborted"> {
    const headers: Record<string, string> = {
      "content-type": "application/x-protobuf",
      "content-encoding": "snappy",
      "x-prometheus-remote-write-version": "0.1.0",
      "user-agent": `cityhall/${VERSION}`,
    };
    if (this.#auth) headers.authorization = this.#auth;
    for (;;) {
      let status = 0;
      let wait: number | undefined;
      let detail = "";
      try {
        const res = await fetch(this.#endpoint, {
          method: "POST",
          headers,
          body: body as Uint8Array<ArrayBuffer>,
          signal: AbortSignal.timeout(REMOTE_WRITE_EXPORT_TIMEOUT_MS),
        });
        status = res.status;
        detail = (await res.text()).slice(0, 300);
        if (status === 429 || status === 503) {
          wait = retryAfterMs(res.headers.get("retry-after"));
        }
      } catch (err) {
        detail = (err as Error).message;
      }
      if (status >= 200 && status < 300) {
        if (this.#stats.retrying) {
          this.#o.logger("info", "remote write receiver is back", {
            url: this.#endpoint,
            retries: this.#backoff.failures,
          });
        }
        this.#backoff.reset();
        this.#stats.retrying = false;
        this.#stats.samplesSent += samples;
        this.#stats.bytesSent += body.length;
        this.#stats.requestsSent++;
        this.#stats.lastSuccessMs = Date.now();
        return "sent";
      }
      if (status >= 400 && status < 500 && status !== 429) {
        this.#stats.requestsRefused++;
        this.#stats.samplesRefused += samples;
        this.#stats.lastError = `HTTP ${status}: ${detail}`;
        this.#o.logger("warn", "remote write receiver refused samples; skipped", {
          url: this.#endpoint,
          status,
          samples,
          answer: detail,
        });
        return "refused";
      }
      this.#stats.retries++;
      this.#stats.lastError = status === 0 ? detail : `HTTP ${status}: ${detail}`;
      const backoffMs = this.#backoff.next();
      const delay = wait === undefined
        ? backoffMs
        : Math.min(REMOTE_WRITE_EXPORT_RETRY_AFTER_MS_MAX, Math.max(wait, backoffMs));
      if (!this.#stats.retrying || this.#backoff.failures % 10 === 0) {
        this.#o.logger("warn", "remote write failed; retrying", {
          url: this.#endpoint,
          status,
          error: this.#stats.lastError,
          retry_in_ms: delay,
        });
      }
      this.#stats.retrying = true;
      await sleep(delay, signal);
      if (signal.aborted) return "aborted";
    }
  }
}
