/**
 * TS.CREATERULE and TS.DELETERULE. Beyond RedisTimeSeries 1.8 (ARCHITECTURE.md § "Compaction
 * rules"): a destination may itself be the source of rules (chains, at most
 * `TS_RULE_CHAIN_DEPTH_MAX` deep, never a cycle), and `BACKFILL` aggregates the source's
 * existing samples into the destination at once. Without BACKFILL, as in RedisTimeSeries, only
 * samples added after the rule count.
 *
 * Rules are stored in the source's metadata by destination version (so RENAME never breaks
 * them); the destination records its source's version.
 *
 * @module
 */

import { TS_RULE_CHAIN_DEPTH_MAX, TS_RULES_MAX } from "../limits.ts";
import { aggregateRange, bucketStart, bucketStartRaw } from "./aggregate.ts";
import type { Batch } from "./batch.ts";
import { getSeries, run, type StoreContext, type Writer, type Written } from "./context.ts";
import type { Aggregator, Rule } from "./meta.ts";
import { liveByVersion, metaOp } from "./series_ops.ts";
import type { Series } from "./series_set.ts";
import { readSamples, sampleAfter, sampleBefore, TsError, tsError, writeSample } from "./write.ts";

/** Rules above `series` (its source, that source's source ...). */
function depthAbove(ctx: StoreContext, series: Series): { depth: number; versions: Set<number> } {
  const versions = new Set<number>();
  let depth = 0;
  let s: Series | undefined = series;
  while (s && s.meta.sourceVersion !== 0 && depth <= TS_RULE_CHAIN_DEPTH_MAX) {
    versions.add(s.meta.sourceVersion);
    s = liveByVersion(ctx, s.meta.sourceVersion);
    depth++;
  }
  return { depth, versions };
}

/** Longest chain of rules below `series`. */
function depthBelow(ctx: StoreContext, series: Series, guard = 0): number {
  if (guard > TS_RULE_CHAIN_DEPTH_MAX) return guard;
  let best = 0;
  for (const r of series.meta.rules) {
    const d = liveByVersion(ctx, r.destVersion);
    if (d) best = Math.max(best, 1 + depthBelow(ctx, d, guard + 1));
  }
  return best;
}

/** TS.CREATERULE src dst AGGREGATION agg bucket [align] [BACKFILL]. */
export function createRule(
  ctx: StoreContext,
  srcKey: Uint8Array,
  dstKey: Uint8Array,
  spec: { aggregator: Aggregator; bucketMs: number; alignMs: number; backfill: boolean },
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    if (srcKey.length === dstKey.length && srcKey.every((c, i) => c === dstKey[i])) {
      throw tsError("TSDB: the source key and destination key should be different");
    }
    const src = getSeries(ctx, srcKey);
    const dst = getSeries(ctx, dstKey);
    if (dst.meta.sourceVersion !== 0 && liveByVersion(ctx, dst.meta.sourceVersion)) {
      throw tsError("TSDB: the destination key already has a src rule");
    }
    const above = depthAbove(ctx, src);
    if (above.versions.has(dst.version) || dst.version === src.version) {
      throw tsError("TSDB: the rule would create a cycle");
    }
    if (above.depth + 1 + depthBelow(ctx, dst) > TS_RULE_CHAIN_DEPTH_MAX) {
      throw tsError(`TSDB: rule chains are limited to ${TS_RULE_CHAIN_DEPTH_MAX} rules`);
    }
    const live = src.meta.rules.filter((r) => liveByVersion(ctx, r.destVersion));
    if (live.length >= TS_RULES_MAX) {
      throw tsError(`TSDB: too many rules on the source: limit ${TS_RULES_MAX}`);
    }
    const rule: Rule = {
      destVersion: dst.version,
      aggregator: spec.aggregator,
      bucketMs: spec.bucketMs,
      alignMs: spec.alignMs,
      startTs: spec.backfill || src.lastTs < 0 ? 0 : src.lastTs + 1,
    };
    const srcMeta = { ...src.meta, rules: [...live, rule] };
    const dstMeta = { ...dst.meta, sourceVersion: src.version };
    b.ops.push(metaOp(ctx, src.key, srcMeta), metaOp(ctx, dst.key, dstMeta));
    b.meta(src.version);
    b.meta(dst.version);
    ctx.set.update(src, src.key, srcMeta);
    ctx.set.update(dst, dst.key, dstMeta);
    if (spec.backfill) backfill(b, src, dst, rule);
  }, write);
}

/** Writes every closed bucket of `src` under `rule` into `dst`. */
function backfill(b: Batch, src: Series, dst: Series, rule: Rule): void {
  const first = src.firstTs;
  const last = src.lastTs;
  if (first < 0) return;
  const open = bucketStart(last, rule.bucketMs, rule.alignMs);
  // A window of whole buckets, about a day of data, read at a time.
  const step = Math.max(1, Math.ceil(86_400_000 / rule.bucketMs)) * rule.bucketMs;
  // Windows start on bucket boundaries, the first one unclamped (it may start before 0).
  for (let w = bucketStartRaw(first, rule.bucketMs, rule.alignMs); w < open; w += step) {
    const to = Math.min(w + step, open) - 1;
    const s = readSamples(b, src, Math.max(0, w), to);
    if (s.ts.length === 0) continue;
    const buckets = aggregateRange(
      {
        aggregator: rule.aggregator,
        bucketMs: rule.bucketMs,
        alignMs: rule.alignMs,
        empty: false,
        bucketTimestamp: "start",
      },
      s.ts,
      s.values,
      s.ts.length,
      {
        prev: sampleBefore(b, src, Math.max(0, w)),
        next: sampleAfter(b, src, to),
        rangeStart: 0,
        rangeEnd: Number.MAX_SAFE_INTEGER,
      },
    );
    for (let i = 0; i < buckets.ts.length; i++) {
      try {
        writeSample(b, dst, buckets.ts[i]!, buckets.values[i]!, "last", 1);
      } catch (err) {
        if (!(err instanceof TsError)) throw err;
      }
    }
  }
}

/** TS.DELETERULE src dst. */
export function deleteRule(
  ctx: StoreContext,
  srcKey: Uint8Array,
  dstKey: Uint8Array,
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    const src = getSeries(ctx, srcKey);
    const dstVersion = (() => {
      try {
        return getSeries(ctx, dstKey).version;
      } catch {
        return -1;
      }
    })();
    const kept = src.meta.rules.filter((r) => r.destVersion !== dstVersion);
    if (dstVersion < 0 || kept.length === src.meta.rules.length) {
      throw tsError("TSDB: compaction rule does not exist");
    }
    const dst = getSeries(ctx, dstKey);
    const srcMeta = { ...src.meta, rules: kept };
    const dstMeta = { ...dst.meta, sourceVersion: 0 };
    b.ops.push(metaOp(ctx, src.key, srcMeta), metaOp(ctx, dst.key, dstMeta));
    b.meta(src.version);
    b.meta(dst.version);
    ctx.set.update(src, src.key, srcMeta);
    ctx.set.update(dst, dst.key, dstMeta);
  }, write);
}
