/**
 * The file-system interface every engine component uses instead of calling `Deno.*` directly
 * (Pebble's `vfs`, LevelDB's `Env`). Two implementations:
 *
 * - `RealFs` (`real_fs.ts`): the operating system, through `Deno.FsFile` (`seekSync` then
 *   `readSync`/`writeSync`: the calls are synchronous, so no other call moves the cursor
 *   between the seek and the read or write).
 * - `FaultFs` (`fault_fs.ts`, imported from there or from `src/mod.ts`, so that a server does
 *   not load it): an in-memory file system for tests that can fail the Nth write, sync or
 *   rename and can simulate power loss: everything not fsynced is dropped, including directory
 *   entries created or renamed since the directory's last fsync.
 *
 * Data calls are synchronous on purpose: a positional read or write that hits the page cache
 * costs ~2 µs synchronously and ~40-90 µs through the async thread pool (measured on the dev
 * machine), and the WAL's group commit runs `fdatasync` synchronously at ~140 µs instead of
 * ~230 µs async (unless it pipelines, `syncDataAsync`: many writers whose CPU time can overlap
 * the sync). Long syncs of big new files (flush, compaction) use `syncAsync` so that they do
 * not hold the event loop.
 *
 * @module
 */

/** How to open a file. */
export interface OpenOptions {
  /** Open for writing as well as reading. */
  write?: boolean;
  /** Create the file when missing. */
  create?: boolean;
  /** Fail when the file exists (implies `create`). */
  createNew?: boolean;
  /** Cut the file to zero length on open. */
  truncate?: boolean;
}

/** An open file. Positions are byte offsets from the start of the file. */
export interface File {
  /** The path the file was opened with. */
  readonly path: string;
  /** Reads up to `buf.length` bytes at `position`; returns how many were read (0 at EOF). */
  readAt(buf: Uint8Array, position: number): number;
  /** Writes all of `data` at `position`, extending the file as needed. */
  writeAt(data: Uint8Array, position: number): void;
  /** `fdatasync`: file data and the metadata needed to read it back are durable. */
  syncData(): void;
  /** `fsync`: data and all metadata are durable. */
  sync(): void;
  /** `fsync` off the event loop, for large files. */
  syncAsync(): Promise<void>;
  /** `fdatasync` off the event loop (the WAL's pipelined group commit). */
  syncDataAsync(): Promise<void>;
  /** Sets the file's length (cuts or extends with zeros). */
  truncate(size: number): void;
  /** Current length in bytes. */
  size(): number;
  /** Closes the file; further calls fail. */
  close(): void;
}

/** Metadata of a path. */
export interface FileInfo {
  /** True for a regular file. */
  isFile: boolean;
  /** True for a directory. */
  isDirectory: boolean;
  /** Length in bytes. */
  size: number;
}

/** A held exclusive lock on a data directory; `release` unlocks it. */
export interface DirLock {
  /** Releases the lock. */
  release(): void;
}

/** The file-system calls the engine needs. Paths are plain strings joined with `/`. */
export interface FileSystem {
  /** Opens (or creates) a file. Throws `Deno.errors.NotFound` / `AlreadyExists` like Deno. */
  open(path: string, options?: OpenOptions): File;
  /** Atomically renames `from` to `to`, replacing `to`. Durable after `syncDir`. */
  rename(from: string, to: string): void;
  /** Removes a file. Durable after `syncDir`. */
  remove(path: string): void;
  /** Names (not paths) of the entries in a directory. */
  readDir(dir: string): string[];
  /** Creates a directory and its parents; no error when it exists. */
  mkdirp(dir: string): void;
  /** Metadata of `path`, or `undefined` when it does not exist. */
  stat(path: string): FileInfo | undefined;
  /** fsyncs a directory so that creates, renames and removes in it are durable. */
  syncDir(dir: string): void;
  /** `syncDir` off the event loop (flushes and compactions use it so writers are not held). */
  syncDirAsync(dir: string): Promise<void>;
  /**
   * Takes an exclusive lock on `path` (created when missing) for this process. Throws
   * `LockedError` when another holder has it.
   */
  lock(path: string): DirLock;
  /**
   * Bytes an unprivileged writer may still use on the file system holding `path` (statfs
   * `bavail × bsize`), or undefined when unknown. A disk-full retry waits for enough of them
   * instead of writing and removing a segment of zeros every time.
   */
  availableBytes?(path: string): number | undefined;
}

/** Joins path segments with `/`. */
export function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/");
}

/** Reads a whole file into memory. */
export function readWholeFile(fs: FileSystem, path: string): Uint8Array {
  const file = fs.open(path);
  try {
    const size = file.size();
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = file.readAt(buf.subarray(done), done);
      if (n === 0) break;
      done += n;
    }
    return done === size ? buf : buf.subarray(0, done);
  } finally {
    file.close();
  }
}

/**
 * Writes `data` to `path` atomically and durably: create `path.tmp`, write, fsync, rename over
 * `path`, fsync the directory. After a crash `path` holds either the old or the new content.
 */
export function writeFileAtomic(
  fs: FileSystem,
  dir: string,
  name: string,
  data: Uint8Array,
) {
  const tmp = joinPath(dir, `${name}.tmp`);
  const file = fs.open(tmp, { write: true, create: true, truncate: true });
  try {
    file.writeAt(data, 0);
    file.sync();
  } catch (err) {
    removeQuietly(fs, tmp, file);
    throw err;
  }
  file.close();
  fs.rename(tmp, joinPath(dir, name));
  fs.syncDir(dir);
}

/** Closes and removes a half-written temp file (a full disk must not keep it). */
function removeQuietly(fs: FileSystem, path: string, file: File): void {
  try {
    file.close();
  } catch {
    // Already closed.
  }
  try {
    fs.remove(path);
  } catch {
    // Removed at the next open (every `.tmp` file is).
  }
}

/**
 * `writeFileAtomic` with both fsyncs off the event loop: the small write is synchronous, the
 * file and directory syncs run on the thread pool.
 */
export async function writeFileAtomicAsync(
  fs: FileSystem,
  dir: string,
  name: string,
  data: Uint8Array,
): Promise<void> {
  const tmp = joinPath(dir, `${name}.tmp`);
  const file = fs.open(tmp, { write: true, create: true, truncate: true });
  try {
    file.writeAt(data, 0);
    await file.syncAsync();
  } catch (err) {
    removeQuietly(fs, tmp, file);
    throw err;
  }
  file.close();
  fs.rename(tmp, joinPath(dir, name));
  await fs.syncDirAsync(dir);
}

export { RealFs } from "./real_fs.ts";
