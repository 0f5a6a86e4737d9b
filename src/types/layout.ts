/**
 * The storage layout of the member types (hashes, sets, sorted sets, lists), Kvrocks style:
 * a `KIND_META` record at the user key (type byte, data version, member count; lists also
 * their head index) and one engine entry per member under `0xFF <space> <version u64 BE> ...`.
 * ARCHITECTURE.md § "Member types" documents every byte.
 *
 * Invariants:
 * - A key's members live only under its version: a new key of the same name (after DEL, SET,
 *   expiry) takes a new version and never sees them; DEL is one tombstone.
 * - The registry (`0xFF 0x20 version`) names the user key of every version that may still hold
 *   members; the garbage sweep (`gc.ts`) frees the members of versions no key holds any more.
 * - `size` in the metadata is the exact member count; a key whose last member goes is deleted.
 * - Reads are synchronous (`readRange`, paged): a command reads and writes with no await in
 *   between, so it is atomic like every other command.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import { CorruptionError } from "../errors.ts";
import {
  INTERNAL_KEY_PREFIX,
  SPACE_TYPES_REGISTRY,
  TYPE_LIST,
  type VersionAllocator,
} from "../keyspace/mod.ts";
import { KIND_META } from "../util/entry.ts";
import { allocBytes } from "../util/bytes.ts";

/** Metadata of a member-type key. */
export interface TypeMeta {
  /** Type byte (`TYPE_HASH` ...). */
  readonly type: number;
  /** Data version: the key's members are keyed by it. */
  readonly version: number;
  /** Number of members (fields, items). */
  size: number;
  /** Lists: index of the first item; 0 for the other types. */
  head: number;
  /** The key's expiry (Unix ms), 0 = none; kept through every metadata rewrite. */
  expireAtMs: number;
  /** Set by `createMeta`: the command creates the key (a `new` keyspace event is due). */
  created?: boolean;
}

/** Where a list's indexes start: the middle of the safe integer range, room both ways. */
export const LIST_HEAD_INITIAL = 2 ** 52;

/** Members read per `readRange` call while paging through a key. */
const PAGE_MEMBERS = 512;

/** Bytes of `n` (a safe integer >= 0) as a varint. */
function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Writes `n` as a varint at `at`; returns the offset after it. */
function putVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/**
 * Encodes a `KIND_META` value of a member type: the bytes `encodeMetaHeader` writes (type,
 * version varint), then the size and (lists) head varints, written straight into an array of
 * the exact length (every write of a member type encodes one: no growable writer).
 */
export function encodeMeta(meta: TypeMeta): Uint8Array {
  const list = meta.type === TYPE_LIST;
  const out = allocBytes(
    1 + varintBytes(meta.version) + varintBytes(meta.size) + (list ? varintBytes(meta.head) : 0),
  );
  out[0] = meta.type;
  let at = putVarint(out, 1, meta.version);
  at = putVarint(out, at, meta.size);
  if (list) putVarint(out, at, meta.head);
  return out;
}

/**
 * Decodes the `KIND_META` value of a member type (the caller checked the type byte). Read by
 * hand rather than through a `ByteReader` (every member-type command decodes one): same
 * format and errors as `decodeMetaHeader` and `ByteReader.varint`.
 */
export function decodeMeta(value: Uint8Array, expireAtMs: number): TypeMeta {
  if (value.length < 1) corruptMeta("truncated");
  const type = value[0]!;
  metaOffset = 1;
  const version = metaVarint(value);
  if (version < 1) throw new CorruptionError("Cannot decode key metadata: version 0");
  const size = metaVarint(value);
  const head = type === TYPE_LIST ? metaVarint(value) : 0;
  return { type, version, size, head, expireAtMs };
}

/** Where `metaVarint` reads next (decoding is synchronous: one decode at a time). */
let metaOffset = 0;

function corruptMeta(what: string): never {
  throw new CorruptionError(`Cannot decode: ${what}`);
}

/** `ByteReader.varint` over `value` at `metaOffset`. */
function metaVarint(value: Uint8Array): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (metaOffset >= value.length) corruptMeta("truncated varint");
    const b = value[metaOffset++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (!Number.isSafeInteger(result)) corruptMeta("varint exceeds 2^53 - 1");
      return result;
    }
    scale *= 128;
  }
  return corruptMeta("varint longer than 8 bytes");
}

/** What a lookup of a user key found (`seq`: the metadata record's engine sequence). */
export type Lookup =
  | { kind: "none" }
  | { kind: "wrongtype" }
  | { kind: "found"; meta: TypeMeta; seq: number };

/** Looks `key` up expecting a key of `type`. */
export function lookup(db: Database, key: Uint8Array, type: number): Lookup {
  const e = db.getEntry(key);
  if (e === undefined) return { kind: "none" };
  if (e.kind !== KIND_META || e.value[0] !== type) return { kind: "wrongtype" };
  return { kind: "found", meta: decodeMeta(e.value, e.expireAtMs), seq: e.seq };
}

/** The op that stores `meta` at `key` (or deletes the key when it has no member left). */
export function metaOp(key: Uint8Array, meta: TypeMeta): WriteOp {
  if (meta.size === 0) return { type: "delete", key };
  const value = encodeMeta(meta);
  return meta.expireAtMs === 0
    ? { type: "meta", key, value }
    : { type: "meta", key, value, expireAtMs: meta.expireAtMs };
}

/**
 * Metadata for a new key of `type` at `key`: a fresh version, recorded with the version
 * counter and the registry entry in `ops` (the same batch as the key's first members).
 */
export function createMeta(
  versions: VersionAllocator,
  key: Uint8Array,
  type: number,
  ops: WriteOp[],
): TypeMeta {
  const { version, op } = versions.allocate();
  ops.push(op, { type: "put", key: registryKey(version), value: key });
  return {
    type,
    version,
    size: 0,
    head: type === TYPE_LIST ? LIST_HEAD_INITIAL : 0,
    expireAtMs: 0,
    created: true,
  };
}

/** `0xFF 0x20 version`: the registry entry of a version. */
export function registryKey(version: number): Uint8Array {
  return versionPrefix(SPACE_TYPES_REGISTRY, version);
}

/** `0xFF space version(u64 BE)`: the prefix of every member of one key in one space. */
export function versionPrefix(space: number, version: number): Uint8Array {
  const key = allocBytes(10);
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = space;
  writeU64(key, 2, version);
  return key;
}

/** `0xFF space version member`. */
export function memberKey(space: number, version: number, member: Uint8Array): Uint8Array {
  const key = allocBytes(10 + member.length);
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = space;
  writeU64(key, 2, version);
  key.set(member, 10);
  return key;
}

/** `0xFF space version index` (both u64 BE): a list item. */
export function internalIndexKey(space: number, version: number, index: number): Uint8Array {
  const key = allocBytes(18);
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = space;
  writeU64(key, 2, version);
  writeU64(key, 10, index);
  return key;
}

/** The member part of a member key (a view, not a copy). */
export function memberOf(key: Uint8Array): Uint8Array {
  return key.subarray(10);
}

/** The version of an internal member key. */
export function versionOf(key: Uint8Array): number {
  return readU64(key, 2);
}

/** Writes `n` (0 ... 2^53 - 1) as a big-endian u64 at `offset`. */
export function writeU64(buf: Uint8Array, offset: number, n: number): void {
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  buf[offset] = hi >>> 24;
  buf[offset + 1] = (hi >>> 16) & 0xff;
  buf[offset + 2] = (hi >>> 8) & 0xff;
  buf[offset + 3] = hi & 0xff;
  buf[offset + 4] = lo >>> 24;
  buf[offset + 5] = (lo >>> 16) & 0xff;
  buf[offset + 6] = (lo >>> 8) & 0xff;
  buf[offset + 7] = lo & 0xff;
}

/** Reads a big-endian u64 written by `writeU64`. */
export function readU64(buf: Uint8Array, offset: number): number {
  const hi = ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) |
    buf[offset + 3]!) >>> 0;
  const lo = ((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) |
    buf[offset + 7]!) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

/** The end of the member range of `version` in `space` (the next version's prefix). */
export function versionEnd(space: number, version: number): Uint8Array {
  return versionPrefix(space, version + 1);
}

/**
 * Members of one key in `[start, end)` (default: all), ascending or descending, read in pages
 * with no await in between (the caller's read stays atomic). Yields `[internal key, value]`.
 */
export function* members(
  db: Database,
  space: number,
  version: number,
  options: { start?: Uint8Array | undefined; end?: Uint8Array | undefined; reverse?: boolean } = {},
): Generator<[Uint8Array, Uint8Array]> {
  let start = options.start ?? versionPrefix(space, version);
  let end = options.end ?? versionEnd(space, version);
  const reverse = options.reverse === true;
  while (true) {
    const rows = db.readRange({ start, end }, { limit: PAGE_MEMBERS, reverse });
    for (const row of rows) yield [row[0], row[1]];
    if (rows.length < PAGE_MEMBERS) return;
    const last = rows[rows.length - 1]![0];
    if (reverse) end = last;
    else start = successor(last);
  }
}

/** The smallest key after `key`: `key` followed by 0x00. */
export function successor(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

/**
 * Encodes a score so that unsigned byte order is numeric order: the f64's big-endian bits,
 * the sign bit flipped for positive numbers, every bit flipped for negative ones (-0 is
 * stored as 0; NaN is never stored).
 */
export function encodeScore(score: number, out: Uint8Array, offset: number): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, 8);
  view.setFloat64(0, score === 0 ? 0 : score);
  if (out[offset]! & 0x80) {
    for (let i = offset; i < offset + 8; i++) out[i] = ~out[i]! & 0xff;
  } else out[offset] = out[offset]! ^ 0x80;
}

/** Decodes an `encodeScore` encoding. */
export function decodeScore(buf: Uint8Array, offset: number): number {
  const b = buf.slice(offset, offset + 8);
  if (b[0]! & 0x80) b[0] = b[0]! ^ 0x80;
  else for (let i = 0; i < 8; i++) b[i] = ~b[i]! & 0xff;
  return new DataView(b.buffer).getFloat64(0);
}

/** Scratch of the score codecs: one f64 and its bytes (no DataView per call). */
const scratchF64 = new Float64Array(1);
const scratchBytes = new Uint8Array(scratchF64.buffer);
/** Byte `i` of a big-endian f64 is byte `i ^ flip` of the platform's own. */
const flip = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 7 : 0;

/** A score as the 8 bytes stored at a sorted-set member (f64 big-endian). */
export function scoreBytes(score: number): Uint8Array {
  scratchF64[0] = score;
  const b = allocBytes(8);
  for (let i = 0; i < 8; i++) b[i] = scratchBytes[i ^ flip]!;
  return b;
}

/** Reads the score stored at a sorted-set member. */
export function scoreFromBytes(value: Uint8Array): number {
  if (value.length !== 8) throw new CorruptionError("Cannot decode sorted-set score: not 8 bytes");
  for (let i = 0; i < 8; i++) scratchBytes[i ^ flip] = value[i]!;
  return scratchF64[0]!;
}
