/**
 * A memo of the last few engine entries the member-type commands read or wrote: their
 * metadata records and the members they check (ARCHITECTURE.md § "Member types", its entry
 * memo paragraph). A client that sends the same key again and again (a queue, a counter hash,
 * redis-benchmark's `-t hset,lpush...`) finds its metadata here instead of in a memtable search.
 *
 * Invariants:
 * - The memo is valid only while the database's `lastSeq` is the one it was filled at, in the
 *   same history (the same `historyId` array) of the same `Database` object: any write, through
 *   any path (this server, HTTP, replication, the garbage sweep, expiry), moves `lastSeq` and
 *   retires every slot at once, so nothing has to invalidate anything and nothing can be missed.
 *   Within one history a sequence names one state only (§ "Replication").
 * - Entries that expire are never kept (time alone would change them); an absence is kept, as
 *   time never brings a key back.
 * - Keys and values in the memo are its own copies or engine-owned entries, never changed.
 * - Only the database the server writes through `Context.write` has a memo; a transaction's
 *   view of it (`txn_overlay.ts`, which stages writes without moving `lastSeq`) never does.
 *
 * @module
 */

import type { Database, ValueEntry, WriteOp } from "../engine/mod.ts";
import { KIND_META, KIND_PUT } from "../util/entry.ts";
import { copyBytes } from "../util/bytes.ts";

/** Slots kept: the metadata record and a member or two of the key in use. */
const SLOTS = 4;

/** Values up to this many bytes are copied into the memo on a write; larger ones are not kept. */
const VALUE_BYTES_MAX = 64;

class EntryMemo {
  readonly db: Database;
  /** The database's `lastSeq` when last looked at. */
  lastSeq = -1;
  historyId: Uint8Array | undefined;
  /** Keys of the slots (the memo's own copies: kept across writes, compared by bytes). */
  readonly keys: Uint8Array[] = [];
  /** What `getEntry` answered for each slot's key (undefined: absent)... */
  readonly entries: (ValueEntry | undefined)[] = [];
  /** ...as of this `lastSeq`: the answer holds only while the database is still there. */
  readonly seqs: number[] = [];
  /** The slot the next new key takes (round robin). */
  next = 0;

  constructor(db: Database) {
    this.db = db;
  }

  /**
   * Notes the database's state now; in another history no answer holds any more (a replica
   * that installed a forked leader's snapshot may be back at a sequence it had before).
   */
  sync(): void {
    const db = this.db;
    this.lastSeq = db.lastSeq;
    const id = db.history.historyId;
    if (id !== this.historyId) {
      this.historyId = id;
      this.seqs.fill(-1);
    }
  }

  /** The slot holding `key`, or -1. */
  find(key: Uint8Array): number {
    const n = key.length;
    const keys = this.keys;
    for (let s = 0; s < keys.length; s++) {
      const k = keys[s]!;
      if (k.length !== n) continue;
      let i = 0;
      while (i < n && k[i] === key[i]) i++;
      if (i === n) return s;
    }
    return -1;
  }

  /** A slot for `key` (a copy of it), taking the oldest one when all are in use. */
  claim(key: Uint8Array): number {
    const s = this.next;
    this.next = (s + 1) % SLOTS;
    this.keys[s] = copyBytes(key, 0, key.length);
    return s;
  }
}

/**
 * The memo of the database written last through the server's own write path (`Context.write`):
 * a server serves one. Only that path makes one, so a transaction's view (a proxy of the
 * database, `txn_overlay.ts`) is never the memo's database.
 */
let memo: EntryMemo | undefined;

/**
 * `db.getEntry(key)` through the memo: the same answer, without a memtable search when the
 * key was read or written since the database last changed.
 */
export function memoGetEntry(db: Database, key: Uint8Array): ValueEntry | undefined {
  const m = memo;
  if (m === undefined || m.db !== db) return db.getEntry(key);
  m.sync();
  let s = m.find(key);
  if (s >= 0 && m.seqs[s] === m.lastSeq) return m.entries[s];
  const e = db.getEntry(key);
  // An entry that expires is not kept: time alone would change the answer.
  if (e !== undefined && e.expireAtMs !== 0) return e;
  if (s < 0) s = m.claim(key);
  m.entries[s] = e;
  m.seqs[s] = m.lastSeq;
  return e;
}

/**
 * Called after `ops` were applied as one batch that moved `db.lastSeq` from `seqBefore`:
 * answers about keys the batch did not write still hold; those about keys it wrote become
 * what it left there (a put or metadata record of a small value, or a deletion), and a
 * metadata record it wrote takes a slot (the next command on that key reads it first).
 */
export function memoAfterWrite(db: Database, ops: readonly WriteOp[], seqBefore: number): void {
  let m = memo;
  if (m === undefined || m.db !== db) m = memo = new EntryMemo(db);
  const seq = db.lastSeq;
  // Applied as one batch of consecutive sequences (else nothing more is known: every answer
  // lapses with the move of `lastSeq`).
  if (seq !== seqBefore + ops.length || m.lastSeq !== seqBefore || ops.length > SLOTS) return;
  // Same history as at `seqBefore` (else `sync` forgets every answer).
  m.sync();
  const seqs = m.seqs;
  // Nothing else changed between the two sequences: answers about other keys still hold.
  for (let s = 0; s < seqs.length; s++) if (seqs[s] === seqBefore) seqs[s] = seq;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const key = op.key;
    if (!(key instanceof Uint8Array)) {
      seqs.fill(-1);
      return;
    }
    let s = m.find(key);
    if (op.type === "delete") {
      if (s >= 0) {
        m.entries[s] = undefined;
        seqs[s] = seq;
      }
      continue;
    }
    const value = op.value;
    if (
      op.type === "log" || !(value instanceof Uint8Array) || value.length > VALUE_BYTES_MAX ||
      (op.expireAtMs ?? 0) !== 0
    ) {
      if (s >= 0) seqs[s] = -1;
      continue;
    }
    if (s < 0) {
      if (op.type !== "meta") continue;
      s = m.claim(key);
    }
    seqs[s] = seq;
    m.entries[s] = {
      kind: op.type === "put" ? KIND_PUT : KIND_META,
      value: copyBytes(value, 0, value.length),
      expireAtMs: 0,
      seq: seqBefore + 1 + i,
    };
  }
}
