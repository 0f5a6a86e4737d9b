/**
 * Snapshot bootstrap on the replica (ARCHITECTURE.md § "Snapshot bootstrap (types 8–11)"):
 * fetches the leader's checkpoint files into the staging directory (resuming `.part` files),
 * checks each file's CRC, moves them into the data directory and installs the checkpoint.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { replicationPort } from "../engine/mod.ts";
import { joinPath } from "../fs/mod.ts";
import { decodeManifest, type ManifestState } from "../manifest/mod.ts";
import { ProtocolError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import {
  decodeSnapshotBegin,
  type Frame,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  hexId,
} from "./frame.ts";
import { REPLICATION_DIR_NAME } from "./registry.ts";
import { SNAPSHOT_DIR_NAME } from "./snapshot.ts";
import { clearStaging, stageSnapshotTables } from "./snapshot_fetch.ts";

/** What the bootstrap needs from the replica's link. */
export interface BootstrapLink {
  db: Database;
  log: Logger;
  /** Bytes asked per FILE_FETCH. */
  fetchBytes: number;
  /** The leader id WELCOME gave (and the replica recorded). */
  leaderId: string;
  /**
   * The leader forked a new history since this replica recorded its id: install the snapshot
   * even below `lastSeq`, replacing every old write (`Database.installSnapshot`).
   */
  replaceHistory?: boolean;
  /** Sends a frame. */
  send(type: number, body: Uint8Array): void;
  /** The next frame that is not a HEARTBEAT; an ERROR frame throws. */
  nextWork(): Promise<Frame>;
}

/**
 * Snapshot bootstrap of an empty replica (see `snapshot.ts`): fetches the leader's
 * checkpoint files into the staging directory (resuming `.part` files), checks each file's
 * CRC, moves them into the data directory and installs the checkpoint.
 */
export async function bootstrapFromSnapshot(link: BootstrapLink): Promise<void> {
  const { db, send, leaderId } = link;
  const fs = replicationPort(db).fileSystem;
  send(FRAME_SNAPSHOT_REQUEST, new Uint8Array(0));
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
    hexId(manifest.historyId) !== leaderId || manifest.flushedSeq !== begin.seq ||
    manifest.tables.length !== listed.size ||
    manifest.tables.some((t) => !listed.has(t.fileNumber))
  ) {
    throw new ProtocolError("Cannot accept snapshot: manifest and file list disagree");
  }
  const staging = joinPath(db.dir, REPLICATION_DIR_NAME, SNAPSHOT_DIR_NAME);
  clearStaging(fs, staging, begin.files);
  const totalBytes = begin.files.reduce((sum, f) => sum + f.sizeBytes, 0);
  link.log("info", "bootstrapping replica from a leader snapshot", {
    seq: begin.seq,
    files: begin.files.length,
    bytes: totalBytes,
  });
  const { staged, resumedBytes } = await stageSnapshotTables(fs, staging, begin.files, link);
  await replicationPort(db).installSnapshot(manifest, staged, {
    replaceHistory: link.replaceHistory ?? false,
  });
  link.log("info", "bootstrapped replica from a leader snapshot", {
    seq: db.lastSeq,
    files: begin.files.length,
    bytes: totalBytes,
    resumedBytes,
  });
}
