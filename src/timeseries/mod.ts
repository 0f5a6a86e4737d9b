/**
 * The time-series layer: series with labels, compressed chunks, retention, compaction rules
 * and RedisTimeSeries-compatible queries, stored through the engine. ARCHITECTURE.md
 * § "Time series" is the map.
 *
 * ```ts
 * const db = await Database.open(dir);
 * const ts = TimeSeriesStore.open(db);
 * await ts.add({ key: toBytes("sensor.temp"), ts: Date.now(), value: 21.5 }).durable;
 * ```
 *
 * @module
 */

export { type TimeSeriesOptions, TimeSeriesStore } from "./store.ts";
export { ERR_READONLY, type SampleListener, type Writer, type Written } from "./context.ts";
export type { WrittenSample } from "./batch.ts";
export { TsError } from "./write.ts";
export type { CreateOptions, SampleIn } from "./series_ops.ts";
export { KeyIds, type MaddColumns, type MaddReplies } from "./bulk.ts";
export type { Points, RangeArgs, SeriesInfo, SeriesResult } from "./query.ts";
export { FilterError, type LabelFilter, parseFilters } from "./labels.ts";
export { type Aggregator, AGGREGATORS, DUPLICATE_POLICIES, type DuplicatePolicy } from "./meta.ts";
export { binaryString, binaryToText, stringBytes, textToBinary } from "./meta.ts";
export type { AggregationSpec, BucketTimestamp } from "./aggregate.ts";
export { decodeChunk, encodeChunk } from "./codec.ts";
