/**
 * `RealFs`: the `FileSystem` interface on the operating system. Data calls go through
 * `node:fs` positional `pread`/`pwrite` (no shared cursor between concurrent readers) and
 * `fdatasync`/`fsync`; the directory lock uses `flock` through `Deno.FsFile.lockSync`.
 *
 * Modes: every file it creates is 0600 and every directory 0700 (owner only), whatever the
 * process umask. The data is the owner's business alone: another local user must not read a
 * key or a value. The mode is given on create, and set again with
 * `fchmod`/`chmod` when the umask took owner bits away (a umask like 0277); files left 0644
 * by an older version are tightened when the engine opens them for writing.
 *
 * @module
 */

import * as nodeFs from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { IoError, LockedError } from "../errors.ts";
import type { DirLock, File, FileInfo, FileSystem, OpenOptions } from "./mod.ts";

const isWindows = Deno.build.os === "windows";

/** Mode of every file created: read and write for the owner only. */
export const FILE_MODE = 0o600;
/** Mode of every directory created: the owner only. */
export const DIR_MODE = 0o700;

/**
 * Sets `fd`'s permission bits to `mode` when they differ. A file owned by someone else (EPERM)
 * keeps its mode: it is usable as it is, and refusing to open it would help nobody.
 */
function enforceMode(fd: number, mode: number): void {
  if (isWindows) return; // Windows has ACLs, not modes; node's fchmod only toggles read-only.
  if ((nodeFs.fstatSync(fd).mode & 0o777) === mode) return;
  try {
    nodeFs.fchmodSync(fd, mode);
  } catch (err) {
    if ((err as { code?: string }).code !== "EPERM") throw err;
  }
}

class RealFile implements File {
  readonly path: string;
  #fd: number;
  #closed = false;

  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  readAt(buf: Uint8Array, position: number): number {
    return nodeFs.readSync(this.#fd, buf, 0, buf.length, position);
  }

  writeAt(data: Uint8Array, position: number): void {
    let done = 0;
    while (done < data.length) {
      const n = nodeFs.writeSync(
        this.#fd,
        data,
        done,
        data.length - done,
        position + done,
      );
      if (n <= 0) {
        throw new IoError(
          `Cannot write: short write at offset ${position} in ${this.path}`,
        );
      }
      done += n;
    }
  }

  syncData(): void {
    nodeFs.fdatasyncSync(this.#fd);
  }

  sync(): void {
    nodeFs.fsyncSync(this.#fd);
  }

  syncAsync(): Promise<void> {
    return new Promise((resolve, reject) => {
      nodeFs.fsync(this.#fd, (err) => err ? reject(err) : resolve());
    });
  }

  truncate(size: number): void {
    nodeFs.ftruncateSync(this.#fd, size);
  }

  size(): number {
    return nodeFs.fstatSync(this.#fd).size;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    nodeFs.closeSync(this.#fd);
  }
}

function translate(err: unknown, path: string): never {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") {
    throw new Deno.errors.NotFound(`No such file: ${path}`);
  }
  if (code === "EEXIST") {
    throw new Deno.errors.AlreadyExists(`File exists: ${path}`);
  }
  throw err;
}

/** The operating system's file system. */
export class RealFs implements FileSystem {
  open(path: string, options: OpenOptions = {}): File {
    let flags = options.write ? nodeFs.constants.O_RDWR : nodeFs.constants.O_RDONLY;
    if (options.create || options.createNew) flags |= nodeFs.constants.O_CREAT;
    if (options.createNew) flags |= nodeFs.constants.O_EXCL;
    if (options.truncate) flags |= nodeFs.constants.O_TRUNC;
    let fd: number;
    try {
      fd = nodeFs.openSync(path, flags, FILE_MODE);
    } catch (err) {
      translate(err, path);
    }
    if (options.write && (options.create || options.createNew)) {
      try {
        enforceMode(fd, FILE_MODE);
      } catch (err) {
        nodeFs.closeSync(fd);
        throw err;
      }
    }
    return new RealFile(path, fd);
  }

  rename(from: string, to: string): void {
    try {
      nodeFs.renameSync(from, to);
    } catch (err) {
      translate(err, from);
    }
  }

  remove(path: string): void {
    try {
      nodeFs.unlinkSync(path);
    } catch (err) {
      translate(err, path);
    }
  }

  readDir(dir: string): string[] {
    try {
      return nodeFs.readdirSync(dir);
    } catch (err) {
      translate(err, dir);
    }
  }

  mkdirp(dir: string): void {
    // The first directory created (undefined when `dir` existed): it and the ones below it
    // are ours to set; the parents that existed keep their modes.
    const first = nodeFs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    if (first === undefined || isWindows) return;
    const created: string[] = [];
    for (let p = resolvePath(dir); p.length >= first.length; p = dirname(p)) {
      created.push(p);
      if (p === dirname(p)) break;
    }
    for (const p of created) {
      if ((nodeFs.statSync(p).mode & 0o777) !== DIR_MODE) nodeFs.chmodSync(p, DIR_MODE);
    }
  }

  stat(path: string): FileInfo | undefined {
    try {
      const s = nodeFs.statSync(path);
      return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size };
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return undefined;
      throw err;
    }
  }

  syncDir(dir: string): void {
    // Windows cannot open a directory for fsync; NTFS journals its metadata instead.
    if (isWindows) return;
    const fd = nodeFs.openSync(dir, nodeFs.constants.O_RDONLY);
    try {
      nodeFs.fsyncSync(fd);
    } finally {
      nodeFs.closeSync(fd);
    }
  }

  syncDirAsync(dir: string): Promise<void> {
    if (isWindows) return Promise.resolve();
    return new Promise((resolve, reject) => {
      nodeFs.open(dir, nodeFs.constants.O_RDONLY, (err, fd) => {
        if (err) return reject(err);
        nodeFs.fsync(fd, (syncErr) => {
          nodeFs.close(fd, () => syncErr ? reject(syncErr) : resolve());
        });
      });
    });
  }

  availableBytes(path: string): number | undefined {
    try {
      const s = nodeFs.statfsSync(path);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return undefined;
    }
  }

  lock(path: string): DirLock {
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: FILE_MODE });
    try {
      if (!isWindows && (file.statSync().mode! & 0o777) !== FILE_MODE) {
        try {
          Deno.chmodSync(path, FILE_MODE);
        } catch (err) {
          // Owned by someone else: usable as it is (see enforceMode).
          if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
        }
      }
      // flock is per open file description, so a second open in this process conflicts too.
      if (!tryLock(file)) {
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

function tryLock(file: Deno.FsFile): boolean {
  // flock(LOCK_EX | LOCK_NB): false when another open file description holds it.
  return file.tryLockSync(true);
}
