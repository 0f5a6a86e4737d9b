/**
 * The DUMP/RESTORE payload: Redis 7.0's serialization of one value (an RDB object), followed by
 * the RDB version and a CRC-64. ARCHITECTURE.md § "DUMP payload".
 *
 * DUMP writes the plain encodings every Redis since 2.x loads (string, list, set, sorted set with
 * binary scores, hash), so its payloads RESTORE into Redis 7.0 as they do here. RESTORE also
 * reads the compact encodings Redis 7.0 itself writes: integer and LZF strings, intsets,
 * listpacks and quicklists of listpacks. Older ziplist encodings (Redis ≤ 6.2) are refused.
 *
 * Written here, not taken from a library: no kept JavaScript package reads RDB objects, and the
 * parts are small (length prefixes, LZF, listpack, CRC-64 Jones). Every read is bounds-checked
 * and a payload must be consumed exactly; anything else is `Bad data format`.
 *
 * @module
 */

import {
  bad,
  crc64,
  DumpPayloadError,
  lzfDecompress,
  RdbIn as In,
  RdbOut as Out,
} from "./_rdb_io.ts";

import {
  decodeSeriesValue,
  encodeSeriesValue,
  RDB_TYPE_MODULE_2,
  type SeriesDump,
} from "./dump_series.ts";

export { crc64, DumpPayloadError, lzfDecompress };

/** What one payload holds. */
export type DumpValue =
  | { type: "string"; value: Uint8Array }
  | { type: "list"; items: Uint8Array[] }
  | { type: "set"; members: Uint8Array[] }
  | { type: "zset"; items: { member: Uint8Array; score: number }[] }
  | { type: "hash"; pairs: [Uint8Array, Uint8Array][] }
  | { type: "series"; series: SeriesDump };

/** The RDB version Redis 7.0 writes and the newest this reads. */
export const RDB_VERSION = 10;

const RDB_TYPE_STRING = 0;
const RDB_TYPE_LIST = 1;
const RDB_TYPE_SET = 2;
const RDB_TYPE_ZSET = 3;
const RDB_TYPE_HASH = 4;
const RDB_TYPE_ZSET_2 = 5;
const RDB_TYPE_SET_INTSET = 11;
const RDB_TYPE_HASH_LISTPACK = 16;
const RDB_TYPE_ZSET_LISTPACK = 17;
const RDB_TYPE_LIST_QUICKLIST_2 = 18;

const QUICKLIST_NODE_PLAIN = 1;
const QUICKLIST_NODE_PACKED = 2;

// ---------------------------------------------------------------- writing

/**
 * The DUMP payload of `value` (stored under `key`, which a time series' payload names): the
 * object, RDB version 10 (LE u16), CRC-64 (LE u64).
 */
export function encodeDump(value: DumpValue, key: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Out();
  switch (value.type) {
    case "string":
      out.byte(RDB_TYPE_STRING);
      out.string(value.value);
      break;
    case "list":
      out.byte(RDB_TYPE_LIST);
      out.len(value.items.length);
      for (const it of value.items) out.string(it);
      break;
    case "set":
      out.byte(RDB_TYPE_SET);
      out.len(value.members.length);
      for (const m of value.members) out.string(m);
      break;
    case "zset":
      out.byte(RDB_TYPE_ZSET_2);
      out.len(value.items.length);
      for (const it of value.items) {
        out.string(it.member);
        out.doubleLE(it.score);
      }
      break;
    case "hash":
      out.byte(RDB_TYPE_HASH);
      out.len(value.pairs.length);
      for (const [f, v] of value.pairs) {
        out.string(f);
        out.string(v);
      }
      break;
    case "series":
      encodeSeriesValue(out, key, value.series);
      break;
  }
  out.byte(RDB_VERSION & 0xff);
  out.byte(RDB_VERSION >> 8);
  const body = out.done();
  const crc = crc64(body);
  const payload = new Uint8Array(body.length + 8);
  payload.set(body);
  for (let i = 0; i < 8; i++) payload[body.length + i] = Number((crc >> BigInt(8 * i)) & 0xffn);
  return payload;
}

// ---------------------------------------------------------------- reading

/** The elements of a listpack (strings, integers as their decimal text). */
export function listpackEntries(lp: Uint8Array): Uint8Array[] {
  if (lp.length < 7) bad("listpack header");
  const view = new DataView(lp.buffer, lp.byteOffset, lp.length);
  if (view.getUint32(0, true) !== lp.length) bad("listpack size");
  const count = view.getUint16(4, true);
  const out: Uint8Array[] = [];
  const enc = new TextEncoder();
  let p = 6;
  const need = (n: number) => {
    if (p + n > lp.length) bad("listpack entry past the end");
  };
  while (true) {
    need(1);
    const b = lp[p]!;
    if (b === 0xff) break;
    const start = p;
    let value: Uint8Array;
    if ((b & 0x80) === 0) {
      value = enc.encode(String(b & 0x7f));
      p += 1;
    } else if ((b & 0xc0) === 0x80) {
      const n = b & 0x3f;
      need(1 + n);
      value = lp.slice(p + 1, p + 1 + n);
      p += 1 + n;
    } else if ((b & 0xe0) === 0xc0) {
      need(2);
      let v = ((b & 0x1f) << 8) | lp[p + 1]!;
      if (v >= 1 << 12) v -= 1 << 13;
      value = enc.encode(String(v));
      p += 2;
    } else if ((b & 0xf0) === 0xe0) {
      need(2);
      const n = ((b & 0x0f) << 8) | lp[p + 1]!;
      need(2 + n);
      value = lp.slice(p + 2, p + 2 + n);
      p += 2 + n;
    } else if (b === 0xf0) {
      need(5);
      const n = view.getUint32(p + 1, true);
      need(5 + n);
      value = lp.slice(p + 5, p + 5 + n);
      p += 5 + n;
    } else if (b === 0xf1) {
      need(3);
      value = enc.encode(String(view.getInt16(p + 1, true)));
      p += 3;
    } else if (b === 0xf2) {
      need(4);
      const v = (lp[p + 1]! | (lp[p + 2]! << 8) | (lp[p + 3]! << 16)) << 8 >> 8;
      value = enc.encode(String(v));
      p += 4;
    } else if (b === 0xf3) {
      need(5);
      value = enc.encode(String(view.getInt32(p + 1, true)));
      p += 5;
    } else if (b === 0xf4) {
      need(9);
      value = enc.encode(String(view.getBigInt64(p + 1, true)));
      p += 9;
    } else return bad("listpack encoding");
    const entryLen = p - start;
    const backlen = entryLen < 128
      ? 1
      : entryLen < 16384
      ? 2
      : entryLen < 2097152
      ? 3
      : entryLen < 268435456
      ? 4
      : 5;
    need(backlen);
    p += backlen;
    out.push(value);
  }
  if (p !== lp.length - 1) bad("listpack end");
  // 65535 means "count unknown": the walk decides.
  if (count !== 0xffff && count !== out.length) bad("listpack count");
  return out;
}

/** The elements of an intset blob (`u32 encoding, u32 length, ints`, little-endian). */
function intsetEntries(blob: Uint8Array): Uint8Array[] {
  if (blob.length < 8) bad("intset header");
  const view = new DataView(blob.buffer, blob.byteOffset, blob.length);
  const width = view.getUint32(0, true);
  const n = view.getUint32(4, true);
  if ((width !== 2 && width !== 4 && width !== 8) || blob.length !== 8 + width * n) bad("intset");
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const at = 8 + i * width;
    const v = width === 2
      ? view.getInt16(at, true)
      : width === 4
      ? view.getInt32(at, true)
      : view.getBigInt64(at, true);
    out.push(enc.encode(String(v)));
  }
  return out;
}

function parseScore(b: Uint8Array): number {
  const s = new TextDecoder().decode(b);
  const v = s === "inf" || s === "+inf" ? Infinity : s === "-inf" ? -Infinity : Number(s);
  if (Number.isNaN(v) || s.trim() !== s || s === "") bad("score");
  return v;
}

/** Refuses a payload whose members repeat (Redis's RESTORE does too). */
function distinct(members: Uint8Array[], what: string): void {
  const seen = new Set<string>();
  for (const m of members) {
    let id = "";
    for (let i = 0; i < m.length; i++) id += String.fromCharCode(m[i]!);
    if (seen.has(id)) bad(`duplicate ${what}`);
    seen.add(id);
  }
}

function pairsOf(entries: Uint8Array[], what: string): [Uint8Array, Uint8Array][] {
  if (entries.length % 2 !== 0) bad(`odd ${what} listpack`);
  const out: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < entries.length; i += 2) out.push([entries[i]!, entries[i + 1]!]);
  return out;
}

/**
 * Checks the footer (RDB version ≤ 10, CRC-64) and decodes the object. Throws
 * `DumpPayloadError`: `version` for the footer, `format` for the body (unknown type, empty
 * collection, duplicate members, anything truncated or left over).
 */
export function decodeDump(payload: Uint8Array): DumpValue {
  if (payload.length < 10) {
    throw new DumpPayloadError("version", "DUMP payload version or checksum are wrong");
  }
  const end = payload.length - 10;
  const version = payload[end]! | (payload[end + 1]! << 8);
  let stored = 0n;
  for (let i = 7; i >= 0; i--) stored = (stored << 8n) | BigInt(payload[end + 2 + i]!);
  if (version > RDB_VERSION || crc64(payload.subarray(0, end + 2)) !== stored) {
    throw new DumpPayloadError("version", "DUMP payload version or checksum are wrong");
  }
  const r = new In(payload, end);
  const type = r.byte();
  let value: DumpValue;
  switch (type) {
    case RDB_TYPE_STRING:
      value = { type: "string", value: r.string() };
      break;
    case RDB_TYPE_LIST: {
      const n = r.count();
      const items: Uint8Array[] = [];
      for (let i = 0; i < n; i++) items.push(r.string());
      value = { type: "list", items };
      break;
    }
    case RDB_TYPE_LIST_QUICKLIST_2: {
      const nodes = r.count();
      const items: Uint8Array[] = [];
      for (let i = 0; i < nodes; i++) {
        const container = r.len();
        const blob = r.string();
        if (container === QUICKLIST_NODE_PLAIN) items.push(blob);
        else if (container === QUICKLIST_NODE_PACKED) {
          const entries = listpackEntries(blob);
          if (entries.length === 0) bad("empty quicklist node");
          items.push(...entries);
        } else bad("quicklist container");
      }
      value = { type: "list", items };
      break;
    }
    case RDB_TYPE_SET: {
      const n = r.count();
      const members: Uint8Array[] = [];
      for (let i = 0; i < n; i++) members.push(r.string());
      distinct(members, "set member");
      value = { type: "set", members };
      break;
    }
    case RDB_TYPE_SET_INTSET: {
      const members = intsetEntries(r.string());
      distinct(members, "set member");
      value = { type: "set", members };
      break;
    }
    case RDB_TYPE_ZSET:
    case RDB_TYPE_ZSET_2: {
      const n = r.count();
      const items: { member: Uint8Array; score: number }[] = [];
      for (let i = 0; i < n; i++) {
        const member = r.string();
        const score = type === RDB_TYPE_ZSET_2 ? r.doubleLE() : r.asciiDouble();
        if (Number.isNaN(score)) bad("NaN score");
        items.push({ member, score });
      }
      distinct(items.map((it) => it.member), "sorted set member");
      value = { type: "zset", items };
      break;
    }
    case RDB_TYPE_ZSET_LISTPACK: {
      const items = pairsOf(listpackEntries(r.string()), "sorted set").map(([member, s]) => ({
        member,
        score: parseScore(s),
      }));
      distinct(items.map((it) => it.member), "sorted set member");
      value = { type: "zset", items };
      break;
    }
    case RDB_TYPE_HASH: {
      const n = r.count();
      const pairs: [Uint8Array, Uint8Array][] = [];
      for (let i = 0; i < n; i++) pairs.push([r.string(), r.string()]);
      distinct(pairs.map((p) => p[0]), "hash field");
      value = { type: "hash", pairs };
      break;
    }
    case RDB_TYPE_HASH_LISTPACK: {
      const pairs = pairsOf(listpackEntries(r.string()), "hash");
      distinct(pairs.map((p) => p[0]), "hash field");
      value = { type: "hash", pairs };
      break;
    }
    case RDB_TYPE_MODULE_2:
      value = { type: "series", series: decodeSeriesValue(r) };
      break;
    default:
      return bad(`object type ${type}`);
  }
  if (r.pos !== end) bad("trailing bytes");
  if (value.type === "series") return value; // an empty series is a series
  const size = value.type === "string"
    ? 1
    : value.type === "list"
    ? value.items.length
    : value.type === "set"
    ? value.members.length
    : value.type === "zset"
    ? value.items.length
    : value.pairs.length;
  if (size === 0) bad("empty key");
  return value;
}
