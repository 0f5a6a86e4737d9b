/**
 * `RealFs`: the `FileSystem` interface on the operating system, through `Deno.FsFile` (the
 * design's "Deno runs the engine with `Deno.FsFile` fsync"). Positional I/O is `seekSync` then
 * `readSync`/`writeSync`: every engine call is synchronous, so no other call can move the
 * cursor between the seek and the read. `syncDataSync`/`syncSync` are fdatasync/fsync,
 * `sync()` runs fsync off the event loop, and a directory is opened and synced for renames.
 * `node:fs` remains only for `statfs` (free bytes), which Deno has no call for; it is imported on
 * the first `availableBytes` call, which answers "unknown" until it has loaded: the call is
 * only needed after a disk-full, and loading Node.js's `fs` at start costs a server ~2 MiB.
 *
 * Modes: every file it creates is 0600 and every directory 0700 (owner only), whatever the
 * process umask. The data is the owner's business alone: another local user must not read a
 * key or a value. The mode is given on create, and set again with `chmod` when the umask took
 * owner bits away (a umask like 0277); files left 0644 by an older version are tightened when
 * the engine opens them for writing.
 *
 * @module
 */

import { IoError, LockedError } from "../errors.ts";
import type { DirLock, File, FileInfo, FileSystem, OpenOptions } from "./mod.ts";

const isWindows = Deno.build.os === "windows";

/** `node:fs`'s `statfsSync` once loaded (see the module comment). */
let statfsSync: typeof import("node:fs").statfsSync | undefined;
let statfsLoading: Promise<void> | undefined;

/** Mode of every file created: read and write for the owner only. */
export const FILE_MODE = 0o600;
/** Mode of every directory created: the owner only. */
export const DIR_MODE = 0o700;

/**
 * Sets `path`'s permission bits to `mode` when they differ. A file owned by someone else
 * (PermissionDenied) keeps its mode: it is usable as it is, and refusing to open it would help
 * nobody.
 */
function enforceMode(file: Deno.FsFile, path: string, mode: number): void {
  if (isWindows) return; // Windows has ACLs, not modes.
  if (((file.statSync().mode ?? mode) & 0o777) === mode) return;
  try {
    Deno.chmodSync(path, mode);
  } catch (err) {
    if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
  }
}

class RealFile implements File {
  readonly path: string;
  readonly #file: Deno.FsFile;
  #closed = false;

  constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  readAt(buf: Uint8Array, position: number): number {
    const file = this.#file;
    file.seekSync(position, Deno.SeekMode.Start);
    let done = 0;
    while (done < buf.length) {
      const n = file.readSync(done === 0 ? buf : buf.subarray(done));
      if (n === null || n === 0) break;
      done += n;
    }
    return done;
  }

  writeAt(data: Uint8Array, position: number): void {
    const file = this.#file;
    file.seekSync(position, Deno.SeekMode.Start);
    let done = 0;
    while (done < data.length) {
      const n = file.writeSync(done === 0 ? data : data.subarray(done));
      if (n <= 0) {
        throw new IoError(`Cannot write: short write at offset ${position + done} in ${this.path}`);
      }
      done += n;
    }
  }

  syncData(): void {
    this.#file.syncDataSync();
  }

  sync(): void {
    this.#file.syncSync();
  }

  syncAsync(): Promise<void> {
    return this.#file.sync();
  }

  syncDataAsync(): Promise<void> {
    return this.#file.syncData();
  }

  truncate(size: number): void {
    this.#file.truncateSync(size);
  }

  size(): number {
    return this.#file.statSync().size;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }
}

/** The operating system's file system. */
export class RealFs implements FileSystem {
  open(path: string, options: OpenOptions = {}): File {
    const file = Deno.openSync(path, {
      read: true,
      write: options.write ?? false,
      create: options.create ?? false,
      createNew: options.createNew ?? false,
      truncate: options.truncate ?? false,
      mode: FILE_MODE,
    });
    if (options.write && (options.create || options.createNew)) {
      try {
        enforceMode(file, path, FILE_MODE);
      } catch (err) {
        file.close();
        throw err;
      }
    }
    return new RealFile(path, file);
  }

  rename(from: string, to: string): void {
    Deno.renameSync(from, to);
  }

  remove(path: string): void {
    Deno.removeSync(path);
  }

  readDir(dir: string): string[] {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  }

  mkdirp(dir: string): void {
    // The directories this call creates are ours to set; the parents that existed keep
    // their modes.
    const missing: string[] = [];
    for (let p = dir.replace(/\/+$/, "") || "/";; p = parentOf(p)) {
      if (this.stat(p) !== undefined) break;
      missing.push(p);
      if (parentOf(p) === p) break;
    }
    Deno.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    if (isWindows) return;
    for (const p of missing) {
      if (((Deno.statSync(p).mode ?? DIR_MODE) & 0o777) !== DIR_MODE) Deno.chmodSync(p, DIR_MODE);
    }
  }

  stat(path: string): FileInfo | undefined {
    try {
      const s = Deno.statSync(path);
      return { isFile: s.isFile, isDirectory: s.isDirectory, size: s.size };
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
  }

  syncDir(dir: string): void {
    // Windows cannot open a directory for fsync; NTFS journals its metadata instead.
    if (isWindows) return;
    const file = Deno.openSync(dir, { read: true });
    try {
      file.syncSync();
    } finally {
      file.close();
    }
  }

  async syncDirAsync(dir: string): Promise<void> {
    if (isWindows) return;
    const file = await Deno.open(dir, { read: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
  }

  availableBytes(path: string): number | undefined {
    if (statfsSync === undefined) {
      statfsLoading ??= import("node:fs").then((fs) => {
        statfsSync = fs.statfsSync;
      }, () => {});
      return undefined;
    }
    try {
      const s = statfsSync(path);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return undefined;
    }
  }

  lock(path: string): DirLock {
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: FILE_MODE });
    try {
      enforceMode(file, path, FILE_MODE);
      // flock is per open file description, so a second open in this process conflicts too.
      if (!file.tryLockSync(true)) {
        throw new LockedError(
          `Cannot open database: ${path} is locked by another process (only one process may open a data directory)`,
        );
      }
    } catch (err) {
      file.close();
      throw err;
    }
    return {
      release() {
        try {
          file.unlockSync();
        } finally {
          file.close();
        }
      },
    };
  }
}

/** The directory holding `path` (`/` for `/`). */
function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  if (i <= 0) return i === 0 ? "/" : ".";
  return path.slice(0, i);
}
