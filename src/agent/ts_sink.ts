/**
 * The agent's sink over the time-series layer (`TimeSeriesStore`; ARCHITECTURE.md § "Host
 * agent"): a series is created on first sight with the agent's retention and duplicate policy
 * LAST, with a rollup series `<key>:1m` (label `rollup=1m`, its own retention) fed by an `avg`
 * compaction rule. Retention flags changed since the series were created are applied at first
 * sight. Written against the store's method names through `SeriesStoreLike`, so this file does
 * not depend on the store's module.
 *
 * @module
 */

import type { Labels, Sample, SampleSink } from "./sink.ts";

/** What a store write answers: a value, and a promise that resolves once it is durable. */
export interface WrittenLike<T> {
  value: T;
  durable: Promise<void>;
}

/** The parts of `TimeSeriesStore` the sink uses (labels are binary strings, byte per char). */
export interface SeriesStoreLike {
  /** The series at `key`, undefined when missing; throws for a key of another type. */
  find(key: Uint8Array): unknown;
  /** TS.CREATE. */
  create(
    key: Uint8Array,
    options: { retentionMs?: number; labels?: [string, string][]; duplicatePolicy?: "last" },
  ): WrittenLike<void>;
  /** TS.ALTER. */
  alter(key: Uint8Array, options: { retentionMs?: number }): WrittenLike<void>;
  /** TS.CREATERULE. */
  createRule(
    src: Uint8Array,
    dst: Uint8Array,
    spec: { aggregator: "avg"; bucketMs: number; alignMs: number; backfill: boolean },
  ): WrittenLike<void>;
  /** TS.INFO (the fields used). */
  info(key: Uint8Array): { retentionTime: number; rules: { key: Uint8Array }[] };
  /** Samples for one existing or new series; per-sample refusals come back as values. */
  write(
    key: Uint8Array,
    samples: { key: Uint8Array; ts: number; value: number }[],
    options: { onDuplicate?: "last" },
  ): WrittenLike<unknown[]>;
}

/** Retention and rollup of the agent's series. */
export interface TsSinkOptions {
  /** Retention of the raw series (ms; CLI default 7 days). */
  retentionMs: number;
  /** Rollup bucket (ms; 1 minute). */
  rollupBucketMs: number;
  /** Retention of the rollup series (ms; CLI default 90 days). */
  rollupRetentionMs: number;
}

const encoder = new TextEncoder();

/** UTF-8 text as the store's binary strings (one char per byte). */
function binary(text: string): string {
  let out = "";
  for (const b of encoder.encode(text)) out += String.fromCharCode(b);
  return out;
}

function labelPairs(labels: Labels): [string, string][] {
  return Object.entries(labels).map(([k, v]) => [binary(k), binary(v)]);
}

/** The rollup's key suffix for a bucket: `:1m`, `:5m`, `:1h`, `:30s`, else `:<ms>ms`. */
export function rollupSuffix(bucketMs: number): string {
  if (bucketMs % 3_600_000 === 0) return `:${bucketMs / 3_600_000}h`;
  if (bucketMs % 60_000 === 0) return `:${bucketMs / 60_000}m`;
  if (bucketMs % 1000 === 0) return `:${bucketMs / 1000}s`;
  return `:${bucketMs}ms`;
}

/** A `SampleSink` over the time-series layer. */
export class TsSink implements SampleSink {
  readonly #store: SeriesStoreLike;
  readonly #o: TsSinkOptions;
  /** Series already checked in this process (created, altered, rule in place). */
  readonly #ready = new Set<string>();

  constructor(store: SeriesStoreLike, options: TsSinkOptions) {
    this.#store = store;
    this.#o = options;
  }

  async #prepare(key: string, labels: Labels): Promise<void> {
    const s = this.#store;
    const src = encoder.encode(key);
    const rollupKey = key + rollupSuffix(this.#o.rollupBucketMs);
    const dst = encoder.encode(rollupKey);
    const pending: Promise<void>[] = [];
    const ensure = (k: Uint8Array, l: Labels, retentionMs: number) => {
      if (s.find(k) === undefined) {
        pending.push(
          s.create(k, { retentionMs, labels: labelPairs(l), duplicatePolicy: "last" }).durable,
        );
        return;
      }
      if (s.info(k).retentionTime !== retentionMs) {
        pending.push(s.alter(k, { retentionMs }).durable);
      }
    };
    ensure(src, labels, this.#o.retentionMs);
    const rollupLabels = { ...labels, rollup: rollupSuffix(this.#o.rollupBucketMs).slice(1) };
    ensure(dst, rollupLabels, this.#o.rollupRetentionMs);
    const rules = s.info(src).rules;
    if (!rules.some((r) => new TextDecoder().decode(r.key) === rollupKey)) {
      pending.push(
        s.createRule(src, dst, {
          aggregator: "avg",
          bucketMs: this.#o.rollupBucketMs,
          alignMs: 0,
          backfill: false,
        }).durable,
      );
    }
    await Promise.all(pending);
  }

  /** Creates the series and its rollup on first sight, then writes the samples. */
  async addSamples(key: string, labels: Labels, samples: readonly Sample[]): Promise<void> {
    if (!this.#ready.has(key)) {
      await this.#prepare(key, labels);
      this.#ready.add(key);
    }
    const k = encoder.encode(key);
    const written = this.#store.write(
      k,
      samples.map(([ts, value]) => ({ key: k, ts, value })),
      { onDuplicate: "last" },
    );
    await written.durable;
    const refused = written.value.find((v) => typeof v !== "number");
    if (refused !== undefined) {
      throw new Error(`Sample refused for ${key}: ${(refused as Error).message ?? refused}`);
    }
  }
}
