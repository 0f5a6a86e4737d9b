/**
 * The bulk write path: one series' run of samples from one request written in one go
 * (ARCHITECTURE.md § "Time-series write path", its bulk runs). The result is exactly that of
 * calling `writeSample` for each sample in order — the same head bytes, the same log entries,
 * the same seals at the same samples — but the samples newer than the series' newest one are
 * appended to the head and to the batch's SAMPLES entry as a run, not one call chain each.
 * Samples that are not plain appends (upserts, duplicates, samples of a series with IGNORE
 * options or compaction rules) go through `writeSample` one by one.
 *
 * @module
 */

import type { Batch } from "./batch.ts";
import type { DuplicatePolicy } from "./meta.ts";
import type { Series } from "./series_set.ts";
import { maybeSeal, TsError, writeSample } from "./write.ts";

/**
 * Writes samples `ts[from … to)` / `values[from … to)` of `series` in order under `override`
 * (ON_DUPLICATE). A sample `writeSample` refuses is passed to `refuse` with its index and
 * error and the others are written; anything else thrown propagates. Returns the number of
 * samples written (refused ones excluded). Timestamps must already be valid (safe, ≥ 0).
 */
export function writeRun(
  b: Batch,
  series: Series,
  ts: Float64Array,
  values: Float64Array,
  from: number,
  to: number,
  override: DuplicatePolicy | undefined,
  refuse: (i: number, err: TsError) => void,
): number {
  const meta = series.meta;
  // IGNORE compares each sample with the newest one and rules close buckets per sample: both
  // stay on the one-sample path.
  const plain = meta.rules.length === 0 && meta.ignoreMaxTimeDiffMs === 0 &&
    meta.ignoreMaxValDiff === 0;
  let written = 0;
  let i = from;
  while (i < to) {
    if (plain) {
      // The longest run of appends that does not pass the next seal.
      let last = series.lastTs;
      const room = Math.max(1, series.chunkSamples - series.head.count);
      const stop = Math.min(to, i + room);
      let j = i;
      while (j < stop && ts[j]! > last) last = ts[j++]!;
      if (j > i) {
        b.headAppendRun(series, ts, values, i, j);
        if (b.written !== undefined) noteRun(b, series, ts, values, i, j);
        maybeSeal(b, series);
        written += j - i;
        i = j;
        continue;
      }
    }
    try {
      writeSample(b, series, ts[i]!, values[i]!, override);
      written++;
    } catch (err) {
      if (!(err instanceof TsError)) throw err;
      refuse(i, err);
    }
    i++;
  }
  return written;
}

/** Keeps a run's samples for the store's `SampleListener` (as `writeSample` does). */
function noteRun(
  b: Batch,
  series: Series,
  ts: Float64Array,
  values: Float64Array,
  from: number,
  to: number,
): void {
  const written = b.written!;
  let list = written.get(series);
  if (list === undefined) written.set(series, list = []);
  for (let i = from; i < to; i++) list.push({ timestampMs: ts[i]!, value: values[i]! });
}
