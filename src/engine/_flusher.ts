/**
 * The flush loop of one database: memtable rotation -> table writer -> manifest edit -> WAL
 * retention, oldest immutable memtable first, one flush at a time, beside compactions. Also
 * what a flush decides around it: backpressure on writers while too many memtables wait, a
 * flush forced when the WAL grows past `WAL_RETAINED_BYTES_FLUSH`, and the retry after a full
 * disk stopped it. Private to `src/engine/`. ARCHITECTURE.md § "Flush and compaction".
 *
 * Invariants:
 * - `manifest.flushedSeq` only grows and covers exactly the flushed memtables, flushed oldest
 *   first; it never covers a sequence the WAL does not hold durably.
 * - A memtable leaves `immutables` only after the manifest listing its tables is durable.
 *
 * @module
 */

import { type DiskFullError, diskFullError, isNoSpaceError } from "../errors.ts";
import { IMMUTABLE_MEMTABLES_MAX, WAL_RETAINED_BYTES_FLUSH } from "../limits.ts";
import { Memtable } from "../memtable/mod.ts";
import type { Compactor } from "../compaction/compactor.ts";
import type { EngineCore } from "./_core.ts";

/** Flushes one database's immutable memtables into level-0 tables. */
export class Flusher {
  readonly #core: EngineCore;
  readonly #compactor: Compactor;
  #flushing: Promise<void> | undefined;
  /** Set while memtable flushes stop for lack of disk space (retried by `DiskSpace`). */
  #blocked: DiskFullError | undefined;
  /** Active WAL segment at the last look: a change triggers the WAL-size check. */
  #walSegmentSeen: number;

  /** A flusher for `core`; after each flush it lets `compactor` pick a compaction. */
  constructor(core: EngineCore, compactor: Compactor) {
    this.#core = core;
    this.#compactor = compactor;
    this.#walSegmentSeen = core.wal.activeSegmentId;
  }

  /** The flush loop running now, if any. */
  get running(): Promise<void> | undefined {
    return this.#flushing;
  }

  /** Turns the active memtable immutable (when it holds anything) and schedules its flush. */
  rotate(): void {
    const core = this.#core;
    if (core.memtable.isEmpty) return;
    core.immutables.unshift(core.memtable);
    core.memtable = new Memtable(core.options.memtableSizeBytesMax);
    this.schedule();
  }

  /** Starts the flush loop unless it runs already. */
  schedule(): void {
    if (this.#flushing) return;
    this.#flushing = this.#loop().finally(() => {
      this.#flushing = undefined;
    });
  }

  /**
   * What a write does once its batch is in the memtable: a memtable switch when it is full,
   * the WAL-size check when a segment filled up. Returns true when flushing has fallen behind
   * and the writer should wait for `waitForRoom()` once its batch is durable (backpressure).
   */
  afterApply(): boolean {
    const core = this.#core;
    if (core.memtable.sizeBytes >= core.options.memtableSizeBytesMax) this.rotate();
    if (core.wal.activeSegmentId !== this.#walSegmentSeen) this.#onWalSegmentSwitch();
    return core.immutables.length > IMMUTABLE_MEMTABLES_MAX;
  }

  /** Resolves when few enough memtables wait, or flushing stopped (full disk, fatal, closed). */
  waitForRoom(): Promise<void> {
    // A flush stopped by a full disk frees writers too: their writes are durable in the WAL.
    const core = this.#core;
    if (core.immutables.length <= IMMUTABLE_MEMTABLES_MAX || core.stopped || this.#blocked) {
      return Promise.resolve();
    }
    return core.stall();
  }

  /** `Database.flush`: rotates, then waits until every memtable is flushed. */
  async flushAll(): Promise<void> {
    const core = this.#core;
    core.checkWritable();
    this.rotate();
    while (this.#flushing) await this.#flushing;
    if (core.fatal) core.checkWritable();
    if (this.#blocked) throw core.space.refusal();
    if (core.memtable.isEmpty && core.immutables.length === 0) await this.#advanceFlushedSeq();
  }

  /** The disk-space retry: WAL space first, then the flushes that stopped. */
  async retrySpace(): Promise<boolean> {
    const core = this.#core;
    if (core.stopped) return false;
    if (!(await core.wal.prepareSpace())) return false;
    if (core.immutables.length > 0) {
      this.schedule();
      while (this.#flushing) await this.#flushing;
      if (this.#blocked) return false;
    }
    if (core.options.autoCompaction) this.#compactor.schedule();
    return !core.stopped;
  }

  /** Bytes the disk-space retry needs free before it tries. */
  spaceNeeded(): number {
    const core = this.#core;
    let bytes = core.wal.noSpace ? core.wal.segmentSizeBytes : 0;
    if (this.#blocked) { for (const m of core.immutables) bytes += m.sizeBytes; }
    return bytes;
  }

  async #loop(): Promise<void> {
    const core = this.#core;
    while (core.immutables.length > 0 && !core.stopped) {
      const imm = core.immutables[core.immutables.length - 1]!;
      try {
        await this.#flushMemtable(imm);
      } catch (err) {
        if (!isNoSpaceError(err)) {
          core.fail(err);
          return;
        }
        // The memtable stays (its writes are in the WAL); the flush is retried with space.
        this.#blocked = diskFullError("cannot flush the memtable to an SSTable", err);
        core.space.enterFull(this.#blocked, "flush");
        core.wakeStalled();
        return;
      }
      this.#blocked = undefined;
      core.immutables.pop();
      if (core.immutables.length <= IMMUTABLE_MEMTABLES_MAX) core.wakeStalled();
      if (core.options.autoCompaction) this.#compactor.schedule(true);
    }
  }

  async #flushMemtable(imm: Memtable): Promise<void> {
    const core = this.#core;
    // The WAL must hold the memtable's records durably before its tables are written: (1) the
    // manifest may only cover what the WAL holds (a flushedSeq above the log's durable end --
    // its group commit failed, or is still pending -- would leave a hole between the old
    // segment and the next one after a restart); (2) a table written first and left unlisted by
    // a crash before the manifest write would hold records newer than the WAL's end, and such a
    // stray makes an open from MANIFEST.prev refuse (it cannot tell it from a table of a lost
    // MANIFEST). Normally already true (the group commit ran); a failed WAL rejects here and the
    // flush fails before writing anything.
    if (core.wal.durableSeq < imm.maxSeq) await core.wal.sync();
    // Table writing (and the SSTable builder) loads with the first flush, not at start: an
    // idle server never runs it (ARCHITECTURE.md § "Memory"). A static specifier: compile and
    // bundle include it.
    const { writeTables } = await import("../compaction/table_writer.ts");
    const it = imm.iterator();
    it.seekToFirst();
    const tables = await writeTables(core.writer, it, 0);
    const state = await core.versions.commitTables(tables, (m) => ({
      ...m,
      flushedSeq: Math.max(m.flushedSeq, imm.maxSeq),
      tables: [...tables.map((t) => t.meta), ...m.tables],
    }));
    core.version.apply(new Set(), tables);
    core.counters.flushes++;
    for (const t of tables) core.counters.flushBytesWritten += t.meta.sizeBytes;
    core.options.logger("debug", "flushed memtable", {
      entries: imm.count,
      tables: tables.length,
      flushedSeq: state.flushedSeq,
    });
    core.deleteObsoleteSegments();
  }

  /**
   * A WAL segment filled up. When the closed segments hold more than
   * `WAL_RETAINED_BYTES_FLUSH` only because the memtable is not flushed yet (a workload of
   * mostly log ops fills the WAL far faster than the memtable), flush it so that retention
   * can delete them; an empty memtable just moves `flushedSeq` forward.
   */
  #onWalSegmentSwitch(): void {
    const core = this.#core;
    this.#walSegmentSeen = core.wal.activeSegmentId;
    if (core.stopped) return;
    let retained = 0;
    for (const s of core.wal.segments()) {
      if (s.id !== core.wal.activeSegmentId && s.lastSeq > core.versions.current.flushedSeq) {
        retained += s.sizeBytes;
      }
    }
    if (retained < WAL_RETAINED_BYTES_FLUSH) return;
    if (!core.memtable.isEmpty) this.rotate();
    else if (core.immutables.length === 0) {
      this.#advanceFlushedSeq().catch((err) => core.fail(err));
    }
  }

  /**
   * Nothing is waiting to be flushed (every write since the last flush was a log op): records
   * in the manifest that the tables cover everything up to now, then applies retention.
   */
  async #advanceFlushedSeq(): Promise<void> {
    const core = this.#core;
    // Only as far as the WAL is durable: a manifest promising more would, after a power loss,
    // sit above the end of the log and leave a sequence gap under the next writes.
    const seq = Math.min(core.lastSeq, core.wal.durableSeq);
    if (seq <= core.versions.current.flushedSeq) return;
    await core.versions.commit((m) => ({ ...m, flushedSeq: Math.max(m.flushedSeq, seq) }));
    core.deleteObsoleteSegments();
  }
}
