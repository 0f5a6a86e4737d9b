/**
 * Snapshot bootstrap: how a replica that is empty while the leader's WAL no longer starts at
 * sequence 1 gets the leader's data. The leader takes a checkpoint (`Database.checkpoint`:
 * flush, then pin the manifest's tables) and serves its SSTable files in chunks; the replica
 * stages each file under `<data>/replication/snapshot/`, checks its whole-file CRC32C, moves it
 * into its data directory and installs the checkpoint's manifest (`Database.installSnapshot`),
 * then streams the WAL from the checkpoint's sequence + 1.
 *
 * Resumable: a staged `NNNNNN.sst.part` is continued from its size when the link comes back
 * (files are immutable and named by number; a file whose CRC fails is fetched again whole).
 *
 * @module
 */

import type { File, FileSystem } from "../fs/mod.ts";
import { crc32cExtend, maskCrc } from "../util/crc32c.ts";

const CRC_CHUNK_BYTES = 1 << 20;

/** `maskCrc(crc32c(whole file))`, read in 1 MiB chunks. */
export function fileCrc(fs: FileSystem, path: string): { crc: number; sizeBytes: number } {
  const file: File = fs.open(path);
  try {
    const size = file.size();
    const buf = new Uint8Array(Math.min(CRC_CHUNK_BYTES, Math.max(1, size)));
    let crc = 0;
    let at = 0;
    while (at < size) {
      const n = file.readAt(buf.subarray(0, Math.min(buf.length, size - at)), at);
      if (n === 0) break;
      crc = crc32cExtend(crc, buf, 0, n);
      at += n;
    }
    return { crc: maskCrc(crc), sizeBytes: at };
  } finally {
    file.close();
  }
}

/** Directory where a replica stages snapshot files, under its data directory. */
export const SNAPSHOT_DIR_NAME = "snapshot";
