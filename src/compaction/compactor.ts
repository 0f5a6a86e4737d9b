/**
 * The compaction coordinator of one database: runs what the picker picks, one compaction at a
 * time, in the background after flushes, and the compactions the API asks for (`compact()`,
 * `compactRange()`). It counts them and decides what a failure means. ARCHITECTURE.md
 * § "Compaction styles".
 *
 * Failures: a compaction filter that throws fails that compaction only (logged, counted; the
 * next flush tries again); lack of space defers it until the file system reports as many
 * free bytes as its inputs hold; anything else is fatal to the database (`host.fail`).
 *
 * @module
 */

import { isNoSpaceError } from "../errors.ts";
import type { FileSystem } from "../fs/mod.ts";
import type { ManifestState } from "../manifest/mod.ts";
import { type LiveTable, rangesOverlap, type Version } from "../manifest/version.ts";
import { compareBytes } from "../util/bytes.ts";
import type { Logger } from "../util/log.ts";
import { type CompactionFilter, CompactionFilterError, CompactionFilters } from "./filter.ts";
import type { CompactionPicker, CompactionPlan } from "./picker.ts";
import type { TableWriterContext } from "./table_writer.ts";

/** What the compactor needs from its database. */
export interface CompactorHost {
  /** The database directory (logs, free-space checks). */
  dir: string;
  /** The file system (free-space checks). */
  fs: FileSystem;
  /** Where log lines go. */
  logger: Logger;
  /** The clock (Unix milliseconds). */
  nowMs: () => number;
  /** The live tables. */
  version: Version;
  /** Where and how new tables are written. */
  writer: TableWriterContext;
  /** Serialized, durable manifest write (see `CompactionJobContext.commitManifest`). */
  commitManifest(
    change: (current: ManifestState) => ManifestState,
    retiring: readonly LiveTable[],
  ): Promise<ManifestState>;
  /** True once the database closed or stopped on a fatal error. */
  stopped(): boolean;
  /** Stops the database on a fatal error. */
  fail(err: unknown): void;
}

/** Counters the compactor adds to (the database's stats). */
export interface CompactionCounters {
  /** Compactions, trivial moves included. */
  compactions: number;
  /** Trivial moves. */
  compactionTrivialMoves: number;
  /** Bytes read by compactions. */
  compactionBytesRead: number;
  /** Bytes written by compactions. */
  compactionBytesWritten: number;
  /** Compactions failed by a compaction filter. */
  compactionFilterErrors: number;
}

/** Runs one database's compactions. */
export class Compactor {
  readonly #host: CompactorHost;
  readonly #picker: CompactionPicker;
  readonly #counters: CompactionCounters;
  readonly #filters = new CompactionFilters();
  #running: Promise<void> | undefined;
  /** Set when the last automatic compaction failed on a filter: the next flush retries. */
  #held = false;
  /** Free bytes a compaction that ran out of space waits for before it runs again. */
  #needsBytes = 0;

  /** A compactor using `picker`'s style, counting into `counters`. */
  constructor(host: CompactorHost, picker: CompactionPicker, counters: CompactionCounters) {
    this.#host = host;
    this.#picker = picker;
    this.#counters = counters;
  }

  /** The style in use. */
  get style(): CompactionPicker["style"] {
    return this.#picker.style;
  }

  /** The compaction running now, if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** See `Database.registerCompactionFilter`. */
  registerFilter(filter: CompactionFilter): () => void {
    return this.#filters.register(filter);
  }

  /**
   * Starts the most urgent compaction in the background, if one is needed and none runs. A
   * flush passes `afterFlush`, which lifts the hold a failed filter left.
   */
  schedule(afterFlush = false): void {
    if (afterFlush) this.#held = false;
    if (this.#running || this.#held || this.#host.stopped()) return;
    let plan: CompactionPlan | undefined;
    try {
      // Picking may read table indexes (leveled: which tables hold an input's keys).
      plan = this.#picker.pick(this.#host.version);
    } catch (err) {
      this.#failed(err, undefined);
      return;
    }
    if (plan === undefined) return;
    if (this.#needsBytes > 0) {
      // It ran out of space before: wait until the file system reports room for it.
      const free = this.#host.fs.availableBytes?.(this.#host.dir);
      if (free !== undefined && free < this.#needsBytes) return;
    }
    let ok = false;
    this.#running = this.#run(plan)
      .then(() => {
        this.#needsBytes = 0;
        ok = true;
      })
      .catch((err) => this.#failed(err, plan))
      .finally(() => {
        this.#running = undefined;
        if (ok) this.schedule();
      });
  }

  /**
   * Runs a compaction the API asked for, after any running one; its errors go to the caller
   * (`after` runs when it succeeded, within the same turn as the compaction). The plan is
   * made when its turn comes. `retry` re-schedules background work afterwards.
   */
  async runManual(
    plan: () => CompactionPlan | undefined,
    after: () => Promise<void>,
    retry: boolean,
  ): Promise<void> {
    while (this.#running) await this.#running;
    const p = plan();
    const run = (p ? this.#run(p) : Promise.resolve()).then(after);
    this.#running = run.catch((err) => this.#failed(err, p)).finally(() => {
      this.#running = undefined;
      // Flushes during the merge may have filled level 0 again.
      if (retry) this.schedule(true);
    });
    await run;
  }

  /** A full compaction: every table into one sorted run at the picker's bottom level. */
  fullPlan(): CompactionPlan | undefined {
    const inputs = this.#host.version.all();
    if (inputs.length === 0) return undefined;
    const outputLevel = this.#picker.fullCompactionLevel(this.#host.version);
    return { inputs, outputLevel, trivialMove: false, reason: "compact()" };
  }

  /**
   * The tables holding keys in `[start, end)`, closed over key overlap (so that no table left
   * out shares a key with the outputs), into the deepest level among them (level 1 at least
   * in the leveled style).
   */
  rangePlan(start?: Uint8Array, end?: Uint8Array): CompactionPlan | undefined {
    const all = this.#host.version.all();
    const chosen = new Set(
      all.filter((t) =>
        (end === undefined || compareBytes(t.meta.smallestKey, end) < 0) &&
        (start === undefined || compareBytes(t.meta.largestKey, start) >= 0)
      ),
    );
    if (chosen.size === 0) return undefined;
    for (let grew = true; grew;) {
      grew = false;
      let lo: Uint8Array | undefined;
      let hi: Uint8Array | undefined;
      for (const t of chosen) {
        if (lo === undefined || compareBytes(t.meta.smallestKey, lo) < 0) lo = t.meta.smallestKey;
        if (hi === undefined || compareBytes(t.meta.largestKey, hi) > 0) hi = t.meta.largestKey;
      }
      for (const t of all) {
        if (!chosen.has(t) && rangesOverlap(t.meta.smallestKey, t.meta.largestKey, lo!, hi!)) {
          chosen.add(t);
          grew = true;
        }
      }
    }
    const inputs = [...chosen];
    let deepest = 0;
    for (const t of inputs) deepest = Math.max(deepest, t.meta.level);
    const outputLevel = this.#picker.style === "leveled" ? Math.max(1, deepest) : deepest;
    return { inputs, outputLevel, trivialMove: false, reason: "compactRange()" };
  }

  async #run(plan: CompactionPlan): Promise<void> {
    const host = this.#host;
    // The job (merging, table writing) loads with the first compaction, not at start
    // (ARCHITECTURE.md § "Memory"). A static specifier: compile and bundle include it.
    const { runCompaction } = await import("./job.ts");
    const result = await runCompaction(plan, {
      writer: host.writer,
      version: host.version,
      filters: this.#filters,
      nowMs: host.nowMs,
      commitManifest: host.commitManifest,
    });
    const c = this.#counters;
    c.compactions++;
    if (result.moved) c.compactionTrivialMoves++;
    c.compactionBytesRead += result.bytesRead;
    c.compactionBytesWritten += result.bytesWritten;
    host.logger("debug", result.moved ? "moved tables" : "compacted", {
      reason: plan.reason,
      to: plan.outputLevel,
      inputs: plan.inputs.length,
      outputs: result.outputs,
    });
  }

  /** A compaction failed; its outputs are gone and its inputs stay live. */
  #failed(err: unknown, plan: CompactionPlan | undefined): void {
    if (err instanceof CompactionFilterError) {
      this.#counters.compactionFilterErrors++;
      this.#held = true;
      this.#host.logger("error", "compaction failed: a compaction filter threw", {
        dir: this.#host.dir,
        filter: err.filterName,
        error: err.message,
      });
      return;
    }
    if (!isNoSpaceError(err)) {
      this.#host.fail(err);
      return;
    }
    // Not fatal and refuses no write (compaction is housekeeping: writes need WAL and flush
    // space, which have their own checks).
    const inputs = (plan?.inputs ?? []).reduce((n, t) => n + t.meta.sizeBytes, 0);
    this.#needsBytes = Math.max(1, inputs);
    this.#host.logger("warn", "compaction deferred: disk full", {
      dir: this.#host.dir,
      toLevel: plan?.outputLevel,
      neededBytes: inputs,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
