/**
 * WAL retention: the one place that decides which WAL segments may be deleted.
 *
 * A segment may go when every record in it is covered by durable SSTables recorded in the
 * manifest (`lastSeq <= flushedSeq`) and every pin holds no claim on it (replication adds one
 * pin per replica: the highest sequence that replica has acknowledged). The segment being
 * written is never deleted.
 *
 * @module
 */

/** What retention needs to know of a segment. */
export interface RetainedSegment {
  /** Segment id. */
  id: number;
  /** Last sequence in the segment; 0 when it holds no record. */
  lastSeq: number;
}

/** Inputs to the retention decision. */
export interface RetentionInput {
  /** Every write with `seq <= flushedSeq` is in SSTables listed in the durable manifest. */
  flushedSeq: number;
  /** The segment being appended to; never deleted. */
  activeSegmentId: number;
  /** Sequences that others still need from the WAL (e.g. replicas' acknowledged positions). */
  pinnedSeqs?: readonly number[];
}

/** Ids of the segments that may be deleted now, oldest first. */
export function deletableSegments(
  segments: readonly RetainedSegment[],
  input: RetentionInput,
): number[] {
  let limit = input.flushedSeq;
  for (const pin of input.pinnedSeqs ?? []) limit = Math.min(limit, pin);
  const out: number[] = [];
  for (const segment of [...segments].sort((a, b) => a.id - b.id)) {
    if (segment.id >= input.activeSegmentId) break;
    if (segment.lastSeq > limit) break;
    out.push(segment.id);
  }
  return out;
}
