/**
 * Sneakernet: `cityhall export --since-ack` on an edge (running or stopped) writes what its
 * hub has not acknowledged to a `.chsync` file (`chsync.ts`); `cityhall hub import` applies
 * it at a stopped hub exactly as a live link would (`SiteApplier`: same namespace, same
 * position, ops at or below the position skipped), so importing twice changes nothing and the
 * live uplink later continues from what was imported. ARCHITECTURE.md § "Sneakernet".
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { CityHallError } from "../errors.ts";
import type { FileSystem } from "../fs/mod.ts";
import { loadManifests } from "../manifest/mod.ts";
import { EXPORT_FRAME_RECORD_BYTES } from "../limits.ts";
import { ID_BYTES, parseHexId } from "../replication/frame.ts";
import { equalBytes } from "../util/bytes.ts";
import type { Logger } from "../util/log.ts";
import { ExportWriter, readExport } from "./chsync.ts";
import { readEdgeState } from "./edge_state.ts";
import type { CheckedRecords } from "./frames.ts";
import { hex } from "./frames.ts";
import { SiteApplier, TrustedWriter } from "./hub_apply.ts";
import type { HubRetention } from "./hub_series.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import { loadSites, recordEdge } from "./sites.ts";
import { readWalOffline } from "./wal_offline.ts";

/** zstd level of export files: written once, carried by hand; ratio matters more than speed. */
const EXPORT_ZSTD_LEVEL = 9;

/** What an export wrote. */
export interface ExportSummary {
  site: string;
  fromSeq: number;
  lastSeq: number;
  records: number;
  frames: number;
}

/**
 * Writes the records of `dataDir` the hub has not acknowledged (from `uplink/state.json`) as a
 * `.chsync` file through `write`. `site` names the site when the edge never ran an uplink
 * (then every record from sequence 1 goes). Throws `CityHallError` when there is nothing to
 * say who the edge is, or the WAL no longer holds the first record needed.
 */
export async function exportSinceAck(
  fs: FileSystem,
  dataDir: string,
  write: (bytes: Uint8Array) => Promise<void>,
  options: { site?: string } = {},
): Promise<ExportSummary> {
  const loaded = loadManifests(fs, dataDir);
  if (loaded === undefined) {
    throw new CityHallError(`Cannot export: ${dataDir} holds no CityHall database`);
  }
  const state = readEdgeState(fs, dataDir);
  const site = options.site ?? state?.site;
  if (site === undefined) {
    throw new CityHallError(
      `Cannot export: ${dataDir} never ran an uplink (no uplink/state.json); pass --site NAME`,
    );
  }
  const sameSite = state !== undefined && state.site === site;
  const fromSeq = (sameSite ? state.ackedSeq : 0) + 1;
  const hubId = sameSite && state.hubId !== null
    ? parseHexId(state.hubId)!
    : new Uint8Array(ID_BYTES);
  const writer = await ExportWriter.begin(
    { site, edgeId: loaded.state.databaseId, hubId, fromSeq, createdMs: Date.now() },
    write,
    EXPORT_ZSTD_LEVEL,
  );
  let payloads: Uint8Array[] = [];
  let bytes = 0;
  let first = 0;
  let next = fromSeq;
  const flush = async () => {
    if (payloads.length === 0) return;
    await writer.records(first, next - 1, payloads);
    payloads = [];
    bytes = 0;
  };
  try {
    for (const record of readWalOffline(fs, dataDir, fromSeq)) {
      if (payloads.length === 0) first = record.seq;
      payloads.push(record.payload);
      bytes += record.payload.length;
      next = record.seq + record.ops;
      if (bytes >= EXPORT_FRAME_RECORD_BYTES) await flush();
    }
  } catch (err) {
    if (err instanceof CityHallError && /no longer holds/.test(err.message)) {
      throw new CityHallError(
        `Cannot export: ${err.message}: the hub needs a snapshot, which only the live uplink sends`,
      );
    }
    throw err;
  }
  await flush();
  const done = await writer.finish();
  return { site, fromSeq, lastSeq: done.lastSeq, records: done.records, frames: done.frames };
}

/** What an import did. */
export interface ImportSummary {
  site: string;
  fromSeq: number;
  lastSeq: number;
  /** Ops written. */
  applied: number;
  /** Ops already at the hub (a second import, or records the uplink brought). */
  skipped: number;
  /** Ops dropped because their key could not carry the site prefix. */
  dropped: number;
  /** The site's position after the import. */
  position: number;
}

/** Opens `path` for `readExport`. */
async function openFile(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (err) {
    throw new CityHallError(
      `Cannot import: cannot open ${path}: ${err instanceof Error ? err.message : err}`,
    );
  }
}

/**
 * Imports the `.chsync` file at `path` into hub `db` (opened by the caller; the hub is not
 * running). The whole file is checked before anything is applied. Throws `CityHallError`
 * when the site is unknown, the file comes from another edge or for another hub, or it
 * starts past the site's position (a gap).
 */
export async function importChsync(
  db: Database,
  fs: FileSystem,
  path: string,
  log: Logger,
  timeseries?: TimeSeriesStore,
  options: { retention?: HubRetention } = {},
): Promise<ImportSummary> {
  // Pass 1: every checksum, frame and record, before the first write.
  const checkFile = await openFile(path);
  let read;
  try {
    read = await readExport(checkFile);
  } finally {
    checkFile.close();
  }
  const { header } = read;
  const site = loadSites(fs, db.dir).find((s) => s.name === header.site);
  if (site === undefined) {
    throw new CityHallError(
      `Cannot import: site ${header.site} is not registered at this hub (cityhall hub site add ${header.site})`,
    );
  }
  const edge = hex(header.edgeId);
  if (site.edgeId !== null && site.edgeId !== edge) {
    throw new CityHallError(
      `Cannot import: the file comes from edge ${edge}, but site ${site.name} belongs to edge ${site.edgeId} (a re-initialised data directory?)`,
    );
  }
  if (
    !equalBytes(header.hubId, new Uint8Array(ID_BYTES)) && !equalBytes(header.hubId, db.databaseId)
  ) {
    throw new CityHallError(
      `Cannot import: the file was made for hub ${hex(header.hubId)}; this hub is ${
        hex(db.databaseId)
      }`,
    );
  }
  const applier = new SiteApplier(
    db,
    site.name,
    new TrustedWriter(),
    log,
    timeseries,
    options.retention,
  );
  const before = applier.position(header.edgeId);
  if (header.fromSeq > before + 1) {
    throw new CityHallError(
      `Cannot import: the file starts at sequence ${header.fromSeq}, but the hub holds site ${site.name} only up to ${before} (export again from the edge, or connect its uplink)`,
    );
  }
  if (site.edgeId === null) {
    const recorded = await recordEdge(fs, db.dir, site.name, edge);
    if (recorded !== edge) throw new CityHallError(`Cannot import: site ${site.name} changed`);
  }
  // Pass 2: apply, frame by frame, as the live link does.
  const file = await openFile(path);
  const durable: Promise<void>[] = [];
  const summary: ImportSummary = {
    site: site.name,
    fromSeq: header.fromSeq,
    lastSeq: read.lastSeq,
    applied: 0,
    skipped: 0,
    dropped: 0,
    position: before,
  };
  try {
    await readExport(file, (checked: CheckedRecords) => {
      const result = applier.apply(checked.records, header.edgeId);
      durable.push(result.durable);
      summary.applied += result.applied;
      summary.skipped += result.skipped;
      summary.dropped += result.dropped;
      summary.position = result.position;
    });
  } finally {
    file.close();
  }
  await Promise.all(durable);
  return summary;
}
