/**
 * Commit groups: the records queued between two flushes of the WAL writer, each group written
 * with one `pwrite` and settled with one shared promise. Private to `src/wal/`.
 *
 * Invariants:
 * - A group holds either one record, or records totalling at most `groupBytesMax` bytes.
 * - Groups are written oldest first; records inside a group are in sequence order, back to
 *   back in `buf` (each record's body, then room for its version-2 trailer).
 *
 * @module
 */

/** Records waiting to be written together. */
export interface CommitGroup {
  /** The records, back to back from offset 0. */
  buf: Uint8Array;
  /** Bytes of `buf` in use. */
  bytes: number;
  /** End offset (in `buf`) of each record, trailer included. */
  recordEnds: number[];
  /** Sequence of each record's first op. */
  recordSeqs: number[];
  /** Sequence of the group's last op. */
  lastSeq: number;
  /** Its number in write order once written (the writer's count of groups written). */
  writtenNo: number;
  /** `performance.now()` when its first record came. */
  openedAtMs: number;
  /** Settles when the group is durable under the sync mode (shared by its appends). */
  promise: Promise<void>;
  /** Resolves `promise`. */
  resolve: () => void;
  /** Rejects `promise`. */
  reject: (err: Error) => void;
}

const GROUP_BUFFER_BYTES_MIN = 16 * 1024;

/** The queue of commit groups, oldest first; the last may still take records. */
export class CommitQueue {
  readonly #groupBytesMax: number;
  #groups: CommitGroup[] = [];
  #spareBuffer: Uint8Array | undefined;

  /** A queue whose groups hold at most `groupBytesMax` bytes (or one record). */
  constructor(groupBytesMax: number) {
    this.#groupBytesMax = groupBytesMax;
  }

  /** Groups waiting. */
  get length(): number {
    return this.#groups.length;
  }

  /** The newest group (the one still taking records), if any. */
  get last(): CommitGroup | undefined {
    return this.#groups[this.#groups.length - 1];
  }

  /** Removes and returns the oldest group. */
  shift(): CommitGroup | undefined {
    return this.#groups.shift();
  }

  /** Removes and returns every group, oldest first. */
  takeAll(): CommitGroup[] {
    return this.#groups.splice(0);
  }

  /**
   * Records that a record ending at `end` (its first op `seq`, its last `lastSeq`) was encoded
   * at the end of `group`, the last group.
   */
  noteRecord(group: CommitGroup, end: number, seq: number, lastSeq: number): void {
    group.bytes = end;
    group.recordEnds.push(end);
    group.recordSeqs.push(seq);
    group.lastSeq = lastSeq;
  }

  /** Keeps a written group's buffer for reuse when it is of a common size. */
  recycle(group: CommitGroup, maxBytes: number): void {
    if (group.buf.length <= maxBytes) this.#spareBuffer = group.buf;
  }

  /** The group a record of `recordBytes` joins: the open one if it has room, else a new one. */
  groupFor(recordBytes: number): CommitGroup {
    const last = this.#groups[this.#groups.length - 1];
    if (last && last.bytes + recordBytes <= this.#groupBytesMax) {
      if (last.bytes + recordBytes > last.buf.length) {
        const grown = new Uint8Array(
          Math.min(this.#groupBytesMax, Math.max(last.buf.length * 2, last.bytes + recordBytes)),
        );
        grown.set(last.buf.subarray(0, last.bytes));
        last.buf = grown;
      }
      return last;
    }
    let buf = this.#spareBuffer;
    this.#spareBuffer = undefined;
    if (!buf || buf.length < recordBytes) {
      buf = new Uint8Array(Math.max(GROUP_BUFFER_BYTES_MIN, recordBytes));
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The group's promise is shared by its appends; callers handle rejections on their
    // derived promises, so an ignored `durable` must not crash the process.
    promise.catch(() => {});
    const group: CommitGroup = {
      buf,
      bytes: 0,
      recordEnds: [],
      recordSeqs: [],
      lastSeq: 0,
      writtenNo: 0,
      openedAtMs: performance.now(),
      promise,
      resolve,
      reject,
    };
    this.#groups.push(group);
    return group;
  }
}
