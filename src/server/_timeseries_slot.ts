/**
 * The RESP server's time-series layer, opened when first needed: at start only when the data
 * directory holds series (or log ops recovery found), else by the first command of a group
 * that uses it (TS.*, RESTORE). An idle server without series so keeps the layer's ~20 modules
 * out of memory (ARCHITECTURE.md § "Memory").
 *
 * Why opening late loses nothing: a series exists only after the layer wrote it, so while the
 * layer is not open no key is a series and no command but the loading ones reaches it; the
 * engine holds (and pins in the WAL) any log op until a consumer attaches
 * (ARCHITECTURE.md § "Log operations"). The Redis types take their data versions from the same
 * allocator the layer is given, so one counter serves both before and after it opens.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { INTERNAL_KEY_PREFIX, SPACE_TS_LOG, SPACE_TS_REGISTRY } from "../keyspace/mod.ts";
import { VersionAllocator } from "../keyspace/mod.ts";
import type { SampleListener, TimeSeriesStore } from "../timeseries/mod.ts";
import type { Logger } from "../util/log.ts";

/**
 * True when `db` holds time-series data (registry, state records or chunks: `0xFF 0x01` up to
 * the log space) or log ops recovery found that no layer has taken yet.
 */
export function holdsSeries(db: Database): boolean {
  if (db.pendingLogOps > 0) return true;
  const range = {
    start: new Uint8Array([INTERNAL_KEY_PREFIX, SPACE_TS_REGISTRY]),
    end: new Uint8Array([INTERNAL_KEY_PREFIX, SPACE_TS_LOG]),
  };
  return db.readRange(range, { limit: 1, fillCache: false }).length > 0;
}

/** The time-series layer's module. */
export type TimeseriesModule = typeof import("../timeseries/mod.ts");

/** Loads the time-series layer's modules (a static specifier: compile and bundle include it). */
export function importTimeseries(): Promise<TimeseriesModule> {
  return import("../timeseries/mod.ts");
}

/** The server's time-series layer: given, or opened on first use (and then owned). */
export class TimeSeriesSlot {
  readonly #db: Database;
  readonly #logger: Logger | undefined;
  readonly #listener: SampleListener;
  readonly #owned: boolean;
  #store: TimeSeriesStore | undefined;
  #opening: Promise<TimeSeriesStore> | undefined;
  #closed = false;
  /** The data versions of every type. */
  readonly versions: VersionAllocator;

  /**
   * `given` is a layer the caller opened and closes (the HTTP API shares it); without one, this
   * slot opens its own on first use, announces written samples to `listener`, and closes it.
   */
  constructor(
    db: Database,
    given: TimeSeriesStore | undefined,
    listener: SampleListener,
    logger: Logger | undefined,
  ) {
    this.#db = db;
    this.#logger = logger;
    this.#listener = listener;
    this.#owned = given === undefined;
    this.#store = given;
    this.versions = given?.versions ?? new VersionAllocator(db);
    if (given !== undefined) given.sampleListener = listener;
  }

  /** The layer, once open. */
  get loaded(): TimeSeriesStore | undefined {
    return this.#store;
  }

  /** Opens the layer (once; later calls get the same one). */
  load(): Promise<TimeSeriesStore> {
    if (this.#store !== undefined) return Promise.resolve(this.#store);
    return this.#opening ??= (async () => {
      const layer = await importTimeseries();
      if (this.#closed) throw new Error("Cannot open the time-series layer: server closed");
      return this.open(layer);
    })().finally(() => this.#opening = undefined);
  }

  /** Opens the layer from its loaded module, now (at start, before the first client). */
  open(layer: TimeseriesModule): TimeSeriesStore {
    if (this.#store !== undefined) return this.#store;
    const store = layer.TimeSeriesStore.open(this.#db, {
      versions: this.versions,
      ...(this.#logger !== undefined ? { logger: this.#logger } : {}),
    });
    store.sampleListener = this.#listener;
    this.#store = store;
    return store;
  }

  /** Stops announcing samples; closes the layer when this slot opened it. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#opening?.catch(() => {});
    const store = this.#store;
    if (store === undefined) return;
    if (store.sampleListener === this.#listener) store.sampleListener = undefined;
    if (this.#owned) await store.close();
  }
}
