/**
 * THE histogram: every latency CityHall records (RESP commands, HTTP requests) goes into one of
 * these, and `/metrics`, INFO, `/v1/stats`, `LATENCY HISTOGRAM` and the host agent's
 * percentiles all read it. Fixed upper bounds in seconds, Prometheus-style; ARCHITECTURE.md
 * § "Metrics registry".
 *
 * @module
 */

import { assert } from "../util/assert.ts";

/** Upper bounds (seconds) for RESP command execution: 10 µs to 10 s. */
export const COMMAND_LATENCY_BUCKETS_S: readonly number[] = [
  0.00001,
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Upper bounds (seconds) for HTTP requests: 0.5 ms to 10 s (a request costs more than a command). */
export const HTTP_LATENCY_BUCKETS_S: readonly number[] = COMMAND_LATENCY_BUCKETS_S.slice(4);

/** A fixed-bucket histogram of observations in seconds. */
export class Histogram {
  /** Upper bounds, ascending, without +Inf. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last entry counts those above every bound. */
  readonly counts: number[];
  /** Sum of every observation. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** A histogram with upper bounds `bounds` (ascending, finite). */
  constructor(bounds: readonly number[] = COMMAND_LATENCY_BUCKETS_S) {
    for (let i = 0; i < bounds.length; i++) {
      assert(Number.isFinite(bounds[i]), `histogram bound ${bounds[i]} is not finite`);
      assert(i === 0 || bounds[i]! > bounds[i - 1]!, "histogram bounds must ascend");
    }
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one observation. */
  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound (`le`), ending with +Inf, as Prometheus exports them. */
  cumulative(): { le: number; count: number }[] {
    const out: { le: number; count: number }[] = [];
    let total = 0;
    for (let i = 0; i < this.counts.length; i++) {
      total += this.counts[i]!;
      out.push({ le: this.bounds[i] ?? Infinity, count: total });
    }
    return out;
  }

  /** Adds `other`'s observations (same bounds) to this one. */
  add(other: Histogram): this {
    assert(
      other.bounds.length === this.bounds.length &&
        other.bounds.every((b, i) => b === this.bounds[i]),
      "histograms with different bounds cannot be added",
    );
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.sum += other.sum;
    this.count += other.count;
    return this;
  }

  /** A copy (a snapshot to compute deltas against). */
  clone(): Histogram {
    return new Histogram(this.bounds).add(this);
  }

  /** Forgets every observation. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /**
   * The q-quantile (0...1) of the observations, interpolating inside the bucket as PromQL's
   * `histogram_quantile` does; NaN when empty; above the last bound answers that bound.
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count;
    let below = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (below + c >= rank && c > 0) {
        if (i >= this.bounds.length) return this.bounds[this.bounds.length - 1] ?? NaN;
        const lower = i === 0 ? 0 : this.bounds[i - 1]!;
        return lower + (this.bounds[i]! - lower) * ((rank - below) / c);
      }
      below += c;
    }
    return this.bounds[this.bounds.length - 1] ?? NaN;
  }
}
