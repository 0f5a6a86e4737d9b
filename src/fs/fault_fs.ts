/**
 * `FaultFs`: an in-memory `FileSystem` for tests that fails on request and loses power.
 *
 * It keeps two states: what the process sees (volatile) and what a disk would still hold after
 * power loss (durable). `File.sync`/`syncData` make a file's bytes durable; `syncDir` makes the
 * directory entries under a directory durable (creates, renames, removes). `powerLoss()` throws
 * away everything else: bytes not fsynced, and files created, renamed or removed since the last
 * `syncDir` of their directory. With a random source it may instead keep a random prefix of the
 * unsynced writes, the last one torn, which is what a real disk can do; with `outOfOrder` it
 * keeps a random subset of the 512-byte sectors of the unsynced writes, so that a later page
 * of one write can survive while an earlier one is lost (disks and file systems persist dirty
 * pages in any order).
 *
 * Fault injection: `failAfter({ write: n })` makes the n-th following write throw an
 * `IoError` (likewise `sync`, `rename`); `failAll` keeps every later call of that kind failing.
 * `capacityBytes` makes it a small disk: a write that would grow the files past it writes what
 * fits and throws an error with code `ENOSPC`, as the operating system does.
 *
 * @module
 */

import { IoError, LockedError } from "../errors.ts";
import type { DirLock, File, FileInfo, FileSystem, OpenOptions } from "./mod.ts";

interface Inode {
  /** What reads see. */
  data: Uint8Array;
  size: number;
  /** What survives power loss. */
  durable: Uint8Array;
  /** Bytes of `durable` in use (it grows by doubling). */
  durableSize: number;
  /** Writes since the last sync, oldest first, for torn-write simulation. */
  pending: { position: number; data: Uint8Array }[];
  /** True when a truncate happened since the last sync (pending replay starts from durable). */
  generation: number;
}

/** Which operation kinds can be made to fail. */
export type FaultKind = "write" | "sync" | "rename";

/** Options of `FaultFs.powerLoss`. */
export interface PowerLossOptions {
  /**
   * Keep a random subset of the unsynced writes' 512-byte sectors (each with a probability
   * drawn per file) instead of a prefix of the writes.
   */
  outOfOrder?: boolean;
}

/** Bytes a disk writes atomically in the out-of-order power-loss model. */
const SECTOR_BYTES = 512;

/** The error a full disk gives, shaped like Node's (`code` is what callers test). */
function noSpaceError(path: string): Error {
  return Object.assign(new Error(`No space left on device (os error 28): ${path}`), {
    code: "ENOSPC",
  });
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function normalize(path: string): string {
  return path.replace(/\/+/g, "/").replace(/\/$/, "") || "/";
}

class FaultFile implements File {
  readonly path: string;
  #fs: FaultFs;
  #inode: Inode;
  #epoch: number;
  #writable: boolean;
  #closed = false;

  constructor(
    fs: FaultFs,
    path: string,
    inode: Inode,
    writable: boolean,
    epoch: number,
  ) {
    this.#fs = fs;
    this.path = path;
    this.#inode = inode;
    this.#writable = writable;
    this.#epoch = epoch;
  }

  #check(): void {
    if (this.#closed) {
      throw new IoError(`Cannot use file: closed: ${this.path}`);
    }
    if (this.#epoch !== this.#fs.epoch) {
      throw new IoError(
        `Cannot use file: handle died in a simulated power loss: ${this.path}`,
      );
    }
  }

  readAt(buf: Uint8Array, position: number): number {
    this.#check();
    const inode = this.#inode;
    if (position >= inode.size) return 0;
    const n = Math.min(buf.length, inode.size - position);
    buf.set(inode.data.subarray(position, position + n));
    return n;
  }

  writeAt(data: Uint8Array, position: number): void {
    this.#check();
    if (!this.#writable) {
      throw new IoError(`Cannot write: file opened read-only: ${this.path}`);
    }
    this.#fs.maybeFail("write", this.path);
    const inode = this.#inode;
    const room = this.#fs.roomFor(inode.size, position + data.length);
    // A full disk: what fits is written, then the call fails (a short write, then ENOSPC).
    const fits = room < position + data.length
      ? data.subarray(0, Math.max(0, room - position))
      : data;
    const end = position + fits.length;
    ensureCapacity(inode, end);
    inode.data.set(fits, position);
    if (end > inode.size) inode.size = end;
    if (fits.length > 0) inode.pending.push({ position, data: fits.slice() });
    if (fits !== data) throw noSpaceError(this.path);
  }

  syncData(): void {
    this.sync();
  }

  sync(): void {
    this.#check();
    this.#fs.maybeFail("sync", this.path);
    this.#replay(this.#inode.pending.length);
  }

  /** Makes the oldest `count` pending writes durable. */
  #replay(count: number): void {
    const inode = this.#inode;
    // Replay the pending writes onto the durable image: O(bytes written), not O(file size).
    for (let i = 0; i < count; i++) {
      const w = inode.pending[i]!;
      if (w.position < 0) {
        inode.durable = w.data.slice();
        inode.durableSize = w.data.length;
        continue;
      }
      const end = w.position + w.data.length;
      if (end > inode.durable.length) {
        const grown = new Uint8Array(Math.max(end, inode.durable.length * 2));
        grown.set(inode.durable.subarray(0, inode.durableSize));
        inode.durable = grown;
      }
      inode.durable.set(w.data, w.position);
      if (end > inode.durableSize) inode.durableSize = end;
    }
    inode.pending = count === inode.pending.length ? [] : inode.pending.slice(count);
  }

  syncAsync(): Promise<void> {
    try {
      this.sync();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Like an fdatasync on a thread pool: it completes in a later turn of the event loop, then
   * makes durable the writes made before it started (none of those made meanwhile, which a
   * power loss before it completes may lose), and fails there when a sync fault is due.
   */
  syncDataAsync(): Promise<void> {
    try {
      this.#check();
    } catch (err) {
      return Promise.reject(err);
    }
    const pending = this.#inode.pending;
    const last = pending[pending.length - 1];
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          // Closing the handle meanwhile does not stop it (Deno's does not either); a power
          // loss does.
          if (this.#epoch !== this.#fs.epoch) {
            throw new IoError(`Cannot sync: handle died in a simulated power loss: ${this.path}`);
          }
          this.#fs.maybeFail("sync", this.path);
          // A sync since may have made some or all of them durable already.
          const count = last === undefined ? 0 : this.#inode.pending.indexOf(last) + 1;
          this.#replay(count);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  truncate(size: number): void {
    this.#check();
    const inode = this.#inode;
    if (this.#fs.roomFor(inode.size, size) < size) throw noSpaceError(this.path);
    ensureCapacity(inode, size);
    if (size < inode.size) inode.data.fill(0, size, inode.size);
    inode.size = size;
    // A truncate is metadata: model it as a pending write of the whole new state.
    inode.pending.push({ position: -1, data: inode.data.slice(0, size) });
  }

  size(): number {
    this.#check();
    return this.#inode.size;
  }

  close(): void {
    this.#closed = true;
  }
}

/**
 * Applies `pending` writes onto `data` keeping each 512-byte sector (aligned to file offsets)
 * with one probability drawn for the file; a pending truncate is kept or dropped whole.
 */
function keepSectors(
  data: Uint8Array<ArrayBuffer>,
  pending: readonly { position: number; data: Uint8Array }[],
  random: () => number,
): Uint8Array<ArrayBuffer> {
  const keep = random();
  for (const w of pending) {
    if (w.position < 0) {
      if (random() < keep) data = w.data.slice();
      continue;
    }
    const end = w.position + w.data.length;
    for (let at = w.position; at < end;) {
      const sectorEnd = Math.min(end, (Math.floor(at / SECTOR_BYTES) + 1) * SECTOR_BYTES);
      if (random() < keep) {
        if (sectorEnd > data.length) {
          const grown = new Uint8Array(sectorEnd);
          grown.set(data);
          data = grown;
        }
        data.set(w.data.subarray(at - w.position, sectorEnd - w.position), at);
      }
      at = sectorEnd;
    }
  }
  return data;
}

function ensureCapacity(inode: Inode, size: number): void {
  if (size <= inode.data.length) return;
  const grown = new Uint8Array(Math.max(size, inode.data.length * 2, 64));
  grown.set(inode.data.subarray(0, inode.size));
  inode.data = grown;
}

function newInode(): Inode {
  return {
    data: new Uint8Array(0),
    size: 0,
    durable: new Uint8Array(0),
    durableSize: 0,
    pending: [],
    generation: 0,
  };
}

/** An in-memory file system with fault injection and simulated power loss. */
export class FaultFs implements FileSystem {
  /** Increases at each power loss; handles from an older epoch fail. */
  epoch = 0;
  #volatile = new Map<string, Inode>();
  #durable = new Map<string, Inode>();
  #dirs = new Set<string>(["/", "."]);
  #durableDirs = new Set<string>(["/", "."]);
  #locks = new Set<string>();
  #countdown: Partial<Record<FaultKind, number>> = {};
  #failing = new Set<FaultKind>();
  /** Count of calls of each kind so far, to pick fault points. */
  readonly calls: Record<FaultKind, number> = { write: 0, sync: 0, rename: 0 };
  /** Most bytes all files may hold together (undefined: no limit); see `roomFor`. */
  capacityBytes: number | undefined;

  /** Bytes the files hold now (their sizes as processes see them). */
  get usedBytes(): number {
    let used = 0;
    for (const inode of new Set(this.#volatile.values())) used += inode.size;
    return used;
  }

  /** The size a file of `size` bytes may grow to under `capacityBytes` (`wanted` when it fits). */
  roomFor(size: number, wanted: number): number {
    if (this.capacityBytes === undefined || wanted <= size) return wanted;
    return Math.min(wanted, Math.max(size, this.capacityBytes - this.usedBytes + size));
  }

  /** Bytes free under `capacityBytes`, or undefined without a limit. */
  availableBytes(_path: string): number | undefined {
    if (this.capacityBytes === undefined) return undefined;
    return Math.max(0, this.capacityBytes - this.usedBytes);
  }

  /** Makes the n-th (1-based) next call of each given kind fail; with `failAll`, and all after. */
  failAfter(
    counts: Partial<Record<FaultKind, number>>,
    options: { failAll?: boolean } = {},
  ) {
    for (const [kind, n] of Object.entries(counts) as [FaultKind, number][]) {
      this.#countdown[kind] = n;
      if (options.failAll) this.#failing.delete(kind);
      this.#stickyKinds[kind] = options.failAll ?? false;
    }
  }
  #stickyKinds: Partial<Record<FaultKind, boolean>> = {};

  /** Stops all fault injection. */
  heal(): void {
    this.#countdown = {};
    this.#failing.clear();
    this.#stickyKinds = {};
  }

  /** Called by files: throws `IoError` when a fault is due. */
  maybeFail(kind: FaultKind, path: string): void {
    this.calls[kind]++;
    if (this.#failing.has(kind)) {
      throw new IoError(`Injected ${kind} failure: ${path}`);
    }
    const left = this.#countdown[kind];
    if (left === undefined) return;
    if (left <= 1) {
      delete this.#countdown[kind];
      if (this.#stickyKinds[kind]) this.#failing.add(kind);
      throw new IoError(`Injected ${kind} failure: ${path}`);
    }
    this.#countdown[kind] = left - 1;
  }

  /**
   * Simulates the process dying (`kill -9`): its file handles and locks go, but everything it
   * wrote stays visible, synced or not, as the operating system's page cache keeps it.
   */
  processCrash(): void {
    this.epoch++;
    this.#locks.clear();
  }

  /**
   * Simulates power loss: the namespace reverts to the last `syncDir` of each directory and
   * every file to its last sync. With `random` (a function returning [0, 1)), each file keeps a
   * random prefix of its unsynced writes, the last of them cut at a random byte; with
   * `outOfOrder` as well, a random subset of their sectors instead (see the module comment).
   */
  powerLoss(random?: () => number, options: PowerLossOptions = {}): void {
    this.epoch++;
    this.#locks.clear();
    const survivors = new Map<string, Inode>();
    for (const [path, inode] of this.#durable) {
      let data = inode.durable.slice(0, inode.durableSize);
      if (random && options.outOfOrder && inode.pending.length > 0) {
        data = keepSectors(data, inode.pending, random);
      } else if (random && inode.pending.length > 0) {
        const keep = Math.floor(random() * (inode.pending.length + 1));
        for (let i = 0; i < keep; i++) {
          const w = inode.pending[i]!;
          let chunk = w.data;
          if (i === keep - 1) {
            chunk = chunk.subarray(
              0,
              Math.floor(random() * (chunk.length + 1)),
            );
          }
          if (w.position < 0) {
            data = chunk.slice();
            continue;
          }
          const end = w.position + chunk.length;
          if (end > data.length) {
            const grown = new Uint8Array(end);
            grown.set(data);
            data = grown;
          }
          data.set(chunk, w.position);
        }
      }
      const fresh: Inode = {
        ...newInode(),
        data: data.slice(),
        size: data.length,
        durable: data,
        durableSize: data.length,
      };
      survivors.set(path, fresh);
    }
    this.#volatile = new Map(survivors);
    this.#durable = new Map(survivors);
    this.#dirs = new Set(this.#durableDirs);
  }

  open(path: string, options: OpenOptions = {}): File {
    path = normalize(path);
    let inode = this.#volatile.get(path);
    if (inode && options.createNew) {
      throw new Deno.errors.AlreadyExists(`File exists: ${path}`);
    }
    if (!inode) {
      if (!options.create && !options.createNew) {
        throw new Deno.errors.NotFound(`No such file: ${path}`);
      }
      if (!this.#dirs.has(dirOf(path))) {
        throw new Deno.errors.NotFound(`No such directory: ${dirOf(path)}`);
      }
      inode = newInode();
      this.#volatile.set(path, inode);
    }
    if (options.truncate) {
      inode.data = new Uint8Array(0);
      inode.size = 0;
      inode.pending.push({ position: -1, data: new Uint8Array(0) });
    }
    return new FaultFile(this, path, inode, options.write ?? false, this.epoch);
  }

  rename(from: string, to: string): void {
    from = normalize(from);
    to = normalize(to);
    this.maybeFail("rename", from);
    const inode = this.#volatile.get(from);
    if (!inode) throw new Deno.errors.NotFound(`No such file: ${from}`);
    this.#volatile.delete(from);
    this.#volatile.set(to, inode);
  }

  remove(path: string): void {
    path = normalize(path);
    if (!this.#volatile.delete(path)) {
      throw new Deno.errors.NotFound(`No such file: ${path}`);
    }
  }

  readDir(dir: string): string[] {
    dir = normalize(dir);
    if (!this.#dirs.has(dir)) {
      throw new Deno.errors.NotFound(`No such directory: ${dir}`);
    }
    const names: string[] = [];
    for (const path of this.#volatile.keys()) {
      if (dirOf(path) === dir) names.push(path.slice(dir.length + 1));
    }
    for (const d of this.#dirs) {
      if (d !== dir && dirOf(d) === dir) names.push(d.slice(dir.length + 1));
    }
    return names.sort();
  }

  mkdirp(dir: string): void {
    dir = normalize(dir);
    const parts: string[] = [];
    for (let d = dir; !this.#dirs.has(d); d = dirOf(d)) parts.push(d);
    for (const d of parts) {
      this.#dirs.add(d);
      // Directory creation is treated as durable at once; tests aim at files, not mkdir.
      this.#durableDirs.add(d);
    }
  }

  stat(path: string): FileInfo | undefined {
    path = normalize(path);
    const inode = this.#volatile.get(path);
    if (inode) return { isFile: true, isDirectory: false, size: inode.size };
    if (this.#dirs.has(path)) {
      return { isFile: false, isDirectory: true, size: 0 };
    }
    return undefined;
  }

  syncDir(dir: string): void {
    dir = normalize(dir);
    this.maybeFail("sync", dir);
    for (const path of [...this.#durable.keys()]) {
      if (dirOf(path) === dir && !this.#volatile.has(path)) {
        this.#durable.delete(path);
      }
    }
    for (const [path, inode] of this.#volatile) {
      if (dirOf(path) === dir) this.#durable.set(path, inode);
    }
  }

  syncDirAsync(dir: string): Promise<void> {
    try {
      this.syncDir(dir);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  lock(path: string): DirLock {
    path = normalize(path);
    if (this.#locks.has(path)) {
      throw new LockedError(
        `Cannot open database: ${path} is locked by another process (only one process may open a data directory)`,
      );
    }
    this.#locks.add(path);
    const epoch = this.epoch;
    return {
      release: () => {
        if (epoch === this.epoch) this.#locks.delete(path);
      },
    };
  }
}
