/**
 * Offline reading and checking of a whole data directory (ARCHITECTURE.md § "Verify and
 * salvage"). `readDirectory` reads both manifest copies, every table they list (every table on
 * disk when neither copy is usable) and every WAL segment, never writing a byte, and reports
 * every damaged part with its file and offset. `verifyDirectory` adds the invariants between
 * the files and what `Database.open` would do with the directory, learned by running it on a
 * copy-on-write overlay (`_overlay_fs.ts`). `cityhall verify` and `cityhall salvage` are built
 * on these.
 *
 * @module
 */

import { Database } from "../engine/database.ts";
import { type FileSystem, joinPath } from "../fs/mod.ts";
import {
  MANIFEST_FILE_NAME,
  MANIFEST_PREVIOUS_FILE_NAME,
  type ManifestRead,
  type ManifestState,
  readManifestFile,
  tableFileName,
} from "../manifest/mod.ts";
import { equalBytes } from "../util/bytes.ts";
import type { Entry } from "../util/entry.ts";
import type { LogLevel } from "../util/log.ts";
import { listSegmentIds, segmentFileName } from "../wal/mod.ts";
import { OverlayFs } from "./_overlay_fs.ts";
import { type Finding, finding, type ValueCheck } from "./findings.ts";
import { scanTable, type TableScan } from "./table_scan.ts";
import { scanSegment, type SegmentScan } from "./wal_scan.ts";

/** Name of the WAL directory inside a data directory. */
export const WAL_DIR_NAME = "wal";
const TABLE_NAME = /^(\d{6,})\.sst$/;

/** What `readDirectory` found. */
export interface DirectoryRead {
  /** The data directory. */
  dir: string;
  /** `MANIFEST` as read. */
  current: ManifestRead;
  /** `MANIFEST.prev` as read. */
  previous: ManifestRead;
  /**
   * The decodable copies the database's content is defined by, current first. Empty when
   * neither decodes: then every table on disk and every WAL record counts.
   */
  manifests: ManifestState[];
  /** Scans of the tables read, by file number. */
  tables: Map<number, TableScan>;
  /** Tables on disk that no usable copy lists (not read when a copy is usable). */
  unlisted: number[];
  /** Scans of the WAL segments, in id order. */
  segments: SegmentScan[];
  /** Every damaged or inconsistent part, in the order found. */
  findings: Finding[];
}

/** Options of `readDirectory`. */
export interface ReadDirectoryOptions {
  /** Called with every intact WAL record's ops, segment by segment, in file order. */
  onWalBatch?: (seq: number, entries: Entry[]) => void;
  /** Checks of values a higher layer can decode (time-series chunks), in tables and the WAL. */
  valueChecks?: readonly ValueCheck[];
}

function manifestFinding(read: ManifestRead, path: string): Finding | undefined {
  if (read.status !== "bad") return undefined;
  const m = / at offset (\d+) in /.exec(read.error.message);
  const size = read.bytes?.length ?? 0;
  return finding("corrupt", path, "manifest", {
    offset: m ? Number(m[1]) : 0,
    sizeBytes: size,
  }, read.error.message);
}

/** Reads everything in `dir` (see the module comment). Never writes; never throws on damage. */
export function readDirectory(
  fs: FileSystem,
  dir: string,
  options: ReadDirectoryOptions = {},
): DirectoryRead {
  const currentPath = joinPath(dir, MANIFEST_FILE_NAME);
  const previousPath = joinPath(dir, MANIFEST_PREVIOUS_FILE_NAME);
  const read: DirectoryRead = {
    dir,
    current: readManifestFile(fs, currentPath),
    previous: readManifestFile(fs, previousPath),
    manifests: [],
    tables: new Map(),
    unlisted: [],
    segments: [],
    findings: [],
  };
  for (
    const [copy, path] of [[read.current, currentPath], [read.previous, previousPath]] as const
  ) {
    const f = manifestFinding(copy, path);
    if (f) read.findings.push(f);
    if (copy.status === "ok") read.manifests.push(copy.state);
  }
  const onDisk: number[] = [];
  for (const name of fs.readDir(dir)) {
    const m = TABLE_NAME.exec(name);
    if (m) onDisk.push(Number(m[1]));
  }
  onDisk.sort((a, b) => a - b);
  const listed = new Set<number>();
  for (const state of read.manifests) for (const t of state.tables) listed.add(t.fileNumber);
  const toRead = read.manifests.length > 0 ? [...listed].sort((a, b) => a - b) : onDisk;
  read.unlisted = read.manifests.length > 0 ? onDisk.filter((n) => !listed.has(n)) : [];
  for (const fileNumber of toRead) {
    const path = joinPath(dir, tableFileName(fileNumber));
    if (!fs.stat(path)) {
      read.findings.push(
        finding(
          "corrupt",
          path,
          "table",
          { offset: 0, sizeBytes: 0 },
          `Cannot open table: ${path} listed in ${describeListing(read, fileNumber)} is missing`,
        ),
      );
      continue;
    }
    const scan = scanTable(fs, path, options.valueChecks);
    read.tables.set(fileNumber, scan);
    read.findings.push(...scan.findings);
  }
  for (const n of read.unlisted) {
    const path = joinPath(dir, tableFileName(n));
    read.findings.push(
      finding(
        "warning",
        path,
        "table",
        { offset: 0, sizeBytes: fs.stat(path)?.size ?? 0 },
        `Not listed by either manifest copy, so not read (left by a crashed flush or compaction, or listed only by a damaged copy; open deletes it): ${path}`,
      ),
    );
  }
  const walDir = joinPath(dir, WAL_DIR_NAME);
  const ids = fs.stat(walDir)?.isDirectory ? listSegmentIds(fs, walDir) : [];
  for (const id of ids) {
    const scan = scanSegment(
      fs,
      joinPath(walDir, segmentFileName(id)),
      options.onWalBatch,
      options.valueChecks,
    );
    read.segments.push(scan);
    read.findings.push(...scan.findings);
  }
  // Only the newest segment holding records can end in a torn write (the writer syncs a
  // segment before it writes into the next): damage at the end of any other is corruption.
  const tailIndex = read.segments.findLastIndex((s) => s.records > 0 || s.tail !== undefined);
  read.segments.forEach((s, i) => {
    if (!s.tail) return;
    const torn = i === tailIndex;
    read.findings.push(
      finding(
        torn ? "warning" : "corrupt",
        s.path,
        "WAL record",
        s.tail,
        torn
          ? `Torn write at the end of the newest WAL segment (open cuts it): ${s.tail.reason} at offset ${s.tail.offset} in ${s.path}`
          : `Cannot read WAL record: ${s.tail.reason} at offset ${s.tail.offset} in ${s.path} (a later segment holds records, so this is not a torn write)`,
      ),
    );
  });
  return read;
}

function describeListing(read: DirectoryRead, fileNumber: number): string {
  const inCurrent = read.current.status === "ok" &&
    read.current.state.tables.some((t) => t.fileNumber === fileNumber);
  return inCurrent ? MANIFEST_FILE_NAME : MANIFEST_PREVIOUS_FILE_NAME;
}

/** What `Database.open` would do with the directory, learned on an overlay. */
export interface OpenVerdict {
  /** True when open would succeed. */
  ok: boolean;
  /** Its error message when it would fail. */
  error?: string;
  /** The warnings it would log (a torn tail cut, a fallback to `MANIFEST.prev`, …). */
  warnings: string[];
}

/** What `verifyDirectory` found. */
export interface VerifyReport extends DirectoryRead {
  /** What open would do. */
  open: OpenVerdict;
  /** True when no finding is `corrupt`. */
  clean: boolean;
}

/**
 * `readDirectory` plus the invariants between the files (tables against the manifest that
 * lists them, the WAL against `flushedSeq`, sequences across segments) and the open verdict.
 */
export async function verifyDirectory(
  fs: FileSystem,
  dir: string,
  options: ReadDirectoryOptions = {},
): Promise<VerifyReport> {
  const read = readDirectory(fs, dir, options);
  checkInvariants(read);
  const open = await openVerdict(fs, dir);
  if (!open.ok && !read.findings.some((f) => f.severity === "corrupt")) {
    read.findings.push(
      finding("corrupt", dir, "database", { offset: 0, sizeBytes: 0 }, open.error!),
    );
  }
  return { ...read, open, clean: !read.findings.some((f) => f.severity === "corrupt") };
}

function checkInvariants(read: DirectoryRead): void {
  const { dir, findings } = read;
  const bad = (
    file: string,
    part: "table" | "manifest" | "WAL segment" | "database",
    reason: string,
  ) => findings.push(finding("corrupt", file, part, { offset: 0, sizeBytes: 0 }, reason));
  if (read.current.status === "missing" && read.previous.status === "ok") {
    bad(
      joinPath(dir, MANIFEST_FILE_NAME),
      "manifest",
      `Cannot read manifest: ${joinPath(dir, MANIFEST_FILE_NAME)} is missing`,
    );
  }
  if (read.current.status === "ok" && read.previous.status === "missing") {
    findings.push(
      finding("warning", joinPath(dir, MANIFEST_PREVIOUS_FILE_NAME), "manifest", {
        offset: 0,
        sizeBytes: 0,
      }, `No previous manifest copy (written by an older version; open writes it)`),
    );
  }
  if (read.manifests.length === 0 && (read.tables.size > 0 || read.segments.length > 0)) {
    bad(
      dir,
      "database",
      `Cannot open database: no usable manifest copy in ${dir}, which holds ${read.tables.size} tables and ${read.segments.length} WAL segments`,
    );
  }
  for (
    const [copy, name] of [[read.current, MANIFEST_FILE_NAME], [
      read.previous,
      MANIFEST_PREVIOUS_FILE_NAME,
    ]] as const
  ) {
    if (copy.status !== "ok") continue;
    for (const meta of copy.state.tables) {
      const scan = read.tables.get(meta.fileNumber);
      const path = joinPath(dir, tableFileName(meta.fileNumber));
      if (meta.maxSeq > copy.state.flushedSeq) {
        bad(
          path,
          "table",
          `Cannot open table: ${name} lists it with sequences up to ${meta.maxSeq}, above its flushedSeq ${copy.state.flushedSeq}`,
        );
      }
      if (!scan) continue;
      const p = scan.properties;
      const differs: string[] = [];
      if (scan.fileSizeBytes !== meta.sizeBytes) {
        differs.push(`size ${scan.fileSizeBytes} (recorded ${meta.sizeBytes})`);
      }
      if (p && p.entries !== meta.entries) {
        differs.push(`entries ${p.entries} (recorded ${meta.entries})`);
      }
      if (p && (p.minSeq !== meta.minSeq || p.maxSeq !== meta.maxSeq)) {
        differs.push(
          `sequences ${p.minSeq}..${p.maxSeq} (recorded ${meta.minSeq}..${meta.maxSeq})`,
        );
      }
      if (
        p &&
        (!equalBytes(p.smallestKey, meta.smallestKey) || !equalBytes(p.largestKey, meta.largestKey))
      ) differs.push("key range");
      if (differs.length > 0) {
        bad(
          path,
          "table",
          `Cannot open table: ${path} differs from ${name}: ${differs.join(", ")}`,
        );
      }
    }
  }
  const withRecords = read.segments.filter((s) => s.records > 0);
  for (let i = 1; i < withRecords.length; i++) {
    const before = withRecords[i - 1]!;
    const s = withRecords[i]!;
    if (s.firstSeq !== before.lastSeq + 1) {
      bad(
        s.path,
        "WAL segment",
        `Cannot read WAL record: sequence ${s.firstSeq} where ${
          before.lastSeq + 1
        } was expected (gap or repeat) at offset 32 in ${s.path}`,
      );
    }
  }
  const flushedSeq = Math.min(...read.manifests.map((m) => m.flushedSeq));
  const first = withRecords[0];
  if (first && read.manifests.length > 0 && first.firstSeq > flushedSeq + 1) {
    bad(
      first.path,
      "WAL segment",
      `Cannot read WAL record: first record has sequence ${first.firstSeq} but the tables end at ${flushedSeq} (records are missing) at offset 32 in ${first.path}`,
    );
  }
}

/** Runs `Database.open` and `close` on an overlay of `dir`; nothing reaches the disk. */
async function openVerdict(fs: FileSystem, dir: string): Promise<OpenVerdict> {
  const warnings: string[] = [];
  const logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (level === "warn" || level === "error") {
      warnings.push(`${message}${fields ? ` ${JSON.stringify(fields)}` : ""}`);
    }
  };
  try {
    const db = await Database.open(dir, {
      fs: new OverlayFs(fs),
      logger,
      // Everything recovered stays in memory: no flush, a small fresh segment.
      memtableSizeBytesMax: Number.MAX_SAFE_INTEGER,
      walSegmentSizeBytes: 4096,
      autoCompaction: false,
    });
    await db.close();
    return { ok: true, warnings };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), warnings };
  }
}
