/**
 * The pipelined group commit's decisions (sync mode "always"), from two moving averages: how
 * long an `fdatasync` takes (S) and how much main-thread time the writers of a settled group
 * take per record before the next flush (C per record). Private to `src/wal/`; `writer.ts`
 * acts on the answers. ARCHITECTURE.md § "Writer and group commit".
 *
 * With W writers that each wait for their write, the group commit alternates between the disk
 * (S) and the CPU (the writers' next appends, C·W). Overlapping them pays only when C·W > S:
 * the writers are then split in two groups whose syncs run off the event loop while the other
 * group's writers run. When S is larger, one group per sync is better (each sync carries
 * every writer), and a small group's sync stays on the main thread, where it is ~90 µs faster
 * than through the thread pool.
 *
 * @module
 */

import { WAL_SYNC_OFF_THREAD_RECORDS_MIN } from "../limits.ts";

/** Weight of a new sample in the moving averages. */
const EWMA_WEIGHT = 0.2;
/**
 * How many times a sync the writers' CPU time must be before their groups are split. With two
 * halves a cycle takes 2·max(S, C·W/2) instead of S + C·W: nothing is gained at C·W = S, 1.5×
 * at 2·S. Below that the extra syncs and thread-pool hops cost more than the overlap gives,
 * and on a loaded machine the measured C·W is inflated by the time the process waits for a
 * core (measured here at load ~10 on 2 cores: splitting at C·W > S lost ~15%).
 */
const SPLIT_MARGIN = 2;

function ewma(average: number, sample: number): number {
  return average === 0 ? sample : average + EWMA_WEIGHT * (sample - average);
}

/** Measures syncs and writers, and answers the group commit's scheduling questions. */
export class SyncPacer {
  /** Moving average of an `fdatasync`'s duration (ms); 0 before the first. */
  #syncMs = 0;
  /** Moving average of the main-thread time per record of resumed writers (ms). */
  #cpuMsPerRecord = 0;
  #resumedAtMs: number | undefined;
  #resumedRecords = 0;

  /** Records the duration of one group's `fdatasync`. */
  noteSync(ms: number): void {
    this.#syncMs = ewma(this.#syncMs, ms);
  }

  /** The writers of a settled group of `records` records were just resumed. */
  noteResumed(records: number): void {
    if (records < WAL_SYNC_OFF_THREAD_RECORDS_MIN) return;
    this.#resumedAtMs = performance.now();
    this.#resumedRecords = records;
  }

  /**
   * The first flush turn after resumed writers ran: their appends all came before it (they
   * run as microtasks), so the time since `noteResumed` is their CPU time.
   */
  noteFlushTurn(): void {
    if (this.#resumedAtMs === undefined) return;
    const perRecord = (performance.now() - this.#resumedAtMs) / this.#resumedRecords;
    this.#resumedAtMs = undefined;
    this.#cpuMsPerRecord = ewma(this.#cpuMsPerRecord, perRecord);
  }

  /**
   * True when the CPU time of `records` writers exceeds `SPLIT_MARGIN` syncs: overlapping them
   * with the syncs pays.
   */
  overlapPays(records: number): boolean {
    return records >= WAL_SYNC_OFF_THREAD_RECORDS_MIN && this.#syncMs > 0 &&
      this.#cpuMsPerRecord * records > SPLIT_MARGIN * this.#syncMs;
  }

  /**
   * When a sync completes with a group waiting: start the waiting group's sync now (true),
   * or resume the finished group's writers first so that their appends join it (false). Now:
   * the `waiting` records gain the resumed writers' CPU time C; later: the `resumed` records
   * gain S − C (they would wait for a whole sync before theirs starts).
   */
  pipelineNext(waiting: number, resumed: number): boolean {
    const cpuMs = this.#cpuMsPerRecord * resumed;
    if (cpuMs >= this.#syncMs) return true;
    return waiting * cpuMs > resumed * (this.#syncMs - cpuMs);
  }
}
