/**
 * A full disk heals by itself (issue 7.3). ARCHITECTURE.md § "Disk full" describes it.
 *
 * Running out of space (ENOSPC, EDQUOT) is not a lost fsync: nothing acknowledged is at risk,
 * the page cache holds nothing unknown. So it is not fatal. While the database lacks space for
 * what writes need (a WAL segment to place records in, a memtable flush), it refuses writes
 * with `DiskFullError` before anything is applied, serves reads, and retries in the background
 * every `DISK_FULL_RETRY_MS`: when the file system reports enough free bytes (statfs), or
 * every time when it cannot tell, it runs the work that failed again, and accepts writes as
 * soon as that work succeeds. Each change of state is one log line.
 *
 * Invariants:
 * - `full` is set from the moment a write could not get space (or a flush failed for lack of
 *   it) until a retry succeeded; every write and replicated record is refused meanwhile.
 * - At most one retry runs at a time; none runs after `close`.
 *
 * @module
 */

import { DiskFullError } from "../errors.ts";
import type { FileSystem } from "../fs/mod.ts";
import { DISK_FULL_RETRY_MS } from "../limits.ts";
import type { Logger } from "../util/log.ts";

/** What the guard needs from the database. */
export interface DiskSpaceHooks {
  /** Runs the work that failed for lack of space again; true when it all succeeded. */
  retry(): Promise<boolean>;
  /** Bytes that work needs, to wait for them before trying (0 when unknown). */
  neededBytes(): number;
}

/** Tracks whether writes are refused for lack of space, and retries until they are not. */
export class DiskSpace {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #retryMs: number;
  #hooks: DiskSpaceHooks | undefined;
  #full: DiskFullError | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #waitingLogged = false;

  /** A guard for the database in `dir`. */
  constructor(fs: FileSystem, dir: string, logger: Logger, retryMs = DISK_FULL_RETRY_MS) {
    this.#fs = fs;
    this.#dir = dir;
    this.#logger = logger;
    this.#retryMs = retryMs;
  }

  /** Connects the database's retry work (set once the database exists). */
  attach(hooks: DiskSpaceHooks): void {
    this.#hooks = hooks;
  }

  /** The error writes are refused with, or undefined while there is space. */
  get full(): DiskFullError | undefined {
    return this.#full;
  }

  /** A fresh copy of the refusal for one write (a shared error object would share its stack). */
  refusal(): DiskFullError {
    const err = this.#full!;
    return new DiskFullError(err.message, { cause: err.cause });
  }

  /**
   * Writes cannot get space: refuse them from now on (one warning line on the change) and
   * retry in the background.
   */
  enterFull(err: DiskFullError, during: string): void {
    if (this.#closed) return;
    if (this.#full === undefined) {
      this.#full = err;
      this.#waitingLogged = false;
      this.#logger("warn", "disk full: refusing writes until space is freed (reads go on)", {
        dir: this.#dir,
        during,
        error: err.message,
      });
    }
    this.#schedule();
  }

  /** Background work ran out of space before any write needed it: retry, refuse nothing yet. */
  noteLow(): void {
    this.#schedule();
  }

  /** Stops retrying. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Waits for a retry under way (tests, close). */
  async idle(): Promise<void> {
    await this.#running;
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#running !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, this.#retryMs);
  }

  async #tick(): Promise<void> {
    const hooks = this.#hooks;
    if (this.#closed || hooks === undefined) return;
    const needed = hooks.neededBytes();
    const free = this.#fs.availableBytes?.(this.#dir);
    if (free !== undefined && free < needed) {
      if (!this.#waitingLogged) {
        this.#waitingLogged = true;
        this.#logger("info", "disk full: waiting for free space", {
          dir: this.#dir,
          neededBytes: needed,
          freeBytes: free,
        });
      }
      this.#schedule();
      return;
    }
    let ok = false;
    try {
      ok = await hooks.retry();
    } catch (err) {
      this.#logger("warn", "disk full: retry failed", { dir: this.#dir, error: String(err) });
    }
    if (this.#closed) return;
    if (!ok) {
      this.#schedule();
      return;
    }
    if (this.#full !== undefined) {
      this.#full = undefined;
      this.#logger("info", "disk space available again: accepting writes", { dir: this.#dir });
    }
  }
}
