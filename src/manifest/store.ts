/**
 * The two manifest copies, `MANIFEST` and `MANIFEST.prev`, and how they are written and read
 * back. ARCHITECTURE.md § "Manifest" documents the file set, the order of writes, fsyncs and
 * renames, and what a crash at every step leaves.
 *
 * `MANIFEST` holds the current state N; `MANIFEST.prev` holds the state before it (N - 1), or
 * the same state N. A save of state N + 1 runs:
 *
 * 1. write `MANIFEST.prev.tmp` <- N, fsync it;
 * 2. rename `MANIFEST.prev.tmp` -> `MANIFEST.prev`, fsync the directory;
 * 3. write `MANIFEST.tmp` <- N + 1, fsync it;
 * 4. rename `MANIFEST.tmp` -> `MANIFEST`, fsync the directory.
 *
 * Invariants:
 * - Both files, once they exist, always hold a complete, checksummed state (atomic renames).
 * - `MANIFEST.prev` is never newer than `MANIFEST` and at most one save older: the directory
 *   fsync of step 2 orders its rename before the rename of step 4.
 * - The engine keeps everything `MANIFEST.prev` needs: the tables it lists are deleted only
 *   after the save that makes it list other tables, and the WAL keeps every record above the
 *   lower of the two `flushedSeq`s (`retainAfterSeq`). So when `MANIFEST` is damaged, the
 *   previous copy plus the WAL still hold every acknowledged write.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import {
  type FileSystem,
  joinPath,
  readWholeFile,
  writeFileAtomic,
  writeFileAtomicAsync,
} from "../fs/mod.ts";
import { MANIFEST_SIZE_BYTES_MAX } from "../limits.ts";
import { decodeManifest, encodeManifest, MANIFEST_FILE_NAME, type ManifestState } from "./mod.ts";

/** File name of the previous manifest copy inside the data directory. */
export const MANIFEST_PREVIOUS_FILE_NAME = "MANIFEST.prev";
/** Where `open` keeps the bytes of a damaged `MANIFEST` it replaced from the previous copy. */
export const MANIFEST_DAMAGED_FILE_NAME = "MANIFEST.damaged";

/** What reading one manifest file gave. */
export type ManifestRead =
  | { status: "ok"; state: ManifestState; bytes: Uint8Array }
  | { status: "missing" }
  | { status: "bad"; error: CorruptionError; bytes?: Uint8Array };

/** Reads and decodes one manifest file; never throws on bad content (returns "bad"). */
export function readManifestFile(fs: FileSystem, path: string): ManifestRead {
  const info = fs.stat(path);
  if (!info) return { status: "missing" };
  if (info.size > MANIFEST_SIZE_BYTES_MAX) {
    return {
      status: "bad",
      error: new CorruptionError(
        `Cannot read manifest: ${info.size} bytes exceeds the limit of ${MANIFEST_SIZE_BYTES_MAX} at offset 0 in ${path}`,
      ),
    };
  }
  const bytes = readWholeFile(fs, path);
  try {
    return { status: "ok", state: decodeManifest(bytes, path), bytes };
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    return { status: "bad", error: err, bytes };
  }
}

/** Both copies as read at open, and which one the database opens from. */
export interface LoadedManifests {
  /** The state to open from. */
  state: ManifestState;
  /** `current` = `MANIFEST`; `previous` = `MANIFEST.prev`, because `MANIFEST` is unusable. */
  source: "current" | "previous";
  /** The previous copy's state when `source` is "current" and it decodes. */
  previous?: ManifestState;
  /** Why `MANIFEST` was not used (`source` "previous"), naming the file and offset. */
  currentProblem?: string;
  /** The damaged `MANIFEST` bytes, kept as `MANIFEST.damaged` when the database opens. */
  currentBytes?: Uint8Array;
  /** Why `MANIFEST.prev` cannot serve as a fallback (damaged or missing); informational. */
  previousProblem?: string;
}

/**
 * Reads `MANIFEST` and `MANIFEST.prev` in `dir`. Returns `undefined` when neither exists (a
 * new database). Picks `MANIFEST` when it decodes, else `MANIFEST.prev` (the caller must still
 * check that everything that copy names is present: `source` says so). Throws
 * `CorruptionError` naming both files when neither decodes.
 */
export function loadManifests(fs: FileSystem, dir: string): LoadedManifests | undefined {
  const currentPath = joinPath(dir, MANIFEST_FILE_NAME);
  const previousPath = joinPath(dir, MANIFEST_PREVIOUS_FILE_NAME);
  const current = readManifestFile(fs, currentPath);
  const previous = readManifestFile(fs, previousPath);
  const problem = (read: ManifestRead, path: string) =>
    read.status === "bad"
      ? read.error.message
      : read.status === "missing"
      ? `${path} is missing`
      : "";
  if (current.status === "ok") {
    const loaded: LoadedManifests = { state: current.state, source: "current" };
    if (previous.status === "ok") loaded.previous = previous.state;
    else loaded.previousProblem = problem(previous, previousPath);
    return loaded;
  }
  if (previous.status === "ok") {
    const loaded: LoadedManifests = {
      state: previous.state,
      source: "previous",
      currentProblem: problem(current, currentPath),
    };
    if (current.status === "bad" && current.bytes) loaded.currentBytes = current.bytes;
    return loaded;
  }
  if (current.status === "missing" && previous.status === "missing") return undefined;
  throw new CorruptionError(
    `Cannot open database: neither manifest copy is usable: ${problem(current, currentPath)}; ${
      problem(previous, previousPath)
    }`,
  );
}

/** Options of `ManifestStore.save`. */
export interface SaveOptions {
  /**
   * Write the new state into both copies: the state before it can no longer serve as a
   * fallback (a snapshot install restarts the WAL, a repair replaces a damaged copy).
   */
  resetPrevious?: boolean;
}

/**
 * The writer of both copies. It knows the durable current state and the state in
 * `MANIFEST.prev`, so that the engine can keep what the previous copy needs.
 */
export class ManifestStore {
  readonly #fs: FileSystem;
  readonly #dir: string;
  #current: ManifestState | undefined;
  #previous: ManifestState | undefined;

  /**
   * A store for `dir` whose durable copies hold `current` and `previous` (`undefined` when
   * unknown: missing or damaged; the next save rewrites it).
   */
  constructor(
    fs: FileSystem,
    dir: string,
    current?: ManifestState,
    previous?: ManifestState,
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.#current = current;
    this.#previous = previous;
  }

  /** The state in `MANIFEST`, once one was loaded or saved. */
  get current(): ManifestState | undefined {
    return this.#current;
  }

  /** The state in `MANIFEST.prev`, when known. */
  get previous(): ManifestState | undefined {
    return this.#previous;
  }

  /**
   * The WAL must keep every record above this sequence: the lower `flushedSeq` of the two
   * copies, so that opening from either loses nothing.
   */
  get retainAfterSeq(): number {
    const current = this.#current?.flushedSeq ?? 0;
    return Math.min(current, this.#previous?.flushedSeq ?? current);
  }

  /** Durably makes `state` the current manifest (steps 1-4 of the module comment). */
  save(state: ManifestState, options: SaveOptions = {}): void {
    const { previous, previousBytes, currentBytes } = this.#encode(state, options);
    const fs = this.#fs;
    const dir = this.#dir;
    // The previous copy first, directory fsync included: its rename must be durable before
    // MANIFEST moves on, or a crash could leave MANIFEST.prev two states behind.
    writeFileAtomic(fs, dir, MANIFEST_PREVIOUS_FILE_NAME, previousBytes);
    writeFileAtomic(fs, dir, MANIFEST_FILE_NAME, currentBytes);
    this.#previous = previous;
    this.#current = state;
  }

  /** `save` with its fsyncs off the event loop. */
  async saveAsync(state: ManifestState, options: SaveOptions = {}): Promise<void> {
    const { previous, previousBytes, currentBytes } = this.#encode(state, options);
    await writeFileAtomicAsync(this.#fs, this.#dir, MANIFEST_PREVIOUS_FILE_NAME, previousBytes);
    await writeFileAtomicAsync(this.#fs, this.#dir, MANIFEST_FILE_NAME, currentBytes);
    this.#previous = previous;
    this.#current = state;
  }

  #encode(state: ManifestState, options: SaveOptions) {
    const previous = options.resetPrevious || this.#current === undefined ? state : this.#current;
    const currentBytes = encodeManifest(state);
    const previousBytes = previous === state ? currentBytes : encodeManifest(previous);
    return { previous, previousBytes, currentBytes };
  }
}
