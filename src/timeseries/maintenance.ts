/**
 * Background work of the time-series layer on a leader (a replica mirrors its results through
 * the log): ARCHITECTURE.md § "Checkpoints, retention and garbage".
 *
 * - Checkpoints: a series whose head holds log ops older than `TS_CHECKPOINT_AGE_MS`, or older
 *   than the newest `TS_WAL_PINNED_BYTES_MAX` of WAL, gets its state record rewritten (its
 *   head, in the head format) so that the WAL segments holding those ops can go and a reopen
 *   replays little. Idle series are covered by the age rule.
 * - Memory: past `TS_HEADS_BYTES_MAX` of heads, the largest are sealed early.
 * - Retention: whole sealed chunks older than the retention window are deleted (reads already
 *   hide every expired sample at once).
 * - Garbage: series whose key was deleted, overwritten or expired (DEL, SET, EXPIRE act on the
 *   key alone) lose their registry entry, state and chunks, a few hundred per tick.
 *
 * @module
 */

import {
  TS_CHECKPOINT_AGE_MS,
  TS_HEAD_SEAL_SAMPLES_MIN,
  TS_HEADS_BYTES_MAX,
  TS_WAL_PINNED_BYTES_MAX,
} from "../limits.ts";
import { chunkHeader } from "./codec.ts";
import { run, type StoreContext } from "./context.ts";
import { chunkKey } from "./log.ts";
import { dropOps, isLive } from "./series_ops.ts";
import type { Series } from "./series_set.ts";
import { refreshSealedBounds, sealHead } from "./write.ts";

/** Series checkpointed or dropped per batch. */
const SERIES_PER_BATCH = 500;
/** Series checked for garbage per tick. */
const GC_PER_TICK = 2000;

/**
 * The highest sequence whose WAL is "old": older than the newest `TS_WAL_PINNED_BYTES_MAX` of
 * WAL, the active segment included (inside the segment where that boundary falls, sequences
 * are interpolated by bytes). A reopen replays at most about that much log.
 */
export function oldSeqLimit(ctx: StoreContext, pinnedBytesMax = TS_WAL_PINNED_BYTES_MAX): number {
  const segments = ctx.db.walSegments();
  let bytes = 0;
  for (let i = segments.length - 1; i >= 0; i--) {
    const seg = segments[i]!;
    if (seg.lastSeq === 0) continue;
    if (bytes + seg.sizeBytes > pinnedBytesMax) {
      const oldFraction = 1 - (pinnedBytesMax - bytes) / seg.sizeBytes;
      return seg.firstSeq + Math.floor((seg.lastSeq - seg.firstSeq) * oldFraction);
    }
    bytes += seg.sizeBytes;
  }
  return 0;
}

/**
 * Flushes the memtable when the closed WAL segments it keeps alive pass
 * `TS_WAL_PINNED_BYTES_MAX`: the engine replays every segment above its flushed sequence at
 * open, so checkpoints alone would not shorten a reopen (time-series writes put little in the
 * memtable, which would otherwise wait for the engine's own, larger bound).
 */
export async function flushForReplay(ctx: StoreContext): Promise<void> {
  const flushed = ctx.db.stats().flushedSeq;
  const segments = ctx.db.walSegments();
  let bytes = 0;
  for (let i = 0; i < segments.length - 1; i++) {
    if (segments[i]!.lastSeq > flushed) bytes += segments[i]!.sizeBytes;
  }
  if (bytes > TS_WAL_PINNED_BYTES_MAX) await ctx.db.flush();
}

/**
 * Writes the state record of every series in `list`, a batch at a time, each batch once the
 * previous one is durable; resolves when all are. One batch at a time keeps the encoded
 * records and their WAL copies of one batch alive at once, not of every head (a checkpoint of
 * 10,000 heads is ~16 MB; written at once it was a burst of ~50 MB in buffers).
 */
export async function checkpoint(ctx: StoreContext, list: readonly Series[]): Promise<void> {
  for (let i = 0; i < list.length; i += SERIES_PER_BATCH) {
    const part = list.slice(i, i + SERIES_PER_BATCH);
    const { durable } = run(ctx, (b) => {
      for (const s of part) if (ctx.set.byVersion(s.version) === s) b.stateDirty.add(s);
    });
    await durable;
  }
}

/** Share of the series a round checkpoints early, before they are due (see `dueForCheckpoint`). */
const EARLY_SHARE = 10;

/**
 * Series to checkpoint this round: those whose uncovered log ops are too old (by age, or older
 * than the newest `TS_WAL_PINNED_BYTES_MAX` of WAL), all of them; and, oldest first, up to a
 * tenth of all series whose oldest uncovered op is older than half that WAL (`pinnedBytesMax`). Series written in
 * step (10,000 sensors at 1 Hz) would otherwise all fall due in the same round, every few
 * minutes, and rewrite every head at once (tens of MB of state records in one burst of
 * allocations and WAL); taken early a tenth at a time, their checkpoints spread over the rounds.
 */
export function dueForCheckpoint(
  ctx: StoreContext,
  nowMs: number,
  pinnedBytesMax = TS_WAL_PINNED_BYTES_MAX,
): Series[] {
  const limit = oldSeqLimit(ctx, pinnedBytesMax);
  const early = oldSeqLimit(ctx, pinnedBytesMax / 2);
  const durable = ctx.db.durableSeq;
  const out: Series[] = [];
  const soon: Series[] = [];
  for (const s of ctx.set.all()) {
    s.settle(durable);
    if (s.firstUncoveredSeq === 0) continue;
    if (s.firstUncoveredSeq <= limit || nowMs - s.uncoveredSinceMs >= TS_CHECKPOINT_AGE_MS) {
      out.push(s);
    } else if (s.firstUncoveredSeq <= early) soon.push(s);
  }
  const room = Math.ceil(ctx.set.size / EARLY_SHARE) - out.length;
  if (room > 0 && soon.length > 0) {
    soon.sort((a, b) => a.firstUncoveredSeq - b.firstUncoveredSeq);
    for (let i = 0; i < Math.min(room, soon.length); i++) out.push(soon[i]!);
  }
  return out;
}

/**
 * Seals the largest heads while all heads together take more than `headsBytesMax`, down to
 * 3/4 of it (heads under `TS_HEAD_SEAL_SAMPLES_MIN` samples stay). Resolves to the heads sealed.
 * The seals are ordinary SEAL log entries: a replica applies them, never decides them.
 */
export async function sealForMemory(
  ctx: StoreContext,
  headsBytesMax = TS_HEADS_BYTES_MAX,
): Promise<number> {
  let total = 0;
  for (const s of ctx.set.all()) total += s.head.sizeBytes;
  if (total <= headsBytesMax) return 0;
  const target = Math.floor(headsBytesMax * 0.75);
  const candidates = [...ctx.set.all()]
    .filter((s) => s.head.count >= TS_HEAD_SEAL_SAMPLES_MIN)
    .sort((a, b) => b.head.sizeBytes - a.head.sizeBytes);
  const chosen: Series[] = [];
  for (const s of candidates) {
    if (total <= target) break;
    total -= s.head.sizeBytes;
    chosen.push(s);
  }
  // A batch at a time, each once the previous one is durable (as `checkpoint`): a seal decodes
  // its head and encodes a chunk, garbage that thousands of seals at once would pile up.
  for (let i = 0; i < chosen.length; i += SERIES_PER_BATCH) {
    const part = chosen.slice(i, i + SERIES_PER_BATCH);
    const { durable } = run(ctx, (b) => {
      for (const s of part) {
        if (ctx.set.byVersion(s.version) === s && s.head.count > 0) sealHead(b, s);
      }
    });
    await durable;
  }
  return chosen.length;
}

/** Deletes sealed chunks wholly older than each series' retention window. */
export function dropExpiredChunks(ctx: StoreContext): void {
  const due: { series: Series; keys: number[] }[] = [];
  for (const s of ctx.set.all()) {
    const cutoff = s.retentionCutoff;
    if (cutoff <= 0 || s.stats.sealedChunks === 0 || s.stats.firstSealedTs >= cutoff) continue;
    const rows = ctx.db.readRange(
      { start: chunkKey(s.version, 0), end: chunkKey(s.version, cutoff) },
      { limit: 10_000 },
    );
    const keys: number[] = [];
    for (const [key, value] of rows) {
      const h = chunkHeader(value);
      if (h.lastTs >= cutoff) break;
      keys.push(h.firstTs);
      void key;
    }
    if (keys.length > 0) due.push({ series: s, keys });
  }
  for (let i = 0; i < due.length; i += SERIES_PER_BATCH) {
    const part = due.slice(i, i + SERIES_PER_BATCH);
    run(ctx, (b) => {
      for (const { series, keys } of part) {
        for (const firstTs of keys) {
          const c = b.chunks.next(series.version, firstTs);
          if (!c || c.firstTs !== firstTs) continue;
          series.stats.sealedSamples -= c.samples.ts.length;
          series.stats.sealedChunks--;
          b.chunks.stage(series.version, firstTs, null);
        }
        refreshSealedBounds(b, series);
        b.stateDirty.add(series);
      }
    });
  }
}

/** Drops series whose key no longer holds them; checks at most `GC_PER_TICK`, from `cursor`. */
export function collectGarbage(ctx: StoreContext, cursor: number): number {
  const all = [...ctx.set.all()];
  if (all.length === 0) return 0;
  const dead: Series[] = [];
  let i = 0;
  for (; i < Math.min(GC_PER_TICK, all.length); i++) {
    const s = all[(cursor + i) % all.length]!;
    if (!isLive(ctx, s)) dead.push(s);
  }
  for (let k = 0; k < dead.length; k += SERIES_PER_BATCH) {
    const part = dead.slice(k, k + SERIES_PER_BATCH);
    run(ctx, (b) => {
      for (const s of part) {
        b.ops.push(...dropOps(ctx, s.version));
        b.drop(s.version);
      }
    });
  }
  return (cursor + i) % Math.max(1, all.length);
}
