/**
 * The durable side of the live tables (LevelDB's `VersionSet`): the current manifest state,
 * its serialized writes through `ManifestStore` (MANIFEST + MANIFEST.prev), file numbers, and
 * the tables a write retired. ARCHITECTURE.md § "Flush and compaction" gives the crash-safety
 * steps this keeps.
 *
 * Invariants:
 * - Manifest writes run one at a time, each computed from the state the previous one left, so
 *   a flush and a compaction finishing together lose neither change.
 * - A table dropped by write N stays on disk until write N + 1 is durable: `MANIFEST.prev`
 *   (state N - 1) still lists it until then.
 * - `nextFileNumber` in every state written is above every number handed out before it.
 *
 * @module
 */

import { type FileSystem, joinPath } from "../fs/mod.ts";
import type { Logger } from "../util/log.ts";
import { type ManifestState, tableFileName } from "./mod.ts";
import type { ManifestStore } from "./store.ts";
import type { LiveTable, Version } from "./version.ts";

/** The current manifest and its writes. */
export class VersionSet {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #store: ManifestStore;
  readonly #version: Version;
  readonly #logger: Logger;
  #current: ManifestState;
  #nextFileNumber: number;
  #queue: Promise<void> = Promise.resolve();
  /** Tables the latest write dropped (`MANIFEST.prev` still lists them). */
  #retired: LiveTable[] = [];
  /** Like `#retired`, for tables only `MANIFEST.prev` listed at open (no open handle). */
  #retiredFiles: number[];

  /** Continues from `current` as written by `store`; `retiredFiles` as recovery found them. */
  constructor(
    fs: FileSystem,
    dir: string,
    store: ManifestStore,
    current: ManifestState,
    version: Version,
    retiredFiles: number[],
    logger: Logger,
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.#store = store;
    this.#current = current;
    this.#version = version;
    this.#retiredFiles = retiredFiles;
    this.#logger = logger;
    this.#nextFileNumber = current.nextFileNumber;
  }

  /** The state of the latest durable write. */
  get current(): ManifestState {
    return this.#current;
  }

  /** Hands out a fresh file number. */
  newFileNumber(): number {
    return this.#nextFileNumber++;
  }

  /** WAL retention bound: both copies must be able to replay from their `flushedSeq`. */
  get retainAfterSeq(): number {
    return this.#store.retainAfterSeq;
  }

  /** True while a write dropped tables that `MANIFEST.prev` still lists. */
  get hasRetired(): boolean {
    return this.#retired.length > 0;
  }

  /**
   * Durably replaces the manifest with `change(current)`, after the writes queued before it;
   * the fsyncs run off the event loop. `retiring` are the tables the change drops.
   */
  commit(
    change: (current: ManifestState) => ManifestState,
    retiring: readonly LiveTable[] = [],
  ): Promise<ManifestState> {
    const run = this.#queue.then(async () => {
      const state = change(this.#current);
      state.nextFileNumber = Math.max(state.nextFileNumber, this.#nextFileNumber);
      await this.#store.saveAsync(state);
      this.#current = state;
      // MANIFEST.prev now holds the state before this one: what the write before dropped is
      // listed by neither copy any more, and what this write drops is still listed there.
      this.#dropRetired();
      this.#retired = [...retiring];
      return state;
    });
    this.#queue = run.then(() => {}, () => {});
    return run;
  }

  /**
   * `commit` for a change listing new `tables`; when it fails (a full disk) they are closed
   * and their files removed, so that a retry does not leave them behind.
   */
  async commitTables(
    tables: readonly LiveTable[],
    change: (current: ManifestState) => ManifestState,
    retiring: readonly LiveTable[] = [],
  ): Promise<ManifestState> {
    try {
      return await this.commit(change, retiring);
    } catch (err) {
      for (const t of tables) {
        t.table.close();
        try {
          this.#fs.remove(joinPath(this.#dir, tableFileName(t.meta.fileNumber)));
        } catch { /* a stray: removed at the next open */ }
      }
      throw err;
    }
  }

  /**
   * Writes `state` to both copies now, synchronously (a snapshot install: the state before can
   * no longer serve as a fallback), and deletes every retired table.
   */
  replaceBoth(state: ManifestState): void {
    state.nextFileNumber = Math.max(state.nextFileNumber, this.#nextFileNumber);
    this.#store.save(state, { resetPrevious: true });
    this.#current = state;
    this.#dropRetired();
  }

  /** Closes the retired tables' readers (the database closes). */
  closeRetired(): void {
    for (const t of this.#retired) t.table.close();
    this.#retired = [];
  }

  /** Deletes the tables no manifest copy lists any more (once no scan holds them). */
  #dropRetired(): void {
    this.#version.retire(this.#retired.splice(0));
    for (const fileNumber of this.#retiredFiles.splice(0)) {
      try {
        this.#fs.remove(joinPath(this.#dir, tableFileName(fileNumber)));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue;
        this.#logger("warn", "cannot remove obsolete table", {
          file: tableFileName(fileNumber),
          error: String(err),
        });
      }
    }
  }
}
