/**
 * Time series from a site, at the hub (ARCHITECTURE.md § "Series at the hub"). An edge's series
 * `K` becomes the hub series `S/K` with the label `site=S` added (an edge label `site` becomes
 * `exported_site`, Prometheus's convention), so `TS.MRANGE … FILTER site=(a,b) GROUPBY site`
 * works across sites. Edge versions mean nothing at the hub (each database numbers its own), so
 * the hub never stores the edge's internal keys or log ops: it re-plays them through its own
 * `TimeSeriesStore`:
 *
 * | edge op                                   | at the hub                                     |
 * | ----------------------------------------- | ---------------------------------------------- |
 * | `KIND_META` at `K` (a series)             | create `S/K` (or rename from its old key, or   |
 * |                                           | alter its labels)                              |
 * | log SAMPLES of version v                  | samples into the series of v (duplicate LAST)  |
 * | log DELETE of v                           | TS.DEL of that range                           |
 * | log SEAL, STATE, META, DROP               | nothing (the hub seals, checkpoints itself;    |
 * |                                           | DROP follows a tombstone of `K`)               |
 * | put `ff 01 v` = K (registry)              | mapping `ff 11 len S v` = K                    |
 * | put `ff 03 v ts` (chunk) not sealed now   | its samples (a late sample rewrote it)         |
 * | other internal keys, chunk tombstones     | nothing (edge retention never deletes history  |
 * |                                           | at the hub)                                    |
 *
 * Every write is idempotent (samples with duplicate policy LAST, deletes of ranges, creates of
 * what exists), so a record re-applied after a crash changes nothing: the site's position is
 * written after them.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import type { Entry } from "../util/entry.ts";
import { KIND_LOG, KIND_META, KIND_PUT } from "../util/entry.ts";
import type { Logger } from "../util/log.ts";
import {
  INTERNAL_KEY_PREFIX,
  internalKeyNumber,
  SPACE_TS_CHUNK,
  SPACE_TS_LOG,
  SPACE_TS_REGISTRY,
  SPACE_TS_STATE,
  TYPE_TIMESERIES,
  typeName,
} from "../keyspace/mod.ts";
import { SITE_SERIES_SPACE, TS_SAMPLES_PER_WRITE_MAX } from "../limits.ts";
import type { SampleIn, TimeSeriesStore } from "../timeseries/mod.ts";
import { chunkHeader, decodeChunk } from "../timeseries/codec.ts";
import {
  decodeLog,
  decodeState,
  ENTRY_DELETE,
  ENTRY_SAMPLES,
  ENTRY_SEAL,
} from "../timeseries/log.ts";
import { binaryString, decodeSeriesMeta, type SeriesMeta } from "../timeseries/meta.ts";
import { siteKey, sitePrefix } from "./namespace.ts";
import { hasPrefix } from "../util/bytes.ts";

const utf8 = new TextEncoder();

/** `ff 11 len site`: the prefix of site `site`'s version → edge key mapping. */
export function seriesMapPrefix(site: string): Uint8Array {
  const name = utf8.encode(site);
  const key = new Uint8Array(3 + name.length);
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = SITE_SERIES_SPACE;
  key[2] = name.length;
  key.set(name, 3);
  return key;
}

function mapKey(prefix: Uint8Array, version: number): Uint8Array {
  const key = new Uint8Array(prefix.length + 8);
  key.set(prefix, 0);
  const view = new DataView(key.buffer);
  view.setUint32(prefix.length, Math.floor(version / 0x1_0000_0000));
  view.setUint32(prefix.length + 4, version >>> 0);
  return key;
}

/** The hub's labels for an edge series: `site` → `exported_site`, then `site=S`. */
export function hubLabels(site: string, labels: readonly [string, string][]): [string, string][] {
  const out: [string, string][] = labels.map(([n, v]) => [n === "site" ? "exported_site" : n, v]);
  out.push(["site", site]);
  return out;
}

/**
 * How long the hub's series from sites keep samples (`cityhall hub --retention`): a fixed
 * RETENTION in ms (0 keeps everything, the default) or `"edge"`, each edge series' own.
 */
export type HubRetention = number | "edge";

/**
 * Gives every hub series of `sites` the RETENTION `ms` (a hub started with another
 * `--retention`, or series a `hub import` created): the number of series changed.
 */
export function alignRetention(
  store: TimeSeriesStore,
  sites: Iterable<string>,
  ms: number,
  write: (ops: WriteOp[]) => Promise<void>,
): { changed: number; durable: Promise<void> } {
  const prefixes = [...sites].map(sitePrefix);
  const pending: Promise<void>[] = [];
  for (const s of store.all()) {
    if (s.meta.retentionMs === ms || !prefixes.some((p) => hasPrefix(s.key, p))) continue;
    pending.push(store.alter(s.key, { retentionMs: ms }, write).durable);
  }
  return { changed: pending.length, durable: Promise.all(pending).then(() => {}) };
}

/** True when the edge entry is the time-series layer's: internal keys, metadata, log ops. */
export function isSeriesEntry(e: Entry): boolean {
  return e.kind === KIND_META || e.kind === KIND_LOG ||
    (e.key.length > 0 && e.key[0] === INTERNAL_KEY_PREFIX);
}

/** Samples of one edge series (edge version) to write at the hub. */
export interface VersionSamples {
  version: number;
  ts: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** Counts of what the translation did (logged per apply). */
export interface SeriesCounts {
  samples: number;
  refused: number;
  unknown: number;
}

/** Replays one site's time-series ops into the hub's store. */
export class SiteSeries {
  readonly #db: Database;
  readonly #store: TimeSeriesStore;
  readonly #site: string;
  readonly #prefix: Uint8Array;
  readonly #mapPrefix: Uint8Array;
  readonly #write: (ops: WriteOp[]) => Promise<void>;
  readonly #log: Logger;
  /** Registry entries of the record being applied (they may follow the ops that need them). */
  #recordMap = new Map<number, Uint8Array | null>();
  /** SEAL entries of the record being applied: version → throughTs. */
  #recordSeals = new Map<number, number>();
  readonly counts: SeriesCounts = { samples: 0, refused: 0, unknown: 0 };
  readonly #pending: Promise<void>[] = [];
  /** Types of edge keys the hub does not know, already logged for this site. */
  readonly #warnedTypes = new Set<string>();
  readonly #retention: HubRetention;

  constructor(
    db: Database,
    store: TimeSeriesStore,
    site: string,
    sitePrefix: Uint8Array,
    write: (ops: WriteOp[]) => Promise<void>,
    log: Logger,
    retention: HubRetention = 0,
  ) {
    this.#retention = retention;
    this.#db = db;
    this.#store = store;
    this.#site = site;
    this.#prefix = sitePrefix;
    this.#mapPrefix = seriesMapPrefix(site);
    this.#write = write;
    this.#log = log;
  }

  /** Promises of the store writes made since the last call (their durability). */
  takePending(): Promise<void>[] {
    return this.#pending.splice(0);
  }

  /** Deletes the site's version mapping (the site's data is being replaced). */
  async clearMap(): Promise<void> {
    const ops: WriteOp[] = [];
    for await (const [key] of this.#db.scan({ prefix: this.#mapPrefix })) {
      ops.push({ type: "delete", key });
    }
    for (let i = 0; i < ops.length; i += 1000) await this.#write(ops.slice(i, i + 1000));
  }

  /**
   * Looks at a whole edge record before its ops are applied: registry entries and SEAL entries
   * (used by later ops of the record), and renames (a series' metadata moving to another key
   * comes with a tombstone of the old key, which must not delete the hub's series first).
   */
  beginRecord(entries: readonly Entry[]): void {
    this.#recordMap.clear();
    this.#recordSeals.clear();
    const metas: [Uint8Array, SeriesMeta][] = [];
    for (const e of entries) {
      if (e.kind === KIND_META && e.value[0] === TYPE_TIMESERIES) {
        const meta = this.#meta(e.value);
        if (meta !== undefined) metas.push([e.key, meta]);
      } else if (isInternal(e.key, SPACE_TS_REGISTRY) && e.key.length === 10) {
        this.#recordMap.set(internalKeyNumber(e.key, 2), e.kind === KIND_PUT ? e.value : null);
      } else if (e.kind === KIND_LOG && isInternal(e.key, SPACE_TS_LOG)) {
        for (const le of this.#logEntries(e.value)) {
          if (le.type === ENTRY_SEAL) this.#recordSeals.set(le.version, le.throughTs);
        }
      }
    }
    for (const [key, meta] of metas) {
      // The mapping before this record (its own registry entry already names the new key).
      const old = this.#db.getEntry(mapKey(this.#mapPrefix, meta.version))?.value;
      if (old === undefined || binaryString(old) === binaryString(key)) continue;
      const from = siteKey(this.#prefix, old);
      const to = siteKey(this.#prefix, key);
      if (from === undefined || to === undefined || !this.#find(from)) continue;
      this.#run(() => this.#store.rename(from, to, this.#write));
    }
  }

  /**
   * Applies one edge entry for which `isSeriesEntry` holds. Returns hub ops to put in the
   * site's next batch (the mapping), or none when it wrote through the store.
   */
  apply(e: Entry): WriteOp[] {
    if (e.kind === KIND_META) {
      if (e.value[0] !== TYPE_TIMESERIES) {
        // Member types go through `hub_members.ts`; a type byte this hub does not know (an
        // edge of a newer version) is left out, counted, and said once per site and type.
        this.counts.unknown++;
        const type = typeName(e.kind, e.value);
        if (!this.#warnedTypes.has(type)) {
          this.#warnedTypes.add(type);
          this.#log("warn", "a site's key of a type this hub does not know is left out", {
            site: this.#site,
            type,
            key: binaryString(e.key),
          });
        }
        return [];
      }
      const meta = this.#meta(e.value);
      const key = siteKey(this.#prefix, e.key);
      if (meta === undefined || key === undefined) return [];
      this.#upsertSeries(key, meta);
      // The edge key's expiry (EXPIRE on a series) travels with it, as a string's does.
      const hub = this.#db.getEntry(key);
      if (hub !== undefined && hub.expireAtMs !== e.expireAtMs) {
        const op: WriteOp = e.expireAtMs === 0
          ? { type: "meta", key, value: hub.value }
          : { type: "meta", key, value: hub.value, expireAtMs: e.expireAtMs };
        this.#pending.push(this.#write([op]));
      }
      return [];
    }
    if (e.kind === KIND_LOG) {
      if (!isInternal(e.key, SPACE_TS_LOG)) return [];
      // One TS.MADD-like write for the op's samples of existing series (a TS.MADD of 100
      // sensors is one op of 100 entries), in order with its deletes and creates.
      let batch: SampleIn[] = [];
      const flushBatch = () => {
        if (batch.length === 0) return;
        const written = this.#run(() => this.#store.madd(batch, this.#write));
        batch = [];
        for (const r of written ?? []) {
          if (typeof r === "number") this.counts.samples++;
          else this.counts.refused++;
        }
      };
      for (const le of this.#logEntries(e.value)) {
        if (le.type === ENTRY_SAMPLES) {
          const key = this.#hubKey(le.version);
          if (key === undefined || !this.#find(key)) {
            flushBatch();
            this.samples({ version: le.version, ts: le.ts, values: le.values }); // creates
            continue;
          }
          if (batch.length + le.ts.length > TS_SAMPLES_PER_WRITE_MAX) flushBatch();
          for (let i = 0; i < le.ts.length; i++) {
            batch.push({ key, ts: le.ts[i]!, value: le.values[i]! });
          }
        } else if (le.type === ENTRY_DELETE) {
          flushBatch();
          const key = this.#hubKey(le.version);
          if (key !== undefined && this.#find(key)) {
            this.#run(() => this.#store.del(key, le.from, le.to, this.#write));
          }
        }
      }
      flushBatch();
      return [];
    }
    if (isInternal(e.key, SPACE_TS_REGISTRY) && e.key.length === 10) {
      const version = internalKeyNumber(e.key, 2);
      const key = mapKey(this.#mapPrefix, version);
      return [e.kind === KIND_PUT ? { type: "put", key, value: e.value } : { type: "delete", key }];
    }
    if (isInternal(e.key, SPACE_TS_CHUNK) && e.key.length === 18 && e.kind === KIND_PUT) {
      const version = internalKeyNumber(e.key, 2);
      let header;
      try {
        header = chunkHeader(e.value);
      } catch {
        this.counts.refused++;
        return [];
      }
      // A chunk sealed in this record holds head samples the hub already has.
      if (this.#recordSeals.get(version) === header.lastTs) return [];
      const c = decodeChunk(e.value);
      this.samples({ version, ts: c.ts, values: c.values });
    }
    return [];
  }

  /** Writes samples of edge series `version` into its hub series (idempotent: LAST). */
  samples(s: VersionSamples): void {
    const key = this.#hubKey(s.version);
    if (key === undefined) {
      this.counts.unknown += s.ts.length;
      return;
    }
    for (let i = 0; i < s.ts.length; i += TS_SAMPLES_PER_WRITE_MAX) {
      const n = Math.min(s.ts.length - i, TS_SAMPLES_PER_WRITE_MAX);
      const batch = new Array(n);
      for (let j = 0; j < n; j++) batch[j] = { key, ts: s.ts[i + j]!, value: s.values[i + j]! };
      const written = this.#run(() =>
        this.#store.write(key, batch, {
          onDuplicate: "last",
          create: {
            duplicatePolicy: "last",
            labels: hubLabels(this.#site, []),
            retentionMs: this.#retentionMs(undefined),
          },
        }, this.#write)
      );
      if (written === undefined) continue;
      for (const r of written) {
        if (typeof r === "number") this.counts.samples++;
        else this.counts.refused++;
      }
    }
  }

  /**
   * A snapshot's time-series entries, in key order (metadata first, then registry, state
   * records and chunks): the hub's series are rebuilt from them. Returns mapping ops.
   */
  snapshotEntry(e: Entry, versions: Map<number, Uint8Array>): WriteOp[] {
    if (e.kind === KIND_META) {
      const meta = e.value[0] === TYPE_TIMESERIES ? this.#meta(e.value) : undefined;
      if (meta !== undefined) versions.set(meta.version, e.key);
      this.beginRecord([]);
      return this.apply(e);
    }
    if (isInternal(e.key, SPACE_TS_REGISTRY)) {
      const version = internalKeyNumber(e.key, 2);
      if (!versions.has(version)) return []; // a deleted series not yet collected
      this.#recordMap.set(version, e.value);
      return this.apply(e);
    }
    if (isInternal(e.key, SPACE_TS_STATE) && e.key.length === 10) {
      const version = internalKeyNumber(e.key, 2);
      if (!versions.has(version)) return [];
      this.#recordMap.set(version, versions.get(version)!);
      try {
        const head = decodeState(e.value).head.decode();
        this.samples({ version, ts: head.ts, values: head.values });
      } catch {
        this.counts.refused++;
      }
      return [];
    }
    if (isInternal(e.key, SPACE_TS_CHUNK) && e.key.length === 18) {
      const version = internalKeyNumber(e.key, 2);
      if (!versions.has(version)) return [];
      this.#recordMap.set(version, versions.get(version)!);
      this.#recordSeals.clear();
      return this.apply(e);
    }
    return [];
  }

  #upsertSeries(key: Uint8Array, meta: SeriesMeta): void {
    const labels = hubLabels(this.#site, meta.labels);
    let exists = false;
    try {
      exists = this.#find(key);
    } catch {
      exists = false;
    }
    const retentionMs = this.#retentionMs(meta);
    if (exists) {
      this.#run(() => this.#store.alter(key, { labels, retentionMs }, this.#write));
    } else {
      this.#run(() =>
        this.#store.create(key, {
          labels,
          duplicatePolicy: "last",
          chunkSizeBytes: meta.chunkSizeBytes,
          retentionMs,
        }, this.#write)
      );
    }
  }

  /** The RETENTION of a hub series whose edge metadata is `meta` (unknown: undefined). */
  #retentionMs(meta: SeriesMeta | undefined): number {
    if (this.#retention !== "edge") return this.#retention;
    return meta?.retentionMs ?? 0;
  }

  #find(key: Uint8Array): boolean {
    try {
      return this.#store.find(key) !== undefined;
    } catch {
      return false; // another type at that key
    }
  }

  /** The edge key of `version` (this record's registry first, then the stored mapping). */
  #storedKey(version: number): Uint8Array | undefined {
    const inRecord = this.#recordMap.get(version);
    if (inRecord !== undefined) return inRecord ?? undefined;
    return this.#db.getEntry(mapKey(this.#mapPrefix, version))?.value;
  }

  #hubKey(version: number): Uint8Array | undefined {
    const edgeKey = this.#storedKey(version);
    return edgeKey === undefined ? undefined : siteKey(this.#prefix, edgeKey);
  }

  #meta(value: Uint8Array): SeriesMeta | undefined {
    try {
      return decodeSeriesMeta(value);
    } catch {
      this.counts.refused++;
      return undefined;
    }
  }

  #logEntries(value: Uint8Array) {
    try {
      return decodeLog(value);
    } catch {
      this.counts.refused++;
      return [];
    }
  }

  /** Runs one store write; a refusal is counted and logged, never stops the site. */
  #run<T>(fn: () => { value: T; durable: Promise<void> }): T | undefined {
    try {
      const w = fn();
      this.#pending.push(w.durable);
      return w.value;
    } catch (err) {
      this.counts.refused++;
      this.#log("warn", "hub could not apply a site's time-series op", {
        site: this.#site,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }
}

function isInternal(key: Uint8Array, space: number): boolean {
  return key.length >= 2 && key[0] === INTERNAL_KEY_PREFIX && key[1] === space;
}
