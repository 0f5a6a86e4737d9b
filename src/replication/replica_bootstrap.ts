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
import { decodeManifest, type ManifestState, tableFileName } from "../manifest/mod.ts";
import { ProtocolError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import {
  decodeFileChunk,
  decodeSnapshotBegin,
  encodeFileFetch,
  type Frame,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  hexId,
} from "./frame.ts";
import { REPLICATION_DIR_NAME } from "./registry.ts";
import { fileCrc, SNAPSHOT_DIR_NAME } from "./snapshot.ts";

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
  const { db, send, leaderId, fetchBytes } = link;
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
  fs.mkdirp(staging);
  for (const name of fs.readDir(staging)) {
    const n = Number(name.split(".")[0]);
    const kept = name.endsWith(".sst.part") || name.endsWith(".sst");
    if (!listed.has(n) || !kept) fs.remove(joinPath(staging, name));
  }
  const totalBytes = begin.files.reduce((sum, f) => sum + f.sizeBytes, 0);
  link.log("info", "bootstrapping replica from a leader snapshot", {
    seq: begin.seq,
    files: begin.files.length,
    bytes: totalBytes,
  });
  let resumedBytes = 0;
  const staged = new Map<number, string>();
  for (const f of begin.files) {
    const name = tableFileName(f.fileNumber);
    const done = joinPath(staging, name);
    if (fs.stat(done) !== undefined) {
      const have = fileCrc(fs, done);
      if (have.crc === f.crc && have.sizeBytes === f.sizeBytes) {
        staged.set(f.fileNumber, done);
        resumedBytes += f.sizeBytes;
        continue;
      }
      fs.remove(done);
    }
    const part = joinPath(staging, `${name}.part`);
    let offset = fs.stat(part)?.size ?? 0;
    if (offset > f.sizeBytes) {
      fs.remove(part);
      offset = 0;
    }
    resumedBytes += offset;
    const file = fs.open(part, { write: true, create: true });
    try {
      // Bounded: every pass writes at least one byte of the file.
      while (offset < f.sizeBytes) {
        send(
          FRAME_FILE_FETCH,
          encodeFileFetch({ fileNumber: f.fileNumber, offset, maxBytes: fetchBytes }),
        );
        const frame = await link.nextWork();
        if (frame.type !== FRAME_FILE_CHUNK) {
          throw new ProtocolError(`Expected FILE_CHUNK, got frame type ${frame.type}`);
        }
        const chunk = decodeFileChunk(frame.body);
        if (
          chunk.fileNumber !== f.fileNumber || chunk.offset !== offset ||
          chunk.data.length === 0 || offset + chunk.data.length > f.sizeBytes
        ) {
          throw new ProtocolError(`Cannot accept FILE_CHUNK of ${name} at ${chunk.offset}`);
        }
        file.writeAt(chunk.data, offset);
        offset += chunk.data.length;
      }
      file.sync();
    } finally {
      file.close();
    }
    const got = fileCrc(fs, part);
    if (got.crc !== f.crc || got.sizeBytes !== f.sizeBytes) {
      fs.remove(part);
      throw new ProtocolError(
        `Cannot accept snapshot file ${name}: checksum mismatch (it is fetched again whole)`,
      );
    }
    fs.rename(part, done);
    staged.set(f.fileNumber, done);
  }
  fs.syncDir(staging);
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
