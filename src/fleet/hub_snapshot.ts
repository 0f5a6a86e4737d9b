/**
 * A site's snapshot at the hub: when the edge's WAL no longer holds the sequence after the
 * hub's position (an edge that wrote before its uplink was configured, or one whose disk-full
 * policy evicted unshipped records), the hub asks for a checkpoint of the edge's tables with
 * the replication snapshot frames (SNAPSHOT_REQUEST, SNAPSHOT_BEGIN, FILE_FETCH, FILE_CHUNK;
 * ARCHITECTURE.md § "Snapshot bootstrap (types 8–11)"), stages the files under
 * `<hub>/hub/staging/<site>/`, checks each one's CRC, then replaces the site's namespace with
 * the tables' live entries (`SiteApplier.applySnapshot`) and records the checkpoint's sequence
 * as the site's position.
 *
 * Resumable like a replica's bootstrap: a staged `NNNNNN.sst.part` continues from its size
 * after a cut (FILE_FETCH names the offset), a complete file whose CRC matches is kept.
 *
 * @module
 */

import type { FileSystem } from "../fs/mod.ts";
import { decodeManifest, type ManifestState } from "../manifest/mod.ts";
import { ProtocolError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import {
  decodeSnapshotBegin,
  type Frame,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
} from "../replication/frame.ts";
import { clearStaging, stageSnapshotTables } from "../replication/snapshot_fetch.ts";
import { BlockCache, Table } from "../sstable/mod.ts";
import { equalBytes } from "../util/bytes.ts";
import type { SiteApplier } from "./hub_apply.ts";

/** Block cache of the tables read for one snapshot (they are read once, in order). */
const SNAPSHOT_CACHE_BYTES = 4 * 1024 * 1024;

/** What the snapshot needs from the session. */
export interface SnapshotLink {
  fs: FileSystem;
  /** The site's staging directory. */
  staging: string;
  /** The edge the site belongs to (the manifest's database id must be it). */
  edgeId: Uint8Array;
  /** Bytes asked per FILE_FETCH. */
  fetchBytes: number;
  log: Logger;
  site: string;
  send(type: number, body: Uint8Array): void;
  /** The next frame that is not a HEARTBEAT; an ERROR throws. */
  nextWork(): Promise<Frame>;
}

/** Fetches the edge's checkpoint into the staging directory; its manifest and staged files. */
async function fetchFiles(
  link: SnapshotLink,
): Promise<{ manifest: ManifestState; seq: number; staged: Map<number, string>; bytes: number }> {
  const { fs, staging } = link;
  link.send(FRAME_SNAPSHOT_REQUEST, new Uint8Array(0));
  const first = await link.nextWork();
  if (first.type !== FRAME_SNAPSHOT_BEGIN) {
    throw new ProtocolError(`Expected SNAPSHOT_BEGIN, got frame type ${first.type}`);
  }
  const begin = decodeSnapshotBegin(first.body);
  let manifest: ManifestState;
  try {
    manifest = decodeManifest(begin.manifest, "snapshot manifest");
  } catch (err) {
    throw new ProtocolError(`Cannot accept snapshot: ${(err as Error).message}`);
  }
  const listed = new Map(begin.files.map((f) => [f.fileNumber, f]));
  if (
    !equalBytes(manifest.databaseId, link.edgeId) || manifest.flushedSeq !== begin.seq ||
    manifest.tables.length !== listed.size ||
    manifest.tables.some((t) => !listed.has(t.fileNumber))
  ) {
    throw new ProtocolError("Cannot accept snapshot: manifest, edge and file list disagree");
  }
  clearStaging(fs, staging, begin.files);
  const bytes = begin.files.reduce((sum, f) => sum + f.sizeBytes, 0);
  link.log("info", "receiving a site snapshot", {
    site: link.site,
    seq: begin.seq,
    files: begin.files.length,
    bytes,
  });
  const { staged } = await stageSnapshotTables(fs, staging, begin.files, link);
  return { manifest, seq: begin.seq, staged, bytes };
}

/**
 * Receives a snapshot from the edge and replaces the site's data with it; resolves with the
 * new position (the checkpoint's sequence) once it is durable. The staged files are removed.
 */
export async function receiveSnapshot(
  link: SnapshotLink,
  applier: SiteApplier,
): Promise<{ seq: number; keys: number; bytes: number }> {
  const { manifest, seq, staged, bytes } = await fetchFiles(link);
  const cache = new BlockCache(SNAPSHOT_CACHE_BYTES);
  const tables: Table[] = [];
  let keys: number;
  try {
    for (const t of manifest.tables) {
      tables.push(
        Table.open(link.fs, staged.get(t.fileNumber)!, { cache, fileNumber: t.fileNumber }),
      );
    }
    ({ keys } = await applier.applySnapshot(tables, link.edgeId, seq));
  } finally {
    for (const t of tables) t.close();
  }
  for (const path of staged.values()) link.fs.remove(path);
  link.fs.syncDir(link.staging);
  link.log("info", "applied a site snapshot", { site: link.site, seq, keys, bytes });
  return { seq, keys, bytes };
}
