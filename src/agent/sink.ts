/**
 * Where the host agent's samples go: one small interface, so the collectors and the timer know
 * nothing of the storage. `ts_sink.ts` writes to the time-series layer; `MemorySink` keeps them
 * in memory (tests, the benchmark).
 *
 * @module
 */

/** Labels of a series, name → value. */
export type Labels = Readonly<Record<string, string>>;

/** One sample: `[timestamp ms, value]`. */
export type Sample = readonly [number, number];

/** Takes the agent's samples. */
export interface SampleSink {
  /**
   * Adds `samples` to the series `key`, creating it with `labels` first when it does not exist
   * (and whatever the sink adds to a new series: retention, a rollup). Resolves once they are
   * durable; rejects when the series cannot be written (another type at `key`, a read-only
   * replica).
   */
  addSamples(key: string, labels: Labels, samples: readonly Sample[]): Promise<void>;
}

/** A sink that keeps everything in memory. */
export class MemorySink implements SampleSink {
  /** Every series written, by key. */
  readonly series: Map<string, { labels: Labels; samples: Sample[] }> = new Map();

  /** Appends the samples (creating the series on first sight). */
  addSamples(key: string, labels: Labels, samples: readonly Sample[]): Promise<void> {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, samples: [] };
      this.series.set(key, s);
    }
    s.samples.push(...samples);
    return Promise.resolve();
  }
}
