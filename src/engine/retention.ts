/**
 * WAL retention: the one place that decides which WAL segments may be deleted.
 *
 * A segment may go when every record in it is covered by durable SSTables recorded in the
 * manifest (`lastSeq <= flushedSeq`), every log op in it is durable elsewhere (`lastSeq <=
 * logDurableSeq`, the log consumer's pin, see `log_ops.ts`), and every pin holds no claim on it
 * (replication adds one pin per replica: the highest sequence that replica has acknowledged).
 * The segment being written is never deleted.
 *
 * The disk cap (`retainedBytesMax`, replication's `--replication-retention-max-bytes`): when
 * the segments covered by SSTables but kept only for pins hold more than the cap, the oldest of
 * them go anyway; a replica that needed them is told so by the leader (and bootstraps again).
 * The cap never removes a segment the log pin keeps: those log ops exist nowhere else.
 *
 * @module
 */

/** What retention needs to know of a segment. */
export interface RetainedSegment {
  /** Segment id. */
  id: number;
  /** Last sequence in the segment; 0 when it holds no record. */
  lastSeq: number;
  /** Bytes in use (only the disk cap reads it; missing = 0). */
  sizeBytes?: number;
}

/** Inputs to the retention decision. */
export interface RetentionInput {
  /**
   * Every write with `seq <= flushedSeq` is in SSTables listed in the durable manifest. The
   * engine passes the lower `flushedSeq` of `MANIFEST` and `MANIFEST.prev`, so that opening
   * from the previous copy still finds every record it needs.
   */
  flushedSeq: number;
  /** Every log op with `seq <= logDurableSeq` is durable elsewhere (default: all of them). */
  logDurableSeq?: number;
  /** The segment being appended to; never deleted. */
  activeSegmentId: number;
  /** Sequences that others still need from the WAL (e.g. replicas' acknowledged positions). */
  pinnedSeqs?: readonly number[];
  /** Most bytes of covered segments kept for pins; the oldest past it go anyway. */
  retainedBytesMax?: number;
}

/** Ids of the segments that may be deleted now, oldest first. */
export function deletableSegments(
  segments: readonly RetainedSegment[],
  input: RetentionInput,
): number[] {
  // What only the WAL holds (unflushed writes, log ops nobody else made durable) always stays.
  const covered = Math.min(input.flushedSeq, input.logDurableSeq ?? Infinity);
  let limit = covered;
  for (const pin of input.pinnedSeqs ?? []) limit = Math.min(limit, pin);
  const out: number[] = [];
  for (const segment of [...segments].sort((a, b) => a.id - b.id)) {
    if (segment.id >= input.activeSegmentId) break;
    if (segment.lastSeq > limit) break;
    out.push(segment.id);
  }
  if (input.retainedBytesMax === undefined) return out;
  // Segments covered by SSTables that only pins keep, oldest first.
  const kept = [...segments].sort((a, b) => a.id - b.id).filter((s) =>
    s.id < input.activeSegmentId && s.lastSeq <= covered && !out.includes(s.id)
  );
  let keptBytes = kept.reduce((sum, s) => sum + (s.sizeBytes ?? 0), 0);
  for (const segment of kept) {
    if (keptBytes <= input.retainedBytesMax) break;
    // Only a prefix of the oldest segments may go, so the WAL stays contiguous.
    if (out.length > 0 && segment.id < out[out.length - 1]!) continue;
    out.push(segment.id);
    keptBytes -= segment.sizeBytes ?? 0;
  }
  return out;
}
