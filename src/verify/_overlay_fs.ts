/**
 * `OverlayFs`: a copy-on-write view of another file system that never changes it. Reads come
 * from the base until a file is written, renamed or removed; from then on that path lives in
 * memory. `verify` runs `Database.open` on it to learn exactly what open would do with a
 * directory (cut a torn WAL tail, fall back to `MANIFEST.prev`, refuse) without doing it.
 *
 * Syncs do nothing (nothing reaches the base), and `lock` takes nothing: the caller holds the
 * real directory lock for as long as it reads.
 *
 * @module
 */

import type { DirLock, File, FileInfo, FileSystem, OpenOptions } from "../fs/mod.ts";

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function normalize(path: string): string {
  return path.replace(/\/+/g, "/").replace(/\/$/, "") || "/";
}

/** An in-memory file of the overlay. */
class MemFile implements File {
  readonly path: string;
  #node: { data: Uint8Array; size: number };
  #writable: boolean;

  constructor(path: string, node: { data: Uint8Array; size: number }, writable: boolean) {
    this.path = path;
    this.#node = node;
    this.#writable = writable;
  }

  readAt(buf: Uint8Array, position: number): number {
    const node = this.#node;
    if (position >= node.size) return 0;
    const n = Math.min(buf.length, node.size - position);
    buf.set(node.data.subarray(position, position + n));
    return n;
  }

  writeAt(data: Uint8Array, position: number): void {
    if (!this.#writable) throw new Deno.errors.PermissionDenied(`Read-only: ${this.path}`);
    const end = position + data.length;
    this.#grow(end);
    this.#node.data.set(data, position);
    if (end > this.#node.size) this.#node.size = end;
  }

  syncData(): void {}
  sync(): void {}
  syncAsync(): Promise<void> {
    return Promise.resolve();
  }

  syncDataAsync(): Promise<void> {
    return Promise.resolve();
  }

  truncate(size: number): void {
    this.#grow(size);
    if (size < this.#node.size) this.#node.data.fill(0, size, this.#node.size);
    this.#node.size = size;
  }

  size(): number {
    return this.#node.size;
  }

  close(): void {}

  #grow(size: number): void {
    const node = this.#node;
    if (size <= node.data.length) return;
    const grown = new Uint8Array(Math.max(size, node.data.length * 2, 64));
    grown.set(node.data.subarray(0, node.size));
    node.data = grown;
  }
}

/** A copy-on-write overlay over `base` (see the module comment). */
export class OverlayFs implements FileSystem {
  readonly #base: FileSystem;
  /** Paths written in the overlay; `null` = removed. */
  readonly #files = new Map<string, { data: Uint8Array; size: number } | null>();
  readonly #dirs = new Set<string>();

  /** An overlay over `base`; nothing is ever written to `base`. */
  constructor(base: FileSystem) {
    this.#base = base;
  }

  #copyUp(path: string): { data: Uint8Array; size: number } | undefined {
    const known = this.#files.get(path);
    if (known !== undefined) return known ?? undefined;
    if (!this.#base.stat(path)?.isFile) return undefined;
    const file = this.#base.open(path);
    try {
      const size = file.size();
      const data = new Uint8Array(size);
      let done = 0;
      while (done < size) {
        const n = file.readAt(data.subarray(done), done);
        if (n <= 0) break;
        done += n;
      }
      const node = { data, size: done };
      this.#files.set(path, node);
      return node;
    } finally {
      file.close();
    }
  }

  open(path: string, options: OpenOptions = {}): File {
    path = normalize(path);
    const writable = options.write ?? false;
    const known = this.#files.get(path);
    if (!writable && !options.create && !options.createNew && known === undefined) {
      return this.#base.open(path);
    }
    let node = this.#copyUp(path);
    if (node && options.createNew) throw new Deno.errors.AlreadyExists(`File exists: ${path}`);
    if (!node) {
      if (!options.create && !options.createNew) {
        throw new Deno.errors.NotFound(`No such file: ${path}`);
      }
      node = { data: new Uint8Array(0), size: 0 };
      this.#files.set(path, node);
    }
    if (options.truncate) node.size = 0;
    return new MemFile(path, node, writable);
  }

  rename(from: string, to: string): void {
    from = normalize(from);
    to = normalize(to);
    const node = this.#copyUp(from);
    if (!node) throw new Deno.errors.NotFound(`No such file: ${from}`);
    this.#files.set(to, node);
    this.#files.set(from, null);
  }

  remove(path: string): void {
    path = normalize(path);
    if (!this.stat(path)) throw new Deno.errors.NotFound(`No such file: ${path}`);
    this.#files.set(path, null);
  }

  readDir(dir: string): string[] {
    dir = normalize(dir);
    const names = new Set(this.#base.stat(dir)?.isDirectory ? this.#base.readDir(dir) : []);
    for (const [path, node] of this.#files) {
      if (dirOf(path) !== dir) continue;
      const name = path.slice(dir.length + 1);
      if (node === null) names.delete(name);
      else names.add(name);
    }
    for (const d of this.#dirs) if (dirOf(d) === dir) names.add(d.slice(dir.length + 1));
    return [...names].sort();
  }

  mkdirp(dir: string): void {
    dir = normalize(dir);
    if (!this.#base.stat(dir)?.isDirectory) this.#dirs.add(dir);
  }

  stat(path: string): FileInfo | undefined {
    path = normalize(path);
    const node = this.#files.get(path);
    if (node === null) return undefined;
    if (node) return { isFile: true, isDirectory: false, size: node.size };
    if (this.#dirs.has(path)) return { isFile: false, isDirectory: true, size: 0 };
    return this.#base.stat(path);
  }

  syncDir(_dir: string): void {}

  syncDirAsync(_dir: string): Promise<void> {
    return Promise.resolve();
  }

  lock(_path: string): DirLock {
    return { release() {} };
  }
}
