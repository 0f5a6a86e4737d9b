/**
 * Fetching a snapshot's tables into a staging directory, shared by a replica's bootstrap and
 * a fleet hub taking a site's snapshot (ARCHITECTURE.md § "Snapshot bootstrap (types 8–11)"):
 * files not listed are cleared, a staged table whose CRC matches is kept, a `.part` file
 * continues from its size, every chunk is checked against the file list, and a finished file
 * is fsynced, CRC-checked whole and renamed; the directory is fsynced at the end.
 *
 * @module
 */

import type { FileSystem } from "../fs/mod.ts";
import { joinPath } from "../fs/mod.ts";
import { tableFileName } from "../manifest/mod.ts";
import { ProtocolError } from "../errors.ts";
import {
  decodeFileChunk,
  encodeFileFetch,
  type Frame,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  type SnapshotFile,
} from "./frame.ts";
import { fileCrc } from "./snapshot.ts";

/** The link a snapshot's files are fetched over. */
export interface SnapshotFetchLink {
  /** Bytes asked per FILE_FETCH. */
  fetchBytes: number;
  /** Sends a frame. */
  send(type: number, body: Uint8Array): void;
  /** The next frame that is not a HEARTBEAT; an ERROR frame throws. */
  nextWork(): Promise<Frame>;
}

/** What `stageSnapshotTables` leaves in the staging directory. */
export interface StagedTables {
  /** File number → path of the staged, checked table. */
  staged: Map<number, string>;
  /** Bytes already there from an earlier, interrupted attempt. */
  resumedBytes: number;
}

/** Removes from `staging` every file that is not a (partial) table of `files`. */
export function clearStaging(
  fs: FileSystem,
  staging: string,
  files: readonly SnapshotFile[],
): void {
  const listed = new Set(files.map((f) => f.fileNumber));
  fs.mkdirp(staging);
  for (const name of fs.readDir(staging)) {
    const n = Number(name.split(".")[0]);
    const kept = name.endsWith(".sst.part") || name.endsWith(".sst");
    if (!listed.has(n) || !kept) fs.remove(joinPath(staging, name));
  }
}

/** Fetches every table of `files` into `staging` (see the module comment). */
export async function stageSnapshotTables(
  fs: FileSystem,
  staging: string,
  files: readonly SnapshotFile[],
  link: SnapshotFetchLink,
): Promise<StagedTables> {
  let resumedBytes = 0;
  const staged = new Map<number, string>();
  for (const f of files) {
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
        link.send(
          FRAME_FILE_FETCH,
          encodeFileFetch({ fileNumber: f.fileNumber, offset, maxBytes: link.fetchBytes }),
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
  return { staged, resumedBytes };
}
