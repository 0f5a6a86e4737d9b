/**
 * What only replication does to a database, kept off `Database`'s public surface: applying a
 * leader's records, read-only mode, the durability feed, WAL retention pins, checkpoints and
 * snapshot installs. `src/replication/` gets it with `replicationPort(db)`; nothing else
 * should. ARCHITECTURE.md § "Replication".
 *
 * @module
 */

import type { FileSystem } from "../fs/mod.ts";
import type { ManifestState } from "../manifest/mod.ts";
import type { DatabaseCheckpoint, RetentionPins } from "./types.ts";

/** The replication-only operations of one database. */
export interface ReplicationPort {
  /**
   * Applies one WAL record received from a leader, keeping the leader's sequence `seq`. The
   * batch goes through this database's own WAL and memtable like a write; the promise
   * resolves when it is durable. A record wholly at or below `lastSeq` is a harmless no-op (a
   * re-send after a crash or reconnect); a record straddling `lastSeq` applies only its newer
   * ops; a record starting above `lastSeq + 1` would leave a gap and rejects with
   * `CorruptionError` without writing. Allowed in read-only mode.
   */
  applyReplicated(seq: number, payload: Uint8Array): Promise<void>;
  /** Turns read-only mode on or off (a replica turns it on). */
  setReadOnly(readOnly: boolean): void;
  /**
   * Calls `listener(durableSeq)` synchronously each time a WAL sync makes new writes durable
   * (a leader's change feed). Returns a function that removes it.
   */
  onDurable(listener: (durableSeq: number) => void): () => void;
  /**
   * Installs the pins WAL retention must respect (one per replica), or removes them with
   * `undefined`. Read at every retention decision.
   */
  setRetentionPins(pins: (() => RetentionPins) | undefined): void;
  /** Runs the retention decision now (after replicas acknowledged) and deletes what it allows. */
  applyRetention(): void;
  /**
   * A consistent checkpoint for a replica's snapshot bootstrap: flushes, then pins the tables
   * the manifest lists so that compaction cannot delete their files until `release()`. Every
   * write with a sequence ≤ `manifest.flushedSeq` is in those tables, and none above.
   */
  checkpoint(): Promise<DatabaseCheckpoint>;
  /**
   * Replaces the database's content with a leader's checkpoint (a new replica, or one whose
   * position left the leader's WAL). `staged` maps each table of `state` (by the leader's file
   * number) to a durable file holding it; the files are moved into the directory under fresh
   * file numbers. Then the manifest (keeping this database's own id) is written, the old
   * tables, memtables and WAL segments are dropped, and the sequence continues at
   * `state.flushedSeq + 1`. Crash-safe: before the manifest is durable the moved files are
   * strays removed at open; after it, every old WAL record is at or below `flushedSeq` and
   * retention deletes it. With `replaceHistory` (the leader forked a new history past WAL
   * damage) the checkpoint may be older than `lastSeq`: every WAL segment is removed, durably,
   * before the manifest is written, so that no write of the old history is ever replayed on
   * top of it. REQUIRES: nothing else writes meanwhile. Throws `InvalidArgumentError` when the
   * checkpoint is not newer than `lastSeq` (without `replaceHistory`), `CorruptionError` on a
   * bad table.
   */
  installSnapshot(
    state: ManifestState,
    staged: ReadonlyMap<number, string>,
    options?: { replaceHistory?: boolean },
  ): Promise<void>;
  /** The file system the database uses (replication reads WAL segments and tables with it). */
  readonly fileSystem: FileSystem;
}
