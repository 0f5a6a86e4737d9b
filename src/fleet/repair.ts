/**
 * `cityhall verify --repair` (ARCHITECTURE.md § "Repair"): a damaged table listed in the
 * manifest is moved aside to `<dir>/damaged/` only when its data can be had again from
 * elsewhere; anything else is left as it is and reported.
 *
 * Two sources:
 *
 * - **The WAL.** When the intact WAL holds every record from the table's smallest sequence up
 *   to the manifest's `flushedSeq`, the table is rebuilt from it: for each key in the table's
 *   key range, the newest op among those records, kept when its sequence lies within the
 *   table's own range (a newer one means the key was shadowed or dropped by a later table or
 *   compaction). That is the table's content, except for tombstones and expired values a
 *   compaction had already dropped, which change nothing a read sees. The new table takes the
 *   damaged one's place (same level) under a fresh file number.
 * - **The edges (a fleet hub).** A table whose whole key range lies in one site's namespace
 *   (`S/…`) is dropped, with the site's position: the site's edge sends its data again at its
 *   next connection (records it still holds, or a snapshot of its current data). Until then
 *   the hub lacks those keys; history the edge no longer holds is not sent again.
 *
 * The repair writes the new table (fsynced), moves the damaged file aside, then writes both
 * manifest copies (`ManifestStore.save` with `resetPrevious`: the previous copy must not list
 * a table that is gone). A crash in between leaves either the old state (the new table is an
 * unlisted stray that `Database.open` removes) or the new one.
 *
 * @module
 */

import { Database } from "../engine/database.ts";
import { type FileSystem, joinPath } from "../fs/mod.ts";
import {
  type ManifestState,
  ManifestStore,
  tableFileName,
  type TableMeta,
} from "../manifest/mod.ts";
import { TableBuilder } from "../sstable/mod.ts";
import { compareBytes, hasPrefix } from "../util/bytes.ts";
import type { Entry } from "../util/entry.ts";
import { positionKey, sitePrefix } from "./namespace.ts";
import { loadSites } from "./sites.ts";
import { readDirectory, type VerifyReport, WAL_DIR_NAME } from "../verify/verify.ts";
import { printableKey } from "../verify/findings.ts";

/** Where damaged tables are moved, inside the data directory. */
export const DAMAGED_DIR_NAME = "damaged";

/** One table repaired. */
export interface RepairAction {
  fileNumber: number;
  /** `wal`: rebuilt from the WAL; `site`: dropped, the site's edge sends it again. */
  source: "wal" | "site";
  /** Where the damaged file went. */
  movedTo: string;
  /** The rebuilt table's file number (WAL), if it holds anything. */
  rebuiltAs?: number;
  /** Entries in the rebuilt table (WAL). */
  entries?: number;
  /** The site whose position was dropped (site). */
  site?: string;
}

/** What `repairDirectory` did and did not do. */
export interface RepairResult {
  repaired: RepairAction[];
  /** Damaged tables no source can give back, with why. */
  unrecoverable: { fileNumber: number; reason: string }[];
  /** Damage repair does not touch (WAL records, manifests): salvage is the tool for it. */
  otherDamage: string[];
}

/** Every intact WAL op at or above `fromSeq`, when the WAL holds them all up to `throughSeq`. */
function walOps(
  fs: FileSystem,
  dir: string,
  fromSeq: number,
  throughSeq: number,
): Entry[] | string {
  const ops: Entry[] = [];
  let next = -1;
  let gap = "";
  const read = readDirectory(fs, dir, {
    onWalBatch: (seq, entries) => {
      if (next !== -1 && seq !== next && gap === "") gap = `a gap before sequence ${seq}`;
      if (next === -1 && seq > fromSeq) gap = `the WAL starts at ${seq}, after ${fromSeq}`;
      next = seq + entries.length;
      for (const e of entries) if (e.seq >= fromSeq) ops.push(e);
    },
  });
  if (read.findings.some((f) => f.severity === "corrupt" && f.part === "WAL record")) {
    return "the WAL is damaged too";
  }
  if (gap !== "") return gap;
  if (next === -1 || next - 1 < throughSeq) {
    return `the WAL does not hold sequences ${fromSeq}..${throughSeq} (retention deleted them)`;
  }
  return ops;
}

/** The table's content rebuilt from WAL ops (see the module comment). */
function rebuild(meta: TableMeta, ops: readonly Entry[]): Entry[] {
  const newest = new Map<string, Entry>();
  for (const e of ops) {
    if (compareBytes(e.key, meta.smallestKey) < 0 || compareBytes(e.key, meta.largestKey) > 0) {
      continue;
    }
    const id = [...e.key].join(",");
    const seen = newest.get(id);
    if (seen === undefined || e.seq > seen.seq) newest.set(id, e);
  }
  return [...newest.values()]
    .filter((e) => e.seq >= meta.minSeq && e.seq <= meta.maxSeq)
    .sort((a, b) => compareBytes(a.key, b.key));
}

/** The site whose namespace holds the table's whole key range, if any. */
function siteOf(fs: FileSystem, dir: string, meta: TableMeta): string | undefined {
  let sites;
  try {
    sites = loadSites(fs, dir);
  } catch {
    return undefined;
  }
  for (const s of sites) {
    const prefix = sitePrefix(s.name);
    if (hasPrefix(meta.smallestKey, prefix) && hasPrefix(meta.largestKey, prefix)) return s.name;
  }
  return undefined;
}

function writeTable(fs: FileSystem, path: string, entries: readonly Entry[]) {
  const file = fs.open(path, { write: true, createNew: true });
  try {
    const builder = new TableBuilder(file);
    for (const e of entries) builder.add(e);
    const props = builder.finish();
    file.sync();
    return props;
  } finally {
    file.close();
  }
}

/**
 * Repairs what can be repaired in `dir` (see the module comment), given its verify report.
 * REQUIRES: the caller holds the directory's lock; `unlock` releases it (a site's position is
 * then deleted through `Database.open`, which takes the lock itself).
 */
export async function repairDirectory(
  fs: FileSystem,
  dir: string,
  report: VerifyReport,
  unlock: () => void,
): Promise<RepairResult> {
  const result: RepairResult = { repaired: [], unrecoverable: [], otherDamage: [] };
  if (report.current.status !== "ok") {
    result.otherDamage.push(
      `${
        joinPath(dir, "MANIFEST")
      } is unusable (open falls back to MANIFEST.prev; salvage reads what remains)`,
    );
    return result;
  }
  const state = report.current.state;
  const damaged = new Set<number>();
  // A damaged value (a time-series chunk) that the WAL holds damaged too cannot come back
  // from it: rebuilding would write the same bytes.
  const walDamagedValues = new Set(
    report.findings.filter((f) => f.key !== undefined && isWalFinding(f.file)).map((f) =>
      printableKey(f.key!)
    ),
  );
  for (const f of report.findings) {
    if (f.severity !== "corrupt") continue;
    if (f.key !== undefined && !isWalFinding(f.file) && walDamagedValues.has(printableKey(f.key))) {
      result.otherDamage.push(`${f.reason}: the WAL holds the same damaged value`);
      continue;
    }
    const t = state.tables.find((m) => joinPath(dir, tableFileName(m.fileNumber)) === f.file);
    if (t !== undefined) damaged.add(t.fileNumber);
    else if (f.part !== "database") result.otherDamage.push(f.reason);
  }
  if (damaged.size === 0) return result;
  const metas = state.tables.filter((t) => damaged.has(t.fileNumber));
  const fromSeq = Math.min(...metas.map((t) => t.minSeq));
  const ops = walOps(fs, dir, fromSeq, state.flushedSeq);
  let nextFileNumber = state.nextFileNumber;
  const replaced = new Map<number, TableMeta | undefined>();
  const sites = new Set<string>();
  const aside = joinPath(dir, DAMAGED_DIR_NAME);
  for (const meta of metas) {
    const path = joinPath(dir, tableFileName(meta.fileNumber));
    const movedTo = joinPath(aside, tableFileName(meta.fileNumber));
    if (typeof ops !== "string") {
      const entries = rebuild(meta, ops);
      const action: RepairAction = {
        fileNumber: meta.fileNumber,
        source: "wal",
        movedTo,
        entries: entries.length,
      };
      if (entries.length > 0) {
        const fileNumber = nextFileNumber++;
        const props = writeTable(fs, joinPath(dir, tableFileName(fileNumber)), entries);
        replaced.set(meta.fileNumber, {
          fileNumber,
          level: meta.level,
          sizeBytes: props.sizeBytes,
          entries: props.entries,
          minSeq: props.minSeq,
          maxSeq: props.maxSeq,
          smallestKey: props.smallestKey,
          largestKey: props.largestKey,
        });
        action.rebuiltAs = fileNumber;
      } else replaced.set(meta.fileNumber, undefined);
      result.repaired.push(action);
      continue;
    }
    const site = siteOf(fs, dir, meta);
    if (site !== undefined) {
      replaced.set(meta.fileNumber, undefined);
      sites.add(site);
      result.repaired.push({ fileNumber: meta.fileNumber, source: "site", movedTo, site });
      continue;
    }
    result.unrecoverable.push({
      fileNumber: meta.fileNumber,
      reason: `${path}: not in the WAL (${ops}) and not a fleet site's data`,
    });
  }
  if (result.repaired.length === 0) return result;
  fs.syncDir(dir);
  fs.mkdirp(aside);
  for (const a of result.repaired) {
    const from = joinPath(dir, tableFileName(a.fileNumber));
    if (fs.stat(from) !== undefined) fs.rename(from, a.movedTo);
  }
  fs.syncDir(aside);
  fs.syncDir(dir);
  const next: ManifestState = {
    ...state,
    nextFileNumber,
    tables: state.tables.flatMap((t) => {
      if (!replaced.has(t.fileNumber)) return [t];
      const r = replaced.get(t.fileNumber);
      return r === undefined ? [] : [r];
    }),
  };
  new ManifestStore(fs, dir, state).save(next, { resetPrevious: true });
  unlock();
  if (sites.size > 0) await forgetPositions(fs, dir, [...sites]);
  return result;
}

/** Deletes the positions of `sites` at a hub: their edges send their data again. */
async function forgetPositions(fs: FileSystem, dir: string, sites: string[]): Promise<void> {
  const db = await Database.open(dir, { fs });
  try {
    await db.write(sites.map((s) => ({ type: "delete" as const, key: positionKey(s) })));
  } finally {
    await db.close();
  }
}

/** True when `file` is a WAL segment (its findings name no table). */
function isWalFinding(file: string): boolean {
  return file.includes(`/${WAL_DIR_NAME}/`);
}
