/**
 * Creating WAL segments: header, real zeros to the full size, fsync, rename into place, fsync
 * the directory. Private to `src/wal/`.
 *
 * A segment is written as `NNNNNN.wal.tmp` and renamed to `NNNNNN.wal` only when its header
 * and zeros are durable, so a `.wal` file never has a torn header, and leftover `.tmp` files
 * (a crash mid-preallocation) are simply removed at open. Zeros are written for real (not a
 * sparse `truncate`): an fdatasync that neither allocates blocks nor changes the file size is
 * the cheap one (~140 µs here).
 *
 * `SegmentPreparer` does this in the background, 1 MiB at a time with a `setImmediate` yield
 * between chunks, so the writer switches to a ready file when the active one fills. When the
 * writer needs the segment before it is ready, `finishSync` completes it synchronously from
 * wherever the background work got to (the id stays the same, so ids keep sequence order).
 *
 * A failure (ENOSPC above all) never leaves a file behind: the `.tmp` is removed, and a ready
 * segment that could not grow is cut back to its old size, so that a full disk is not filled
 * further by attempts to write on it.
 *
 * @module
 */

// setImmediate: Deno's global, not node:timers (which loads the Node layer at start: idle RSS).
import type { File, FileSystem } from "../fs/mod.ts";
import { joinPath } from "../fs/mod.ts";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { yieldToEventLoop } from "../util/event_loop.ts";
import { encodeSegmentHeader, segmentFileName, WAL_SEGMENT_HEADER_BYTES } from "./format.ts";

/** Bytes of zeros written between two yields to the event loop. */
const ZERO_CHUNK_BYTES = 1 << 20;
const ZEROS = new Uint8Array(ZERO_CHUNK_BYTES);

type State = "idle" | "writing" | "ready" | "failed" | "abandoned";

/** One segment file being preallocated (in the background or synchronously). */
export class SegmentPreparer {
  /** Segment id. */
  readonly id: number;
  /** Final path `NNNNNN.wal`. */
  readonly path: string;
  /** Temporary path `NNNNNN.wal.tmp`. */
  readonly tmpPath: string;
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #header: Uint8Array;
  #sizeBytes: number;
  #state: State = "idle";
  #file: File | undefined;
  #writtenBytes = 0;
  /** True while the background `syncAsync` runs: the handle must stay open until it returns. */
  #syncInFlight = false;
  #run: Promise<void> | undefined;
  /** Bumped when `finishSync` starts over, so a stale background failure is ignored. */
  #generation = 0;

  /** A segment of `sizeBytes` (header included) in this build's format. */
  constructor(fs: FileSystem, dir: string, id: number, sizeBytes: number) {
    assert(sizeBytes > WAL_SEGMENT_HEADER_BYTES, "segment smaller than its header");
    this.#fs = fs;
    this.#dir = dir;
    this.id = id;
    this.path = joinPath(dir, segmentFileName(id));
    this.tmpPath = `${this.path}.tmp`;
    this.#sizeBytes = sizeBytes;
    this.#header = encodeSegmentHeader(id);
  }

  /** The file's full size once done. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Changes the size before any byte is written (the chain sizes it by the write rate). */
  resize(sizeBytes: number): void {
    assert(
      this.#state === "idle" || this.#state === "failed",
      "resizing a segment already being written",
    );
    assert(sizeBytes > WAL_SEGMENT_HEADER_BYTES, "segment smaller than its header");
    this.#sizeBytes = sizeBytes;
  }

  /** True once background or synchronous preparation has begun (and not failed since). */
  get started(): boolean {
    return this.#state !== "idle" && this.#state !== "failed";
  }

  /** True when the segment is durable at `path` and may be activated. */
  get ready(): boolean {
    return this.#state === "ready";
  }

  /**
   * Starts writing in the background. A failure is logged and passed to `onFailure`; the tmp
   * file is removed, and `finishSync` or another start begins again.
   */
  startInBackground(logger: Logger | undefined, onFailure?: (err: unknown) => void): void {
    void this.prepare().catch((err) => {
      logger?.("warn", "cannot preallocate WAL segment in the background", {
        file: this.tmpPath,
        error: err instanceof Error ? err.message : String(err),
      });
      onFailure?.(err);
    });
  }

  /**
   * Writes the segment in the background (or waits for the run under way); resolves when it
   * is ready, rejects on failure after removing the tmp file.
   */
  prepare(): Promise<void> {
    if (this.#state === "ready") return Promise.resolve();
    assert(this.#state !== "abandoned", "preparing an abandoned segment");
    if (this.#state === "writing" && this.#run !== undefined) return this.#run;
    this.#state = "writing";
    const generation = ++this.#generation;
    const run = this.#background(generation).catch((err) => {
      if (this.#generation !== generation || this.#state !== "writing") return;
      this.#state = "failed";
      this.#closeFile();
      this.#removeTmp();
      throw err;
    });
    this.#run = run.then(() => {
      if (this.#state !== "ready" && this.#state !== "abandoned") {
        throw new Error(`WAL segment ${this.path} was not finished`);
      }
    });
    // `abandon` awaits the run; a failure is reported to the caller of `prepare`, not there.
    this.#run.catch(() => {});
    return this.#run;
  }

  #removeTmp(): void {
    try {
      this.#fs.remove(this.tmpPath);
    } catch {
      // Best effort: it may not exist; the next open removes `.wal.tmp` files too.
    }
  }

  async #background(generation: number): Promise<void> {
    const current = () => this.#generation === generation && this.#state === "writing";
    this.#openTmp();
    while (this.#writtenBytes < this.#sizeBytes) {
      this.#writeChunk();
      await yieldToEventLoop();
      if (!current()) return;
    }
    const file = this.#file!;
    this.#syncInFlight = true;
    try {
      await file.syncAsync();
    } finally {
      this.#syncInFlight = false;
      // `finishSync` took over during the sync and detached the handle: ours to close.
      if (this.#file !== file) file.close();
    }
    if (!current()) return;
    this.#publish();
  }

  #openTmp(): void {
    try {
      this.#fs.remove(this.tmpPath);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    this.#file = this.#fs.open(this.tmpPath, { write: true, createNew: true });
    this.#file.writeAt(this.#header, 0);
    this.#writtenBytes = WAL_SEGMENT_HEADER_BYTES;
  }

  #writeChunk(): void {
    const n = Math.min(ZERO_CHUNK_BYTES, this.#sizeBytes - this.#writtenBytes);
    this.#file!.writeAt(ZEROS.subarray(0, n), this.#writtenBytes);
    this.#writtenBytes += n;
  }

  /** Closes the tmp handle, fsyncs and renames into place, fsyncs the directory. */
  #publish(): void {
    this.#closeFile();
    this.#fs.rename(this.tmpPath, this.path);
    this.#fs.syncDir(this.#dir);
    this.#state = "ready";
  }

  #closeFile(): void {
    if (this.#file && !this.#syncInFlight) {
      const file = this.#file;
      this.#file = undefined;
      file.close();
    }
  }

  /**
   * Makes the segment durable at `path` with at least `minSizeBytes` now, synchronously,
   * continuing the background work or redoing it after a failure. Throws on I/O errors,
   * leaving no tmp file behind (the next call starts over).
   */
  finishSync(minSizeBytes = 0): void {
    assert(this.#state !== "abandoned", "finishing an abandoned segment");
    if (this.#state === "ready") {
      if (minSizeBytes > this.#sizeBytes) this.#extend(minSizeBytes);
      return;
    }
    try {
      this.#finishSync(minSizeBytes);
    } catch (err) {
      this.#generation++;
      this.#state = "failed";
      // A background sync still using the handle closes it once it sees it detached.
      if (this.#syncInFlight) this.#file = undefined;
      else this.#closeFile();
      this.#removeTmp();
      throw err;
    }
  }

  #finishSync(minSizeBytes: number): void {
    this.#sizeBytes = Math.max(this.#sizeBytes, minSizeBytes);
    if (this.#state !== "writing" || this.#file === undefined) {
      // Not started, or failed: start over.
      this.#generation++;
      this.#file = undefined;
      this.#state = "writing";
      this.#openTmp();
    }
    while (this.#writtenBytes < this.#sizeBytes) this.#writeChunk();
    this.#file!.sync();
    if (this.#syncInFlight) {
      // The background sync still uses the handle: detach it, the background closes it.
      this.#file = undefined;
      this.#state = "ready";
      this.#fs.rename(this.tmpPath, this.path);
      this.#fs.syncDir(this.#dir);
      return;
    }
    this.#publish();
  }

  /**
   * Grows a ready segment with zeros (for a record larger than a default segment). On failure
   * the file is cut back to its old size (best effort) so that it holds no half-written space.
   */
  #extend(sizeBytes: number): void {
    const file = this.#fs.open(this.path, { write: true });
    try {
      for (let at = this.#sizeBytes; at < sizeBytes; at += ZERO_CHUNK_BYTES) {
        file.writeAt(ZEROS.subarray(0, Math.min(ZERO_CHUNK_BYTES, sizeBytes - at)), at);
      }
      file.sync();
    } catch (err) {
      try {
        file.truncate(this.#sizeBytes);
      } catch {
        // The extra zeros stay; recovery reads any size.
      }
      throw err;
    } finally {
      file.close();
    }
    this.#sizeBytes = sizeBytes;
  }

  /**
   * Stops the background work, waits for it and removes whatever file it made (the segment
   * was never used). Errors removing are returned to the caller to log.
   */
  async abandon(): Promise<void> {
    if (this.#state === "idle") {
      this.#state = "abandoned";
      return;
    }
    const wasReady = this.#state === "ready";
    this.#state = "abandoned";
    await this.#run?.catch(() => {});
    this.#closeFile();
    for (const path of wasReady ? [this.path] : [this.tmpPath, this.path]) {
      try {
        this.#fs.remove(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    this.#fs.syncDir(this.#dir);
  }
}
