/**
 * The WAL writer's segments: the active one, the preallocated next one, where each record goes
 * (placement), switches between segments with their SEAL, and disk-full handling. Private to
 * `src/wal/`; `writer.ts` owns group commit and calls this. Format: ARCHITECTURE.md § "WAL".
 *
 * Invariants:
 * - Placement: `#placeOffset` is where the next record goes: in the active segment, or in the
 *   next one when `#placeInNext` (which is then ready and large enough for every record placed
 *   in it). `writeGroup` places records by the same rule, so both agree, and every byte a
 *   flush writes lands in space preallocated before the record was accepted.
 * - Room for a SEAL is always kept at the end of a segment. Before any byte goes to the next
 *   segment the active one is fdatasync'ed, sealed and fdatasync'ed again.
 * - `syncedBytes` of the active segment: every byte before it is durable; it is what each
 *   record's trailer records when the record is written.
 * - Disk full: when a segment cannot be prepared, `#noSpace` is set and every placement that
 *   needs that segment throws at once; only `prepareSpace()` tries again.
 * - Sizes follow the write rate (ARCHITECTURE.md § "Writer and group commit"): the first
 *   segment is `WAL_SEGMENT_SIZE_BYTES_INITIAL`; when the active one is half full (the moment
 *   the next one starts being preallocated), the next one is sized from how long that took:
 *   double when fast, half when slow, between the initial size and `segmentSizeBytes`. Every
 *   segment is still preallocated whole, so each fdatasync overwrites allocated blocks.
 *
 * @module
 */

import { DiskFullError, diskFullError, isNoSpaceError } from "../errors.ts";
import {
  WAL_SEGMENT_GROW_HALF_FILL_MS,
  WAL_SEGMENT_SHRINK_HALF_FILL_MS,
  WAL_SEGMENT_SIZE_BYTES_INITIAL,
} from "../limits.ts";
import type { File, FileSystem } from "../fs/mod.ts";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import type { CommitGroup } from "./_commit_group.ts";
import { SegmentPreparer } from "./_segment_file.ts";
import {
  encodeSealRecord,
  sealTrailer,
  WAL_SEAL_RECORD_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
} from "./format.ts";
import type { SegmentInfo } from "./reader.ts";

interface ActiveSegment {
  info: SegmentInfo;
  file: File;
  /** Full preallocated size. */
  capacityBytes: number;
  /** Bytes written but not yet fdatasync'ed. */
  dirty: boolean;
  /** Every byte before this offset is fdatasync'ed (the header is, before the first record). */
  syncedBytes: number;
  /** A SEAL closes it: nothing more goes in. */
  sealed: boolean;
  /** `performance.now()` when it became active. */
  activatedAtMs: number;
}

/** An fdatasync of the active segment running off the event loop (`syncActiveAsync`). */
export interface AsyncSyncTicket {
  /** Settles when the fdatasync completed. */
  readonly done: Promise<void>;
  /** The segment it syncs (opaque outside this module). */
  readonly segment: unknown;
  /** Bytes of the segment written when it started: durable once it completed. */
  readonly bytes: number;
}

/** Options of `SegmentChain`. */
export interface SegmentChainOptions {
  segmentSizeBytes: number;
  /** Id of the first segment the chain creates. */
  firstId: number;
  recoveredSegments: readonly SegmentInfo[];
  logger: Logger | undefined;
  onNoSpace: ((err: DiskFullError) => void) | undefined;
}

/** The segments a `WalWriter` writes. */
export class SegmentChain {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #segmentSizeBytes: number;
  /** Size the next segment gets (see the module comment). */
  #nextSizeBytes: number;
  readonly #firstId: number;
  readonly #logger: Logger | undefined;
  readonly #onNoSpace: ((err: DiskFullError) => void) | undefined;
  /** Every segment on disk, oldest first; the last is the active one (when there is one). */
  #segments: SegmentInfo[];
  /** Undefined only while a disk full at open left the writer without a segment. */
  #active: ActiveSegment | undefined;
  #next: SegmentPreparer | undefined;
  #placeInNext = false;
  #placeOffset = WAL_SEGMENT_HEADER_BYTES;
  #noSpace: DiskFullError | undefined;

  /** A chain in `dir`; `openFirst` creates its first segment. */
  constructor(fs: FileSystem, dir: string, options: SegmentChainOptions) {
    this.#fs = fs;
    this.#dir = dir;
    this.#segmentSizeBytes = options.segmentSizeBytes;
    this.#nextSizeBytes = Math.min(options.segmentSizeBytes, WAL_SEGMENT_SIZE_BYTES_INITIAL);
    this.#firstId = options.firstId;
    this.#logger = options.logger;
    this.#onNoSpace = options.onNoSpace;
    this.#segments = options.recoveredSegments.map((s) => ({ ...s }));
  }

  /**
   * Creates and activates the first segment synchronously. Without space for it the chain
   * stays without one (`noSpace` says why); other errors throw.
   */
  openFirst(): void {
    const first = new SegmentPreparer(this.#fs, this.#dir, this.#firstId, this.#nextSizeBytes);
    try {
      first.finishSync();
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      this.#setNoSpace(
        diskFullError(`cannot create WAL segment ${first.path} (${first.sizeBytes} bytes)`, err),
      );
      return;
    }
    this.#activate(first);
  }

  /** Id of the segment being written, 0 when there is none. */
  get activeSegmentId(): number {
    return this.#active?.info.id ?? 0;
  }

  /** Largest size of a preallocated segment. */
  get segmentSizeBytes(): number {
    return this.#segmentSizeBytes;
  }

  /** Size the next preallocated segment gets. */
  get nextSegmentSizeBytes(): number {
    return this.#nextSizeBytes;
  }

  /** Why placements that need a new segment are refused; undefined when they are not. */
  get noSpace(): DiskFullError | undefined {
    return this.#noSpace;
  }

  /** True when the active segment holds at least one record. */
  get activeHasRecords(): boolean {
    return (this.#active?.info.lastSeq ?? 0) !== 0;
  }

  /** Where a failure happened, for its message. */
  get position(): { path: string; offset: number | undefined } {
    const a = this.#active;
    return a
      ? { path: a.info.path, offset: a.info.sizeBytes }
      : { path: this.#dir, offset: undefined };
  }

  /** Copies of every segment's info, oldest first. */
  segments(): SegmentInfo[] {
    return this.#segments.map((s) => ({ ...s }));
  }

  /**
   * Places a record of `recordBytes` in preallocated space. Returns false when it cannot be
   * placed before the queued records are written (more is queued than the next segment
   * holds): the caller flushes and asks again. Throws `DiskFullError` when the next segment
   * cannot be had, the raw error on other I/O failures; nothing changes when it throws.
   */
  reserve(recordBytes: number): boolean {
    const active = this.#active;
    if (active === undefined) throw this.#noSpaceError();
    if (!this.#placeInNext) {
      if (this.#placeOffset + recordBytes <= active.capacityBytes - WAL_SEAL_RECORD_BYTES) {
        this.#placeOffset += recordBytes;
        return true;
      }
      this.secureNext(WAL_SEGMENT_HEADER_BYTES + recordBytes + WAL_SEAL_RECORD_BYTES);
      this.#placeInNext = true;
      this.#placeOffset = WAL_SEGMENT_HEADER_BYTES + recordBytes;
      return true;
    }
    if (this.#placeOffset + recordBytes <= this.#next!.sizeBytes - WAL_SEAL_RECORD_BYTES) {
      this.#placeOffset += recordBytes;
      return true;
    }
    return false;
  }

  /** True when placement has moved to the next segment (a flush will switch to it). */
  get placingInNext(): boolean {
    return this.#placeInNext;
  }

  /**
   * Makes the next segment ready with at least `minSizeBytes`, synchronously. Throws
   * `DiskFullError` (and sets `noSpace`) without space, the raw error on other failures.
   */
  secureNext(minSizeBytes: number): void {
    if (this.#noSpace) throw this.#noSpaceError();
    const next = this.#next!;
    try {
      next.finishSync(minSizeBytes);
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      const size = Math.max(minSizeBytes, next.sizeBytes);
      this.#setNoSpace(
        diskFullError(`cannot preallocate WAL segment ${next.path} (${size} bytes)`, err),
      );
      throw this.#noSpaceError();
    }
  }

  /**
   * Tries again to prepare the segment a disk full prevented. Resolves true when placements
   * may go on, false while there is still no space; rejects on other I/O errors.
   */
  async prepareSpace(isClosing: () => boolean): Promise<boolean> {
    if (this.#noSpace === undefined) return true;
    try {
      if (this.#active === undefined) {
        const first = new SegmentPreparer(
          this.#fs,
          this.#dir,
          this.#firstId,
          this.#nextSizeBytes,
        );
        await first.prepare();
        if (isClosing()) {
          await first.abandon();
          return false;
        }
        this.#activate(first);
      } else {
        await this.#next!.prepare();
      }
    } catch (err) {
      if (isNoSpaceError(err)) return false;
      throw err;
    }
    this.#noSpace = undefined;
    this.#logger?.("info", "WAL has space again", { dir: this.#dir });
    return true;
  }

  /**
   * Writes a group's records where `reserve` placed them: as many as fit the active segment
   * with one `pwrite` (each trailer filled with how far the segment is synced), the rest after
   * a switch to the next segment. `hooks.written(seq)` hears of each `pwrite` before a switch
   * syncs it through `hooks.sync()`.
   */
  writeGroup(
    group: CommitGroup,
    hooks: { sync: () => void; written: (seq: number) => void },
  ): void {
    const ends = group.recordEnds;
    let start = 0;
    let k = 0;
    while (k < ends.length) {
      const active = this.#active!;
      const free = active.capacityBytes - WAL_SEAL_RECORD_BYTES - active.info.sizeBytes;
      let j = k;
      while (j < ends.length && ends[j]! - start <= free) j++;
      if (j === k) {
        this.roll(hooks.sync);
        continue;
      }
      const end = ends[j - 1]!;
      for (let m = k, at = start; m < j; at = ends[m]!, m++) {
        sealTrailer(group.buf, at, active.syncedBytes);
      }
      const info = active.info;
      active.dirty = true;
      active.file.writeAt(group.buf.subarray(start, end), info.sizeBytes);
      info.sizeBytes += end - start;
      if (info.firstSeq === 0) info.firstSeq = group.recordSeqs[k]!;
      info.lastSeq = j < ends.length ? group.recordSeqs[j]! - 1 : group.lastSeq;
      hooks.written(info.lastSeq);
      start = end;
      k = j;
      if (info.sizeBytes * 2 >= active.capacityBytes && !this.#next!.started && !this.#noSpace) {
        this.#sizeNext(active);
        this.#startNextInBackground();
      }
    }
  }

  /** fdatasyncs the active segment when it has unsynced bytes; true when it did. */
  syncActive(): boolean {
    const active = this.#active;
    if (!active || !active.dirty) return false;
    active.file.syncData();
    active.dirty = false;
    active.syncedBytes = active.info.sizeBytes;
    return true;
  }

  /**
   * Starts an fdatasync of the active segment off the event loop when it has unsynced bytes;
   * undefined when it has none. The ticket says what it covers: every byte written before it
   * started. `syncedAsync(ticket)` records that once it completed.
   */
  syncActiveAsync(): AsyncSyncTicket | undefined {
    const active = this.#active;
    if (!active || !active.dirty) return undefined;
    return { done: active.file.syncDataAsync(), segment: active, bytes: active.info.sizeBytes };
  }

  /**
   * A sync `syncActiveAsync` started completed: its segment is durable through `ticket.bytes`
   * (ignored when that segment is no longer active: a switch synced and sealed it).
   */
  syncedAsync(ticket: AsyncSyncTicket): void {
    const active = this.#active;
    if (active === undefined || active !== ticket.segment) return;
    if (ticket.bytes > active.syncedBytes) active.syncedBytes = ticket.bytes;
    if (active.info.sizeBytes === ticket.bytes) active.dirty = false;
  }

  /**
   * Syncs (through `syncActive`, which also reports durability), seals and closes the active
   * segment, then activates the next one, which `reserve` or `secureNext` made ready.
   */
  roll(syncActive: () => void): void {
    const old = this.#active!;
    syncActive();
    this.#writeSeal(old);
    old.file.close();
    const next = this.#next!;
    assert(next.ready, "switching to a WAL segment that is not prepared");
    this.#next = undefined;
    this.#activate(next, this.#placeInNext);
    this.#logger?.("debug", "switched WAL segment", { from: old.info.id, to: next.id });
  }

  /** Seals the active segment (synced first by the caller) when it holds records. */
  sealActive(): void {
    if (this.#active) this.#writeSeal(this.#active);
  }

  /** Removes segment `id` (file and directory entry, durably). REQUIRES: not the active one. */
  removeSegment(id: number): boolean {
    assert(id !== this.activeSegmentId, "removing the active WAL segment");
    const index = this.#segments.findIndex((s) => s.id === id);
    if (index < 0) return false;
    const segment = this.#segments[index]!;
    try {
      this.#fs.remove(segment.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    this.#fs.syncDir(this.#dir);
    this.#segments.splice(index, 1);
    return true;
  }

  /**
   * Closes the files: the unused next segment is removed, and so is the active one when
   * `removeEmptyActive` and it holds no record. Resolves with the cleanup errors.
   */
  async close(removeEmptyActive: boolean): Promise<unknown[]> {
    const active = this.#active;
    try {
      active?.file.close();
    } catch {
      // Nothing left to do with a handle that cannot close.
    }
    const leftovers: Promise<void>[] = [];
    if (this.#next) leftovers.push(this.#next.abandon());
    this.#next = undefined;
    if (active && removeEmptyActive && active.info.lastSeq === 0) {
      leftovers.push(
        Promise.resolve().then(() => {
          this.#fs.remove(active.info.path);
          this.#fs.syncDir(this.#dir);
          this.#segments = this.#segments.filter((s) => s !== active.info);
        }),
      );
    }
    const results = await Promise.allSettled(leftovers);
    return results.flatMap((r) => r.status === "rejected" ? [r.reason] : []);
  }

  #setNoSpace(err: DiskFullError): void {
    if (this.#noSpace !== undefined) return;
    this.#noSpace = err;
    this.#logger?.("warn", "WAL cannot preallocate a segment: disk full", {
      dir: this.#dir,
      error: err.message,
    });
    this.#onNoSpace?.(err);
  }

  #noSpaceError(): DiskFullError {
    const err = this.#noSpace!;
    return new DiskFullError(err.message, { cause: err.cause });
  }

  /** Opens a finished segment as the active one and sets up (not starts) its successor. */
  #activate(prepared: SegmentPreparer, keepPlacement = false): void {
    const file = this.#fs.open(prepared.path, { write: true });
    const info: SegmentInfo = {
      id: prepared.id,
      path: prepared.path,
      firstSeq: 0,
      lastSeq: 0,
      sizeBytes: WAL_SEGMENT_HEADER_BYTES,
    };
    this.#segments.push(info);
    this.#active = {
      info,
      file,
      capacityBytes: prepared.sizeBytes,
      dirty: false,
      syncedBytes: WAL_SEGMENT_HEADER_BYTES,
      sealed: false,
      activatedAtMs: performance.now(),
    };
    // Records placed in this segment while it was the next one stay where they were placed.
    if (!keepPlacement) this.#placeOffset = WAL_SEGMENT_HEADER_BYTES;
    this.#placeInNext = false;
    // Preallocation starts when this segment is half full (`writeGroup`): writing and
    // fsyncing a whole segment of zeros competes with the group commit's fdatasync for the
    // disk, so it is better kept away from open and from the previous switch.
    this.#next = new SegmentPreparer(this.#fs, this.#dir, prepared.id + 1, this.#nextSizeBytes);
  }

  /**
   * The active segment is half full: sizes the next one from how long that took (before its
   * preallocation starts; a next segment needed before then keeps the current size).
   */
  #sizeNext(active: ActiveSegment): void {
    const halfFillMs = performance.now() - active.activatedAtMs;
    const initial = Math.min(this.#segmentSizeBytes, WAL_SEGMENT_SIZE_BYTES_INITIAL);
    let size = active.capacityBytes;
    if (halfFillMs < WAL_SEGMENT_GROW_HALF_FILL_MS) size *= 2;
    else if (halfFillMs > WAL_SEGMENT_SHRINK_HALF_FILL_MS) size = Math.floor(size / 2);
    size = Math.max(initial, Math.min(this.#segmentSizeBytes, size));
    this.#nextSizeBytes = size;
    this.#next!.resize(size);
  }

  /**
   * Appends a SEAL to a synced segment holding records and syncs it: from then on a bad record
   * anywhere in it is damage, never a torn write (see `reader.ts`).
   */
  #writeSeal(segment: ActiveSegment): void {
    if (segment.sealed || segment.info.lastSeq === 0) return;
    const at = segment.info.sizeBytes;
    assert(at === segment.syncedBytes, "sealing a segment with unsynced bytes");
    assert(at + WAL_SEAL_RECORD_BYTES <= segment.capacityBytes, "no room for the seal");
    segment.file.writeAt(encodeSealRecord(segment.info.lastSeq + 1, at), at);
    segment.file.syncData();
    segment.sealed = true;
    segment.info.sizeBytes = at + WAL_SEAL_RECORD_BYTES;
    segment.syncedBytes = segment.info.sizeBytes;
  }

  #startNextInBackground(): void {
    const next = this.#next!;
    next.startInBackground(this.#logger, (err) => {
      if (!isNoSpaceError(err) || this.#next !== next) return;
      this.#setNoSpace(
        diskFullError(`cannot preallocate WAL segment ${next.path} (${next.sizeBytes} bytes)`, err),
      );
    });
  }
}
