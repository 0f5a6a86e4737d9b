/**
 * The `SeriesSource` over the time-series store (ARCHITECTURE.md § "PromQL over the store"):
 * what `/api/v1/query…` reads when the HTTP server mounts the Prometheus API.
 *
 * - Labels: the store keeps label names, values and keys as binary strings (UTF-8 bytes);
 *   PromQL sees UTF-8 text. A series' PromQL labels are its labels plus `__name__`, which is
 *   its `__name__` label or, when it has none, its key (`seriesLabels`).
 * - Matchers `= != =~ !~` run against those labels (`matchLabels`). An equality on a label other
 *   than a key-derived `__name__` narrows the candidates through the store's label index; an
 *   equality on `__name__` also looks the key up directly (series named by their key).
 * - Samples come from the store's decoded heads and chunks (`Float64Array`s, never copied
 *   through `number[]`, which would canonicalise NaN payloads). Staleness markers: V8 may
 *   "silence" a signalling NaN when it passes through a `number` (set the quiet bit, keep the
 *   payload), so a stored `0x7ff0000000000002` can come back as `0x7ff8000000000002`; both are
 *   read as Prometheus's stale NaN and handed to the engine with its exact bits. Every other
 *   NaN is a value, as in Prometheus.
 *
 * @module
 */

import { type Labels, type Matcher, matchLabels, METRIC_NAME } from "./labels.ts";
import { type SeriesData, seriesLabels, type SeriesSource, writeStaleNaN } from "./source.ts";
import { binaryToText, textToBinary } from "../timeseries/meta.ts";
import { stringBytes } from "../timeseries/meta.ts";
import type { TimeSeriesStore } from "../timeseries/store.ts";
import type { Series } from "../timeseries/series_set.ts";
import { readSamples } from "../timeseries/write.ts";
import { isLive, seriesAt } from "../timeseries/series_ops.ts";

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = littleEndian ? 1 : 0;
const LO = littleEndian ? 0 : 1;

/** True when `values[i]` is the stale NaN, quiet bit set or not (see the module comment). */
function isStaleBits(words: Uint32Array, i: number): boolean {
  return words[2 * i + LO] === 2 && (words[2 * i + HI]! & 0xfff7ffff) === 0x7ff00000;
}

/** PromQL labels of one store series, cached while its metadata does not change. */
interface CachedLabels {
  metaSeq: number;
  keyString: string;
  labels: Labels;
}

/** A `SeriesSource` reading a `TimeSeriesStore`. */
export class StoreSource implements SeriesSource {
  readonly #store: TimeSeriesStore;
  readonly #labels = new WeakMap<Series, CachedLabels>();

  /** A source over `store`. */
  constructor(store: TimeSeriesStore) {
    this.#store = store;
  }

  /** The PromQL labels of `s`. */
  labelsOf(s: Series): Labels {
    const hit = this.#labels.get(s);
    if (hit && hit.metaSeq === s.metaSeq && hit.keyString === s.keyString) return hit.labels;
    const pairs: [string, string][] = s.meta.labels.map(([n, v]) => [
      binaryToText(n),
      binaryToText(v),
    ]);
    const labels = seriesLabels(binaryToText(s.keyString), pairs);
    this.#labels.set(s, { metaSeq: s.metaSeq, keyString: s.keyString, labels });
    return labels;
  }

  /** Live series passing `matchers`, found through the label index where one selects. */
  #candidates(matchers: readonly Matcher[]): Series[] {
    const store = this.#store;
    // The most selective index lookup: an equality on a stored label.
    let best: Series[] | undefined;
    for (const m of matchers) {
      if (m.op !== "=" || m.value === "") continue;
      const found = store.select([{
        op: "eq",
        label: textToBinary(m.name),
        values: [textToBinary(m.value)],
      }]);
      if (m.name === METRIC_NAME) {
        // Also the series named by their key (no `__name__` label).
        const byKey = seriesAt(store.context, stringBytes(textToBinary(m.value)));
        if (byKey && isLive(store.context, byKey) && !found.includes(byKey)) found.push(byKey);
      }
      if (best === undefined || found.length < best.length) best = found;
    }
    return best ?? store.all();
  }

  *select(matchers: readonly Matcher[], startMs: number, endMs: number): Iterable<SeriesData> {
    const ctx = this.#store.context;
    for (const s of this.#candidates(matchers)) {
      const labels = this.labelsOf(s);
      if (!matchLabels(matchers, labels)) continue;
      const from = Math.max(0, Math.ceil(startMs), s.retentionCutoff);
      const to = Math.floor(endMs);
      if (s.lastTs < 0 || to < from || from > s.lastTs || to < s.firstTs) continue;
      const got = readSamples(ctx, s, from, to);
      if (got.ts.length === 0) continue;
      yield { labels, timestamps: got.ts, values: withStaleBits(got.values) };
    }
  }

  labelNames(matchers: readonly Matcher[], startMs: number, endMs: number): string[] {
    const names = new Set<string>();
    for (const labels of this.#matching(matchers, startMs, endMs)) {
      for (const n of labels.names) names.add(n);
    }
    return [...names].sort();
  }

  labelValues(
    name: string,
    matchers: readonly Matcher[],
    startMs: number,
    endMs: number,
  ): string[] {
    const values = new Set<string>();
    for (const labels of this.#matching(matchers, startMs, endMs)) {
      const v = labels.get(name);
      if (v !== "") values.add(v);
    }
    return [...values].sort();
  }

  /** Labels of the series passing `matchers` with samples overlapping `[startMs, endMs]`. */
  *#matching(matchers: readonly Matcher[], startMs: number, endMs: number): Iterable<Labels> {
    for (const s of this.#candidates(matchers)) {
      const labels = this.labelsOf(s);
      if (!matchLabels(matchers, labels)) continue;
      // Like Prometheus's blocks, the test is by time span, not sample by sample.
      if (s.lastTs < 0 || s.lastTs < startMs || s.firstTs > endMs) continue;
      yield labels;
    }
  }
}

/** `values`, or a copy whose stale NaNs carry the exact stale bits (the engine checks them). */
export function withStaleBits(values: Float64Array): Float64Array {
  let words: Uint32Array | undefined;
  let out: Float64Array | undefined;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === v) continue;
    words ??= new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
    if (!isStaleBits(words, i)) continue;
    if (out === undefined) {
      out = new Float64Array(values.length);
      out.set(values); // a typed-array copy keeps NaN payloads
    }
    writeStaleNaN(out, i);
  }
  return out ?? values;
}
