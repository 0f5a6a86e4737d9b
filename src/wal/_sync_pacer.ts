/**
 * When the WAL's group commit pipelines: the measurements behind `WalWriter`'s choice between
 * one synchronous fdatasync per group and two groups in flight with their fdatasyncs off the
 * event loop. Private to `src/wal/`. ARCHITECTURE.md § "Writer and group commit".
 *
 * With W writers each waiting for its own write, a cycle of the synchronous commit takes
 * C + S (C: the writers' CPU time to issue their next writes, S: one fdatasync). Pipelined, the
 * writers are split in two halves whose CPU time overlaps the other half's fdatasync, so a cycle
 * takes about max(C, 2 S) when the disk runs one flush at a time: it pays when C > S, and costs
 * up to half the rate when S is much longer than C (a slow or busy disk). Both are measured as
 * moving averages; the margins keep it from flapping.
 *
 * @module
 */

/** Pipelining starts when the writers' CPU time per cycle exceeds this many syncs. */
const PIPELINE_ON_SYNCS = 1.25;
/** Pipelining stops when the writers' CPU time per cycle falls under this many syncs. */
const PIPELINE_OFF_SYNCS = 1;
/** Weight of a new sample in the moving averages. */
const ALPHA = 1 / 8;

/** Moving averages of sync latency and of the writers' CPU time per record. */
export class SyncPacer {
  #syncMs = 0;
  #recordMs = 0;
  #pipelining = false;
  readonly #forced: boolean | undefined;

  /** A pacer that measures, or (`forced`, for tests) always or never pipelines. */
  constructor(forced?: boolean) {
    this.#forced = forced;
    if (forced !== undefined) this.#pipelining = forced;
  }

  /** True while groups go two at a time with their fdatasyncs off the event loop. */
  get pipelining(): boolean {
    return this.#pipelining;
  }

  /** An fdatasync (either kind) took `ms`, from its start to the writer hearing it ended. */
  noteSync(ms: number): void {
    this.#syncMs = this.#syncMs === 0 ? ms : this.#syncMs + (ms - this.#syncMs) * ALPHA;
  }

  /** `records` appends filled a group in `ms` (from its first append to its flush). */
  noteBurst(ms: number, records: number): void {
    const perRecord = ms / records;
    this.#recordMs = this.#recordMs === 0
      ? perRecord
      : this.#recordMs + (perRecord - this.#recordMs) * ALPHA;
  }

  /** Decides again, for `writers` records per cycle; returns `pipelining`. */
  decide(writers: number): boolean {
    if (this.#forced !== undefined || this.#syncMs === 0 || this.#recordMs === 0) {
      return this.#pipelining;
    }
    const cpuMs = this.#recordMs * writers;
    if (this.#pipelining) {
      if (cpuMs < this.#syncMs * PIPELINE_OFF_SYNCS) this.#pipelining = false;
    } else if (cpuMs > this.#syncMs * PIPELINE_ON_SYNCS) this.#pipelining = true;
    return this.#pipelining;
  }
}
