/**
 * What the PromQL engine and the Prometheus API read from: a `SeriesSource`, and an in-memory
 * implementation for tests and benchmarks (ARCHITECTURE.md § "PromQL engine").
 *
 * The time-series store answers this interface through a thin adapter. A series' PromQL labels
 * are its labels plus `__name__`; a series without a `__name__` label gets its key as metric
 * name (`seriesLabels`), so `TS.CREATE temp:1 LABELS room a` is `{__name__="temp:1", room="a"}`.
 *
 * Staleness markers are samples whose value has the exact bits of Prometheus's stale NaN
 * (0x7ff0000000000002); a source must keep NaN bits as written (`isStaleNaN` reads them).
 *
 * @module
 */

import { Labels, type Matcher, matchLabels, METRIC_NAME } from "./labels.ts";

/** One series and its samples in `[start, end]`, oldest first. */
export interface SeriesData {
  /** The series' labels, `__name__` included. */
  readonly labels: Labels;
  /** Sample timestamps in milliseconds, strictly increasing. */
  readonly timestamps: Float64Array;
  /** Sample values, aligned with `timestamps`. */
  readonly values: Float64Array;
}

/** The reads the PromQL engine and the query API need. Every call is synchronous. */
export interface SeriesSource {
  /**
   * The series matching every matcher (a missing label matches as `""`) with their samples in
   * `[startMs, endMs]`; a series with no sample in the range may be left out.
   */
  select(matchers: readonly Matcher[], startMs: number, endMs: number): Iterable<SeriesData>;
  /** Label names of the series matching `matchers` (all series when empty), sorted, unique. */
  labelNames(matchers: readonly Matcher[], startMs: number, endMs: number): string[];
  /** Values of label `name` among the series matching `matchers`, sorted, unique. */
  labelValues(
    name: string,
    matchers: readonly Matcher[],
    startMs: number,
    endMs: number,
  ): string[];
}

/** The stale NaN's high and low 32-bit words. */
const STALE_HI = 0x7ff00000;
const STALE_LO = 0x00000002;

/** A number with the stale NaN's bits (write it with `writeStaleNaN` to keep them). */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

/** Writes a staleness marker into `values[i]` bit-exactly. */
export function writeStaleNaN(values: Float64Array, i: number): void {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  // Float64Array and Uint32Array share the platform's byte order.
  if (littleEndian) {
    words[2 * i] = STALE_LO;
    words[2 * i + 1] = STALE_HI;
  } else {
    words[2 * i] = STALE_HI;
    words[2 * i + 1] = STALE_LO;
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads stale markers from a values array without losing NaN payloads. */
export class StaleReader {
  readonly #words: Uint32Array;

  constructor(values: Float64Array) {
    this.#words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  }

  /** True when `values[i]` is Prometheus's stale NaN. */
  isStale(i: number): boolean {
    const lo = this.#words[littleEndian ? 2 * i : 2 * i + 1];
    const hi = this.#words[littleEndian ? 2 * i + 1 : 2 * i];
    return hi === STALE_HI && lo === STALE_LO;
  }
}

/** True when `values[i]` is a staleness marker. */
export function isStaleNaN(values: Float64Array, i: number): boolean {
  const v = values[i]!;
  return v !== v && new StaleReader(values).isStale(i);
}

/** PromQL labels of a stored series: its labels plus `__name__` = its key when it has none. */
export function seriesLabels(key: string, labels: Iterable<readonly [string, string]>): Labels {
  const pairs = [...labels];
  if (!pairs.some(([n, v]) => n === METRIC_NAME && v !== "")) pairs.push([METRIC_NAME, key]);
  return Labels.from(pairs);
}

/** Index of the first element of sorted `a` that is `>= x`. */
export function lowerBound(a: Float64Array | readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** An in-memory `SeriesSource` (tests, benchmarks, the oracle). */
export class MemorySource implements SeriesSource {
  readonly #series: SeriesData[] = [];

  /** Adds a series; timestamps must be strictly increasing. */
  add(labels: Labels, timestamps: Float64Array, values: Float64Array): void {
    if (timestamps.length !== values.length) {
      throw new RangeError("timestamps/values lengths differ");
    }
    for (let i = 1; i < timestamps.length; i++) {
      if (!(timestamps[i]! > timestamps[i - 1]!)) {
        throw new RangeError(`timestamps not increasing at index ${i} of ${labels}`);
      }
    }
    this.#series.push({ labels, timestamps, values });
  }

  /** Number of series. */
  get size(): number {
    return this.#series.length;
  }

  *select(matchers: readonly Matcher[], startMs: number, endMs: number): Iterable<SeriesData> {
    for (const s of this.#series) {
      if (!matchLabels(matchers, s.labels)) continue;
      const a = lowerBound(s.timestamps, startMs);
      const b = lowerBound(s.timestamps, endMs + 1);
      if (a >= b) continue;
      yield {
        labels: s.labels,
        timestamps: s.timestamps.subarray(a, b),
        values: s.values.subarray(a, b),
      };
    }
  }

  labelNames(matchers: readonly Matcher[], startMs: number, endMs: number): string[] {
    const names = new Set<string>();
    for (const s of this.select(matchers, startMs, endMs)) {
      for (const n of s.labels.names) names.add(n);
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
    for (const s of this.select(matchers, startMs, endMs)) {
      const v = s.labels.get(name);
      if (v !== "") values.add(v);
    }
    return [...values].sort();
  }
}
