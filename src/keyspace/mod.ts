/**
 * The keyspace: how keys of every type share one engine keyspace. ARCHITECTURE.md
 * § "Keyspace" is the design; this module holds its constants and the few rules every layer
 * and front end applies.
 *
 * - A string is a `KIND_PUT` entry at its user key (unchanged on disk).
 * - Any other type is a `KIND_META` entry at its user key whose value starts with a type byte
 *   and the key's data version (`encodeMetaHeader`), so one lookup answers TYPE, WRONGTYPE,
 *   EXISTS, and DEL/EXPIRE/RENAME treat it like any key.
 * - A type's bulk data (time-series chunks; later hash fields, list items) lives under the
 *   internal prefix `0xFF`, in a space of its own (second byte), keyed by the version, so that
 *   a new key of the same name never sees old data and deleting a key is one tombstone.
 * - User keys starting with `0xFF` are refused everywhere (RESP, HTTP, CLI): they would
 *   collide with internal data. User scans stop before `0xFF` and never show internal keys.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import type { Database, WriteOp } from "../engine/mod.ts";
import { ByteReader, type ByteWriter } from "../util/buffers.ts";
import { allocBytes } from "../util/bytes.ts";
import { KIND_META, KIND_PUT } from "../util/entry.ts";

/** First byte of every internal key. */
export const INTERNAL_KEY_PREFIX = 0xff;

/** Internal spaces (the byte after `0xFF`). On disk: never renumber. */
export const SPACE_KEYSPACE = 0x00;
/** Time series: version -> user key (the list of every series, read at open). */
export const SPACE_TS_REGISTRY = 0x01;
/** Time series: version -> state (head checkpoint and sealed-data statistics). */
export const SPACE_TS_STATE = 0x02;
/** Time series: version, first timestamp -> sealed chunk. */
export const SPACE_TS_CHUNK = 0x03;
/** Time series: the key of its log ops (never stored). */
export const SPACE_TS_LOG = 0x04;
/** Member types (0x20...; 0x10 and 0x11 are the fleet hub's): version -> user key (the list of every hash, set, sorted set and list). */
export const SPACE_TYPES_REGISTRY = 0x20;
/** Hashes: version, field -> value. */
export const SPACE_HASH_FIELD = 0x21;
/** Sets: version, member -> empty. */
export const SPACE_SET_MEMBER = 0x22;
/** Sorted sets: version, member -> score (f64 BE). */
export const SPACE_ZSET_MEMBER = 0x23;
/** Sorted sets: version, encoded score, member -> empty (the order by score). */
export const SPACE_ZSET_SCORE = 0x24;
/** Lists: version, index (u64 BE) -> item. */
export const SPACE_LIST_ITEM = 0x25;
/** Member types: version -> empty: the version is dead, its members are compaction garbage. */
export const SPACE_TYPES_DEAD = 0x26;

/** Type bytes (first byte of a `KIND_META` value). On disk: never renumber. */
export const TYPE_TIMESERIES = 1;
/** A hash (`src/types/`). */
export const TYPE_HASH = 2;
/** A set. */
export const TYPE_SET = 3;
/** A sorted set. */
export const TYPE_ZSET = 4;
/** A list. */
export const TYPE_LIST = 5;

/** What TYPE answers for each type byte. */
export const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [TYPE_TIMESERIES, "TSDB-TYPE"],
  [TYPE_HASH, "hash"],
  [TYPE_SET, "set"],
  [TYPE_ZSET, "zset"],
  [TYPE_LIST, "list"],
]);

/** `-WRONGTYPE ...` as Redis words it. */
export const ERR_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";

/** The error for a user key in the reserved range. */
export const ERR_RESERVED_KEY =
  "ERR Key is reserved: keys starting with byte 0xff hold CityHall's internal data";

const VERSION_KEY = new Uint8Array([INTERNAL_KEY_PREFIX, SPACE_KEYSPACE, 0x76]); // "\xff\x00v"

/** True when `key` is in the internal range (first byte 0xFF). */
export function isInternalKey(key: Uint8Array): boolean {
  return key.length > 0 && key[0] === INTERNAL_KEY_PREFIX;
}

/** The end bound that keeps a user scan out of internal keys: `[0xFF]`. */
export const USER_KEYS_END = new Uint8Array([INTERNAL_KEY_PREFIX]);

/** The type name TYPE answers for an entry of `kind` with `value`. */
export function typeName(kind: number, value: Uint8Array): string {
  if (kind === KIND_PUT) return "string";
  if (kind !== KIND_META || value.length === 0) return "none";
  return TYPE_NAMES.get(value[0]!) ?? "none";
}

/** The type byte of a `KIND_META` value. */
export function metaType(value: Uint8Array): number {
  return value.length > 0 ? value[0]! : 0;
}

/** The header of a `KIND_META` value: type byte and the key's data version. */
export interface MetaHeader {
  /** Type byte. */
  type: number;
  /** Data version: internal data of this key is keyed by it. */
  version: number;
}

/** Writes a meta header (type byte, varint version). */
export function encodeMetaHeader(out: ByteWriter, header: MetaHeader): void {
  out.byte(header.type);
  out.varint(header.version);
}

/** Reads a meta header; throws `CorruptionError` when the value is too short. */
export function decodeMetaHeader(input: ByteReader): MetaHeader {
  const type = input.byte();
  const version = input.varint();
  if (version < 1) throw new CorruptionError("Cannot decode key metadata: version 0");
  return { type, version };
}

/** An internal key: `0xFF`, the space byte, then the parts (big-endian u64 numbers). */
export function internalKey(space: number, ...numbers: number[]): Uint8Array {
  return internalKeyInto(new Uint8Array(2 + 8 * numbers.length), space, numbers);
}

/**
 * `internalKey` written into `key` (exactly `2 + 8 × numbers.length` bytes): for a caller that
 * allocates it elsewhere (a key only passed to the engine, which copies it, from a slab).
 * Bytes written one by one: a `DataView` would make V8 give a small array its own backing
 * store.
 */
export function internalKeyInto(
  key: Uint8Array,
  space: number,
  numbers: readonly number[],
): Uint8Array {
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = space;
  for (let i = 0; i < numbers.length; i++) {
    const n = numbers[i]!;
    const hi = Math.floor(n / 0x1_0000_0000);
    const lo = n >>> 0;
    const at = 2 + 8 * i;
    key[at] = hi >>> 24;
    key[at + 1] = (hi >>> 16) & 0xff;
    key[at + 2] = (hi >>> 8) & 0xff;
    key[at + 3] = hi & 0xff;
    key[at + 4] = lo >>> 24;
    key[at + 5] = (lo >>> 16) & 0xff;
    key[at + 6] = (lo >>> 8) & 0xff;
    key[at + 7] = lo & 0xff;
  }
  return key;
}

/** Reads the big-endian u64 at `offset` of an internal key. */
export function internalKeyNumber(key: Uint8Array, offset: number): number {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}

/**
 * Hands out data versions, unique for the life of the database (a counter stored at
 * `0xFF 0x00 "v"`, written in the same batch as the key that uses it).
 */
export class VersionAllocator {
  readonly #db: Database;
  #next: number | undefined;

  /** Allocates from `db`'s counter. */
  constructor(db: Database) {
    this.#db = db;
  }

  /** A fresh version and the op that records it (put it in the same batch). */
  allocate(): { version: number; op: WriteOp } {
    if (this.#next === undefined) {
      const stored = this.#db.getEntry(VERSION_KEY);
      this.#next = stored === undefined ? 1 : new ByteReader(stored.value).varint();
    }
    const version = this.#next++;
    // The counter's varint in a slab's bytes (the engine copies what it stores): a fresh array
    // and a writer per new key were microseconds of each creation.
    const next = this.#next;
    let n = 1;
    for (let v = next; v >= 0x80; v = Math.floor(v / 128)) n++;
    const value = allocBytes(n);
    let v = next;
    for (let i = 0; i < n - 1; i++, v = Math.floor(v / 128)) value[i] = (v & 0x7f) | 0x80;
    value[n - 1] = v;
    return { version, op: { type: "put", key: VERSION_KEY, value } };
  }

  /** Forgets the cached counter (after the database content was replaced). */
  reset(): void {
    this.#next = undefined;
  }
}
