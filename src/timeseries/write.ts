/**
 * The sample write path: adding, upserting and deleting samples of one series inside a
 * `Batch`, sealing full heads, and running compaction rules on what changed.
 * ARCHITECTURE.md § "Time-series write path" and § "Compaction rules" describe the rules this
 * code follows (RedisTimeSeries 1.8 semantics unless noted):
 *
 * - A sample newer than every other is appended to the head; a full head is sealed into a
 *   chunk at once. A sample at or before the newest one is an upsert under the duplicate
 *   policy (BLOCK refuses it); it lands in the head when it is newer than the sealed boundary,
 *   else the chunk holding that time is rewritten (split when it grows past twice its size).
 * - Rules are stateless: when a new sample opens a later bucket, the bucket of the previous
 *   newest sample is aggregated from the source's samples and written to the destination
 *   (policy LAST); an upsert or delete in a closed bucket recomputes that bucket (deleting the
 *   destination sample when the bucket became empty). So a replica, which never runs rules,
 *   and a reopen, which has no aggregation state to restore, agree with the leader.
 *
 * @module
 */

import { TS_RULE_CHAIN_DEPTH_MAX } from "../limits.ts";
import { aggregate, bucketStart, bucketStartRaw, type EdgeSample } from "./aggregate.ts";
import type { Batch } from "./batch.ts";
import type { ChunkRef } from "./chunks.ts";
import { lowerBound, type Samples } from "./head.ts";
import { ENTRY_DELETE, ENTRY_SEAL, type SealedStats } from "./log.ts";
import type { DuplicatePolicy, Rule } from "./meta.ts";
import type { Series } from "./series_set.ts";
import { TsError, tsError } from "./errors.ts";

export { TsError, tsError } from "./errors.ts";

/** The read side a write needs: staged chunks included. */
type Reader = Pick<Batch, "chunks">;

/** Merges up to this many samples go to the reused buffers (4 MiB kept at most). */
const SCRATCH_SAMPLES_MAX = 262_144;
/** Merge buffers of `readSamples(..., scratch = true)`, grown on demand and reused. */
let scratchTs = new Float64Array(0);
let scratchValues = new Float64Array(0);

/**
 * Samples of `series` with `from <= ts <= to`, ascending (staged changes included). With
 * `scratch`, samples from several chunks are merged into buffers reused by the next such call
 * (a day at 1 Hz is 1.4 MB, which a range aggregation would otherwise allocate, zero and
 * drop on every query): the caller must be done with them before it reads again.
 */
export function readSamples(
  b: Reader,
  series: Series,
  from: number,
  to: number,
  scratch = false,
): Samples {
  const parts: Samples[] = [];
  const total = readParts(b, series, from, to, parts);
  if (parts.length === 1) return parts[0]!;
  let ts: Float64Array;
  let values: Float64Array;
  if (scratch && total <= SCRATCH_SAMPLES_MAX) {
    if (scratchTs.length < total) {
      scratchTs = new Float64Array(total);
      scratchValues = new Float64Array(total);
    }
    ts = scratchTs.subarray(0, total);
    values = scratchValues.subarray(0, total);
  } else {
    ts = new Float64Array(total);
    values = new Float64Array(total);
  }
  let at = 0;
  for (const p of parts) {
    ts.set(p.ts, at);
    values.set(p.values, at);
    at += p.ts.length;
  }
  return { ts, values };
}

/**
 * Appends to `parts` the samples of `series` with `from <= ts <= to` as views of its chunks and
 * head, ascending and disjoint (together one ascending run), and returns how many there are:
 * `readSamples` without the copy into one array, for callers that copy anyway.
 */
export function readParts(
  b: Reader,
  series: Series,
  from: number,
  to: number,
  parts: Samples[],
): number {
  let total = 0;
  const stats = series.stats;
  if (from <= stats.lastSealedTs) {
    const last = Math.min(to, stats.lastSealedTs);
    for (
      const c of b.chunks.overlapping(series.version, from, last, expectedChunks(stats, from, last))
    ) {
      const part = slice(c.samples, from, to);
      if (part.ts.length > 0) {
        parts.push(part);
        total += part.ts.length;
      }
    }
  }
  const head = series.head;
  if (head.count > 0 && to >= head.firstTs && from <= head.lastTs) {
    const part = slice(b.chunks.heads.samples(head), from, to);
    if (part.ts.length > 0) {
      parts.push(part);
      total += part.ts.length;
    }
  }
  return total;
}

/**
 * How many sealed chunks a read of `[from, to]` should meet (those starting in it and the one
 * before), from the sealed chunks' average span, with slack for uneven chunks.
 */
function expectedChunks(stats: SealedStats, from: number, to: number): number {
  if (stats.sealedChunks <= 0) return 0;
  const span = (stats.lastSealedTs - stats.firstSealedTs + 1) / stats.sealedChunks;
  return Math.min(
    stats.sealedChunks + 1,
    Math.ceil((to - Math.max(from, stats.firstSealedTs) + 1) / span) + 3,
  );
}

/** The samples of `s` in `[from, to]` (views). */
export function slice(s: Samples, from: number, to: number): Samples {
  const n = s.ts.length;
  const a = lowerBound(s.ts, n, from);
  const z = lowerBound(s.ts, n, to + 1);
  return { ts: s.ts.subarray(a, z), values: s.values.subarray(a, z) };
}

/** The value at `ts`, or undefined. */
export function valueAt(b: Reader, series: Series, ts: number): number | undefined {
  if (ts > series.stats.lastSealedTs) return series.head.valueAt(ts);
  for (const c of b.chunks.overlapping(series.version, ts, ts)) {
    const i = lowerBound(c.samples.ts, c.samples.ts.length, ts);
    if (c.samples.ts[i] === ts) return c.samples.values[i];
  }
  return undefined;
}

/** The newest sample strictly before `t`, or undefined. */
export function sampleBefore(b: Reader, series: Series, t: number): EdgeSample | undefined {
  const head = series.head;
  if (head.count > 0 && head.firstTs < t) {
    const all = b.chunks.heads.samples(head);
    const i = lowerBound(all.ts, all.ts.length, t) - 1;
    return { ts: all.ts[i]!, value: all.values[i]! };
  }
  if (series.stats.sealedChunks === 0 || t <= 0) return undefined;
  const home = b.chunks.home(series.version, t - 1);
  if (!home) return undefined;
  const i = lowerBound(home.samples.ts, home.samples.ts.length, t) - 1;
  return i >= 0 ? { ts: home.samples.ts[i]!, value: home.samples.values[i]! } : undefined;
}

/** The first sample of chunk `c` after `t`, if it has one. */
function firstAfter(c: ChunkRef | undefined, t: number): EdgeSample | undefined {
  if (!c) return undefined;
  const i = lowerBound(c.samples.ts, c.samples.ts.length, t + 1);
  return i < c.samples.ts.length
    ? { ts: c.samples.ts[i]!, value: c.samples.values[i]! }
    : undefined;
}

/** The oldest sample strictly after `t`, or undefined. */
export function sampleAfter(b: Reader, series: Series, t: number): EdgeSample | undefined {
  if (t < series.stats.lastSealedTs) {
    // The chunk that holds t + 1 starts at or before it (chunks are keyed by their first
    // timestamp); only when its samples end at or before t is the answer in the next chunk.
    const found = firstAfter(b.chunks.last(series.version, t + 1), t) ??
      firstAfter(b.chunks.next(series.version, t + 1), t);
    if (found) return found;
  }
  const head = series.head;
  if (head.count > 0 && head.lastTs > t) {
    const all = b.chunks.heads.samples(head);
    const i = lowerBound(all.ts, all.ts.length, t + 1);
    return { ts: all.ts[i]!, value: all.values[i]! };
  }
  return undefined;
}

/**
 * Adds one sample (TS.ADD semantics): returns the timestamp to reply, or throws `TsError`
 * before changing anything. `override` is ON_DUPLICATE.
 */
export function writeSample(
  b: Batch,
  series: Series,
  ts: number,
  value: number,
  override: DuplicatePolicy | undefined,
  depth = 0,
): number {
  const last = series.lastTs;
  const meta = series.meta;
  if (meta.retentionMs > 0 && last >= 0 && ts < last && last - ts > meta.retentionMs) {
    throw tsError("TSDB: Timestamp is older than retention");
  }
  const policy = override ?? meta.duplicatePolicy ?? "block";
  if (
    last >= 0 && ts >= last && policy === "last" && meta.sourceVersion === 0 &&
    (meta.ignoreMaxTimeDiffMs > 0 || meta.ignoreMaxValDiff > 0) &&
    ts - last <= meta.ignoreMaxTimeDiffMs &&
    Math.abs(value - series.lastValue) <= meta.ignoreMaxValDiff
  ) {
    return last; // IGNORE: too close to the newest sample to be worth keeping
  }
  if (last < 0 || ts > last) {
    b.headUpsert(series, ts, value);
    noteWritten(b, series, ts, value);
    maybeSeal(b, series);
    if (meta.rules.length > 0 && last >= 0) closeBuckets(b, series, last, ts, value, depth);
    return ts;
  }
  const existing = valueAt(b, series, ts);
  let next = value;
  if (existing !== undefined) {
    switch (policy) {
      case "block":
        throw tsError(
          "TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
        );
      case "first":
        next = existing;
        break;
      case "last":
        next = value;
        break;
      case "min":
        next = Math.min(existing, value);
        break;
      case "max":
        next = Math.max(existing, value);
        break;
      case "sum":
        next = existing + value;
        break;
    }
    if (Object.is(next, existing)) return ts;
  }
  setSample(b, series, ts, next);
  noteWritten(b, series, ts, next);
  if (meta.rules.length > 0) recomputeRules(b, series, ts, depth);
  return ts;
}

/** Keeps a written sample for the store's `SampleListener` (only while it wants them). */
function noteWritten(b: Batch, series: Series, ts: number, value: number): void {
  const written = b.written;
  if (written === undefined) return;
  let list = written.get(series);
  if (list === undefined) written.set(series, list = []);
  list.push({ timestampMs: ts, value });
}

/** Sets the sample at `ts` (head or chunk, whichever holds that time). */
export function setSample(b: Batch, series: Series, ts: number, value: number): void {
  if (ts > series.stats.lastSealedTs) {
    b.headUpsert(series, ts, value);
    maybeSeal(b, series);
    return;
  }
  const stats = series.stats;
  const home = b.chunks.home(series.version, ts);
  if (!home) {
    b.chunks.stage(series.version, ts, { ts: Float64Array.of(ts), values: Float64Array.of(value) });
    stats.sealedChunks++;
    stats.sealedSamples++;
    stats.firstSealedTs = stats.sealedChunks === 1 ? ts : Math.min(stats.firstSealedTs, ts);
    b.stateDirty.add(series);
    return;
  }
  const src = home.samples;
  const n = src.ts.length;
  const i = lowerBound(src.ts, n, ts);
  let out: { ts: Float64Array; values: Float64Array };
  if (i < n && src.ts[i] === ts) {
    out = { ts: src.ts.slice(), values: src.values.slice() };
    out.values[i] = value;
  } else {
    out = { ts: new Float64Array(n + 1), values: new Float64Array(n + 1) };
    out.ts.set(src.ts.subarray(0, i));
    out.values.set(src.values.subarray(0, i));
    out.ts[i] = ts;
    out.values[i] = value;
    out.ts.set(src.ts.subarray(i), i + 1);
    out.values.set(src.values.subarray(i), i + 1);
    stats.sealedSamples++;
  }
  if (out.ts[0] !== home.firstTs) b.chunks.stage(series.version, home.firstTs, null);
  const m = out.ts.length;
  if (m > 2 * series.chunkSamples) {
    const half = m >> 1;
    b.chunks.stage(series.version, out.ts[0]!, {
      ts: out.ts.slice(0, half),
      values: out.values.slice(0, half),
    });
    b.chunks.stage(series.version, out.ts[half]!, {
      ts: out.ts.slice(half),
      values: out.values.slice(half),
    });
    stats.sealedChunks++;
  } else b.chunks.stage(series.version, out.ts[0]!, out);
  if (ts < stats.firstSealedTs) stats.firstSealedTs = ts;
  if (ts === stats.lastSealedTs) stats.lastSealedValue = value;
  b.stateDirty.add(series);
}

/** Seals the head into a chunk when it holds a chunk's worth of samples. */
export function maybeSeal(b: Batch, series: Series): void {
  if (series.head.count >= series.chunkSamples) sealHead(b, series);
}

/** Seals the whole head into one chunk (no-op when empty). */
export function sealHead(b: Batch, series: Series): void {
  const head = series.head;
  if (head.count === 0) return;
  const s = head.decode();
  const n = s.ts.length;
  b.chunks.stage(series.version, s.ts[0]!, s);
  const stats = series.stats;
  if (stats.sealedChunks === 0) stats.firstSealedTs = s.ts[0]!;
  stats.sealedChunks++;
  stats.sealedSamples += n;
  stats.lastSealedTs = s.ts[n - 1]!;
  stats.lastSealedValue = s.values[n - 1]!;
  const entry = {
    type: ENTRY_SEAL,
    version: series.version,
    throughTs: stats.lastSealedTs,
  } as const;
  // Every sample went into the chunk: the head empties without a second decoding (a replay
  // of the entry, `head.deleteRange(0, throughTs)`, empties it the same way).
  head.clear();
  b.record(series, entry);
  b.stateDirty.add(series);
}

/** Writes the aggregate of bucket `start` of rule `r` into its destination (or deletes it). */
function emitBucket(b: Batch, src: Series, r: Rule, start: number, depth: number): void {
  const dst = b.set.byVersion(r.destVersion);
  if (!dst || depth >= TS_RULE_CHAIN_DEPTH_MAX) return;
  const from = Math.max(start, r.startTs);
  // A first bucket clamped to start at 0 still ends where its unclamped start says.
  const end = bucketStartRaw(start, r.bucketMs, r.alignMs) + r.bucketMs;
  const to = end - 1;
  if (from > to) return;
  const s = readSamples(b, src, from, to);
  const n = s.ts.length;
  if (n === 0) {
    if (valueAt(b, dst, start) !== undefined) deleteRange(b, dst, start, start, depth + 1);
    return;
  }
  const edges = r.aggregator === "twa"
    ? {
      prev: sampleBefore(b, src, from),
      next: sampleAfter(b, src, to),
      frameStart: start,
      frameEnd: end,
    }
    : undefined;
  const prev = edges?.prev;
  if (edges && prev && prev.ts < r.startTs) edges.prev = undefined;
  const v = aggregate(r.aggregator, s.ts, s.values, 0, n, edges);
  try {
    writeSample(b, dst, start, v, "last", depth + 1);
    b.ruleOutputs.add(dst);
  } catch (err) {
    // A destination that refuses (its own retention) keeps its data, as in RedisTimeSeries.
    if (!(err instanceof TsError)) throw err;
  }
}

/** A new newest sample at `ts` after `lastBefore`: emit every rule's bucket it closed. */
function closeBuckets(
  b: Batch,
  src: Series,
  lastBefore: number,
  ts: number,
  _value: number,
  depth: number,
): void {
  for (const r of src.meta.rules) {
    const lastBucket = bucketStart(lastBefore, r.bucketMs, r.alignMs);
    if (bucketStart(ts, r.bucketMs, r.alignMs) <= lastBucket) continue;
    if (lastBefore < r.startTs) continue;
    emitBucket(b, src, r, lastBucket, depth);
  }
}

/** A sample at `ts` changed in a possibly closed bucket: recompute it. */
function recomputeRules(b: Batch, src: Series, ts: number, depth: number): void {
  const last = src.lastTs;
  for (const r of src.meta.rules) {
    const open = bucketStart(last, r.bucketMs, r.alignMs);
    const bucket = bucketStart(ts, r.bucketMs, r.alignMs);
    if (bucket >= open || ts < r.startTs) continue;
    emitBucket(b, src, r, bucket, depth);
  }
}

/**
 * Deletes the samples with `from <= ts <= to` (TS.DEL); returns how many of them were visible
 * (samples past the retention window are deleted too but no longer counted: they had already
 * vanished from every read). Destination buckets
 * are recomputed as RedisTimeSeries does (edges recomputed, whole buckets deleted, the newest
 * bucket reopened when its samples are gone).
 */
export function deleteRange(b: Batch, series: Series, from: number, to: number, depth = 0): number {
  const meta = series.meta;
  const lastBefore = series.lastTs;
  if (meta.rules.length > 0 && meta.retentionMs > 0) {
    const obsolete = (t: number) =>
      lastBefore > meta.retentionMs && t < lastBefore - meta.retentionMs;
    if (
      obsolete(from) || meta.rules.some((r) => obsolete(bucketStart(from, r.bucketMs, r.alignMs)))
    ) {
      throw tsError(
        "TSDB: When a series has compactions, deleting samples or compaction buckets beyond the series retention period is not possible",
      );
    }
  }
  if (lastBefore < 0 || from > to) return 0;
  const cutoff = series.retentionCutoff;
  const visible = Math.max(from, cutoff) <= to
    ? readSamples(b, series, Math.max(from, cutoff), to).ts.length
    : 0;
  let count = 0;
  const stats = series.stats;
  let logged = false;
  if (to > stats.lastSealedTs && series.head.count > 0) {
    const n = series.head.deleteRange(from, to);
    if (n > 0) {
      b.record(series, { type: ENTRY_DELETE, version: series.version, from, to });
      logged = true;
      count += n;
    }
  }
  if (from <= stats.lastSealedTs && stats.sealedChunks > 0) {
    for (const c of b.chunks.overlapping(series.version, from, Math.min(to, stats.lastSealedTs))) {
      const s = c.samples;
      const n = s.ts.length;
      const a = lowerBound(s.ts, n, from);
      const z = lowerBound(s.ts, n, to + 1);
      if (z <= a) continue;
      count += z - a;
      stats.sealedSamples -= z - a;
      b.chunks.stage(series.version, c.firstTs, null);
      if (z - a < n) {
        const ts = new Float64Array(n - (z - a));
        const values = new Float64Array(n - (z - a));
        ts.set(s.ts.subarray(0, a));
        values.set(s.values.subarray(0, a));
        ts.set(s.ts.subarray(z), a);
        values.set(s.values.subarray(z), a);
        b.chunks.stage(series.version, ts[0]!, { ts, values });
      } else stats.sealedChunks--;
    }
    refreshSealedBounds(b, series);
    b.stateDirty.add(series);
    // Logged even when no head sample went: a fleet hub replays deletes from the log
    // (ARCHITECTURE.md § "Series at the hub"); on the head it is a no-op here.
    if (count > 0 && !logged) {
      b.record(series, { type: ENTRY_DELETE, version: series.version, from, to });
    }
  }
  if (count > 0 && meta.rules.length > 0) deleteInRules(b, series, from, to, lastBefore, depth);
  return visible;
}

/** Recomputes the first and last sealed sample after chunks were deleted or shrunk. */
export function refreshSealedBounds(b: Batch, series: Series): void {
  const stats = series.stats;
  if (stats.sealedChunks <= 0) {
    stats.sealedChunks = 0;
    stats.sealedSamples = 0;
    stats.lastSealedTs = -1;
    stats.lastSealedValue = 0;
    stats.firstSealedTs = 0;
    return;
  }
  const first = b.chunks.next(series.version, 0);
  if (first) stats.firstSealedTs = first.samples.ts[0]!;
  const last = b.chunks.home(series.version, Number.MAX_SAFE_INTEGER);
  if (last) {
    const n = last.samples.ts.length;
    stats.lastSealedTs = last.samples.ts[n - 1]!;
    stats.lastSealedValue = last.samples.values[n - 1]!;
  }
}

function deleteInRules(
  b: Batch,
  src: Series,
  from: number,
  to: number,
  lastBefore: number,
  depth: number,
): void {
  for (const r of src.meta.rules) {
    const dst = b.set.byVersion(r.destVersion);
    if (!dst) continue;
    const open = bucketStart(lastBefore, r.bucketMs, r.alignMs);
    const first = bucketStart(from, r.bucketMs, r.alignMs);
    const lastClosed = Math.min(bucketStart(to, r.bucketMs, r.alignMs), open - r.bucketMs);
    if (first <= lastClosed) {
      emitBucket(b, src, r, first, depth);
      if (lastClosed > first) emitBucket(b, src, r, lastClosed, depth);
      const middleFrom = bucketStartRaw(first, r.bucketMs, r.alignMs) + r.bucketMs;
      const middleTo = lastClosed - 1;
      if (middleTo >= middleFrom) deleteRange(b, dst, middleFrom, middleTo, depth + 1);
    }
    // The newest source bucket lost its samples: the bucket now holding the newest sample is
    // open again, and its destination sample waits until it closes.
    const lastNow = src.lastTs;
    if (lastNow >= 0 && to >= open && bucketStart(lastNow, r.bucketMs, r.alignMs) < open) {
      const reopened = bucketStart(lastNow, r.bucketMs, r.alignMs);
      if (valueAt(b, dst, reopened) !== undefined) {
        deleteRange(b, dst, reopened, reopened, depth + 1);
      }
    }
  }
}
