/**
 * `salvageDirectory`: exports every live key/value that can still be read from a data
 * directory, however damaged, without writing to it (ARCHITECTURE.md § "Verify and
 * salvage"). It reads the directory with `readDirectory` (src/verify/), then merges by
 * sequence number, newest version of each key first, across:
 *
 * - the intact data blocks of the tables the usable manifest copies list (both copies: the
 *   previous copy's tables are complete for its state, and a compaction's output never holds a
 *   version its inputs lack, so the union cannot bring back a deleted key); every table on
 *   disk when neither copy decodes;
 * - every intact WAL record above the lower `flushedSeq` of those copies (every record when
 *   neither decodes). Older records are already in the tables, or were compacted away with a
 *   newer tombstone: replaying them could bring a deleted key back.
 *
 * Tombstones and entries expired at `nowMs` are dropped; what remains goes to the export in
 * key order. What is damaged is skipped and reported. Limits of the method: a key whose
 * newest version was in a damaged block comes back at its newest surviving older version, or
 * not at all (a deleted key whose tombstone was lost can reappear); the findings name the key
 * range of every lost block the index could place.
 *
 * @module
 */

import { type File, type FileSystem, joinPath } from "../fs/mod.ts";
import { MergeIterator } from "../compaction/merge_iterator.ts";
import {
  MANIFEST_FILE_NAME,
  MANIFEST_PREVIOUS_FILE_NAME,
  readManifestFile,
} from "../manifest/mod.ts";
import {
  Block,
  BLOCK_TRAILER_SIZE_BYTES,
  decodeStoredBlock,
  TableIterator,
} from "../sstable/mod.ts";
import { compareBytes } from "../util/bytes.ts";
import { type Entry, type EntryIterator, isDeadAt, KIND_DELETE } from "../util/entry.ts";
import type { DataBlockSummary, TableScan } from "../verify/table_scan.ts";
import { type DirectoryRead, readDirectory } from "../verify/verify.ts";
import type { ExportTotals, ExportWriter } from "./export_format.ts";

/** Options of `salvageDirectory`. */
export interface SalvageOptions {
  /** Entries that expired at this Unix time are dropped; default now. */
  nowMs?: number;
}

/** What a salvage read and wrote. */
export interface SalvageSummary {
  /** The directory as read (findings included). */
  read: DirectoryRead;
  /** Which manifest copies defined the sources: names, or none. */
  manifestsUsed: string[];
  /** Tables read. */
  tables: number;
  /** Data blocks whose entries were used. */
  dataBlocksGood: number;
  /** Data blocks found but damaged (their entries lost). */
  dataBlocksDamaged: number;
  /** Intact WAL records read. */
  walRecords: number;
  /** WAL ops used (above the tables' flushedSeq). */
  walOpsUsed: number;
  /** Entries read from every source (all versions). */
  entriesRead: number;
  /** Keys whose newest version is a tombstone. */
  deleted: number;
  /** Keys whose newest version had expired. */
  expired: number;
  /** What went into the export. */
  exported: ExportTotals;
}

/** Newest entry per key of the WAL records above `afterSeq`, sorted into an iterator. */
class WalEntries {
  readonly #newest = new Map<string, Entry>();
  ops = 0;

  constructor(readonly afterSeq: number) {}

  add(_seq: number, entries: Entry[]): void {
    for (const e of entries) {
      if (e.seq <= this.afterSeq) continue;
      this.ops++;
      // Records arrive in file order, which is sequence order unless a segment is damaged.
      const id = latin1(e.key);
      const known = this.#newest.get(id);
      if (known === undefined || known.seq < e.seq) this.#newest.set(id, e);
    }
  }

  iterator(): EntryIterator {
    const sorted = [...this.#newest.values()].sort((a, b) => compareBytes(a.key, b.key));
    return new ArrayIterator(sorted);
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** An `EntryIterator` over entries sorted by key, one per key. */
class ArrayIterator implements EntryIterator {
  #i = -1;
  constructor(readonly entries: Entry[]) {}
  valid(): boolean {
    return this.#i >= 0 && this.#i < this.entries.length;
  }
  entry(): Entry {
    return this.entries[this.#i]!;
  }
  seekToFirst(): void {
    this.#i = 0;
  }
  seekToLast(): void {
    this.#i = this.entries.length - 1;
  }
  seek(target: Uint8Array): void {
    this.#i = this.entries.findIndex((e) => compareBytes(e.key, target) >= 0);
    if (this.#i < 0) this.#i = this.entries.length;
  }
  seekForPrev(target: Uint8Array): void {
    this.#i = this.entries.findLastIndex((e) => compareBytes(e.key, target) <= 0);
  }
  next(): void {
    this.#i++;
  }
  prev(): void {
    this.#i--;
  }
}

/** A forward iterator over the intact data blocks of one scanned table, read lazily. */
function tableEntries(fs: FileSystem, scan: TableScan): { it: EntryIterator; file: File } {
  const file = fs.open(scan.path);
  const blocks: DataBlockSummary[] = scan.blocks;
  const it = new TableIterator({
    count: blocks.length,
    findBlock: (key) => {
      let lo = 0;
      let hi = blocks.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareBytes(blocks[mid]!.lastKey, key) < 0) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    },
    block: (i) => {
      const b = blocks[i]!;
      const stored = new Uint8Array(b.sizeBytes + BLOCK_TRAILER_SIZE_BYTES);
      file.readAt(stored, b.offset);
      // Checked once already by scanTable; decoded again, checks included, from the file.
      const data = decodeStoredBlock(stored, b.offset, scan.path, true);
      return new Block(data, `at offset ${b.offset} in ${scan.path}`);
    },
  });
  return { it, file };
}

/**
 * Reads `dir` and writes every live key/value to `writer` (see the module comment), then
 * finishes the export. Never writes to `dir`.
 */
export function salvageDirectory(
  fs: FileSystem,
  dir: string,
  writer: ExportWriter,
  options: SalvageOptions = {},
): SalvageSummary {
  const nowMs = options.nowMs ?? Date.now();
  // The manifests are read again by readDirectory; reading them first sets the WAL cut-off.
  const probe = readManifestsOnly(fs, dir);
  const wal = new WalEntries(probe.afterSeq);
  const read = readDirectory(fs, dir, { onWalBatch: (seq, entries) => wal.add(seq, entries) });
  const summary: SalvageSummary = {
    read,
    manifestsUsed: probe.used,
    tables: read.tables.size,
    dataBlocksGood: 0,
    dataBlocksDamaged: 0,
    walRecords: read.segments.reduce((s, x) => s + x.records, 0),
    walOpsUsed: wal.ops,
    entriesRead: wal.ops,
    deleted: 0,
    expired: 0,
    exported: { entries: 0, keyValueBytes: 0 },
  };
  const children: EntryIterator[] = [wal.iterator()];
  const files: File[] = [];
  try {
    for (const scan of read.tables.values()) {
      summary.dataBlocksGood += scan.blocks.length;
      summary.dataBlocksDamaged += scan.dataBlocksFound - scan.blocks.length;
      summary.entriesRead += scan.blocks.reduce((s, b) => s + b.entries, 0);
      if (scan.blocks.length === 0) continue;
      const { it, file } = tableEntries(fs, scan);
      files.push(file);
      children.push(it);
    }
    const merged = new MergeIterator(children);
    for (merged.seekToFirst(); merged.valid(); merged.next()) {
      const e = merged.entry();
      if (isDeadAt(e, nowMs)) {
        if (e.kind === KIND_DELETE) summary.deleted++;
        else summary.expired++;
        continue;
      }
      writer.add({ key: e.key, value: e.value, expireAtMs: e.expireAtMs });
    }
  } finally {
    for (const f of files) f.close();
  }
  summary.exported = writer.finish();
  return summary;
}

/** Which copies decode, and the WAL cut-off they give (0 when none decodes). */
function readManifestsOnly(fs: FileSystem, dir: string): { used: string[]; afterSeq: number } {
  const used: string[] = [];
  let afterSeq = Infinity;
  for (const name of [MANIFEST_FILE_NAME, MANIFEST_PREVIOUS_FILE_NAME]) {
    const r = readManifestFile(fs, joinPath(dir, name));
    if (r.status !== "ok") continue;
    used.push(name);
    afterSeq = Math.min(afterSeq, r.state.flushedSeq);
  }
  return { used, afterSeq: used.length > 0 ? afterSeq : 0 };
}
