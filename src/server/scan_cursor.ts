/**
 * SCAN cursors. ARCHITECTURE.md § "SCAN cursor" has the format.
 *
 * A cursor is the ASCII decimal of an id (1 ... 2^53 - 1) into a bounded server-side table that
 * maps it to the last key the previous call examined; `0` starts and ends an iteration. The
 * next call resumes strictly after that key (`start = lastKey || 0x00`), so an iteration is
 * complete (every key present from start to end is returned) and free of duplicates whatever
 * is written meanwhile, because keys come back in byte order. Numeric ids keep `redis-cli
 * --scan` and clients that parse the cursor as a number working.
 *
 * Invariants: ids only grow; the table holds at most `SCAN_CURSORS_MAX` entries and
 * `SCAN_CURSOR_TABLE_BYTES_MAX` key bytes, evicting the oldest; an evicted or unknown id is
 * `ERR invalid cursor`.
 *
 * @module
 */

/** Most cursors remembered at once. */
export const SCAN_CURSORS_MAX = 65_536;
/** Most key bytes remembered at once. */
export const SCAN_CURSOR_TABLE_BYTES_MAX = 64 * 1024 * 1024;

/** A bounded FIFO table from cursor id to the last key returned. */
export class ScanCursorTable {
  #entries = new Map<number, Uint8Array>();
  #bytes = 0;
  #nextId = 1;
  readonly #entriesMax: number;
  readonly #bytesMax: number;

  /** Creates a table with the given bounds. */
  constructor(entriesMax = SCAN_CURSORS_MAX, bytesMax = SCAN_CURSOR_TABLE_BYTES_MAX) {
    this.#entriesMax = entriesMax;
    this.#bytesMax = bytesMax;
  }

  /** Number of live cursors. */
  get size(): number {
    return this.#entries.size;
  }

  /** Remembers `lastKey` and returns its cursor string. */
  save(lastKey: Uint8Array): string {
    const id = this.#nextId++;
    this.#entries.set(id, lastKey);
    this.#bytes += lastKey.length;
    while (this.#entries.size > this.#entriesMax || this.#bytes > this.#bytesMax) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#bytes -= this.#entries.get(oldest.value)!.length;
      this.#entries.delete(oldest.value);
    }
    return String(id);
  }

  /**
   * The last key of `cursor`; `null` for `"0"` (start); `undefined` when the cursor is not
   * valid (malformed, unknown or evicted).
   */
  load(cursor: string): Uint8Array | null | undefined {
    // Redis reads the cursor with strtoul: an empty one is 0, a new iteration.
    if (cursor === "0" || cursor === "") return null;
    if (!/^[1-9][0-9]{0,15}$/.test(cursor)) return undefined;
    return this.#entries.get(Number(cursor));
  }

  /** Forgets every cursor (FLUSHDB keeps them valid: they are positions, not snapshots). */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
