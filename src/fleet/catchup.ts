/**
 * Catch-up frames (CHUNKS, type 17; ARCHITECTURE.md § "Catch-up chunks"). A WAL record of a
 * time-series write carries each sample as ~10 bytes (a log SAMPLES entry: `svarint Δts`,
 * `f64 value`), and a sealed chunk repeats the samples the hub already got from them. When an
 * edge is behind, it sends CHUNKS instead of RECORDS: the same records, in which
 *
 * - the SAMPLES entries of plain sample records move to per-series chunks (the chunk codec of
 *   § "Chunk format", ~1 byte per sample) placed after a record, so the hub writes them in
 *   order with everything else;
 * - SEAL and STATE entries, state records (`ff 02`) and chunks sealed in the same record are
 *   replaced by an empty time-series log op (`ff 04` = `01`): the hub ignores them anyway, and
 *   an op keeps its place, so sequences stay what they are;
 * - any other record (a string key, metadata, a delete, a rewritten chunk) is a barrier: the
 *   samples gathered so far are placed before it and it is sent unchanged.
 *
 * Samples of one series at one timestamp keep the newest value, as the edge's head did.
 * With `ship: "rollups"` (`--uplink-ship rollups`) samples, deletes and chunks of raw series
 * (no downsampling rule feeds them) are replaced by empty log ops too, in RECORDS and CHUNKS
 * alike: over a metered link only rollups go; raw samples stay at the edge.
 *
 * @module
 */

import { decodeBatch, encodeBatch, type WalOp } from "../wal/format.ts";
import { type Entry, KIND_LOG, KIND_META } from "../util/entry.ts";
import { putVarint, varintLength } from "../util/coding.ts";
import {
  INTERNAL_KEY_PREFIX,
  internalKeyNumber,
  SPACE_TS_CHUNK,
  SPACE_TS_LOG,
  SPACE_TS_STATE,
  TYPE_TIMESERIES,
} from "../keyspace/mod.ts";
import { CATCHUP_CHUNK_SAMPLES_MAX } from "../limits.ts";
import { chunkHeader, encodeChunk } from "../timeseries/codec.ts";
import {
  decodeLog,
  encodeLog,
  ENTRY_DELETE,
  ENTRY_SAMPLES,
  ENTRY_SEAL,
  ENTRY_STATE,
  type LogEntry,
  TS_LOG_KEY,
} from "../timeseries/log.ts";
import { decodeSeriesMeta } from "../timeseries/meta.ts";

/** The value of an empty time-series log op: format 1, no entries. */
const EMPTY_LOG = encodeLog([]);

/** One group of chunks, applied after record `after` (0-based) of the frame. */
export interface ChunkGroup {
  after: number;
  chunks: { version: number; chunk: Uint8Array }[];
}

/** What to ship of the time series (`--uplink-ship`). */
export type ShipMode = "raw" | "rollups";

/** True when series `version` is a rollup (a rule feeds it); undefined when unknown. */
export type IsRollup = (version: number) => boolean | undefined;

function isSpace(key: Uint8Array, space: number): boolean {
  return key.length >= 2 && key[0] === INTERNAL_KEY_PREFIX && key[1] === space;
}

function emptyLogOp(): WalOp {
  return { kind: KIND_LOG, key: TS_LOG_KEY, value: EMPTY_LOG };
}

function toOp(e: Entry): WalOp {
  return e.expireAtMs === 0
    ? { kind: e.kind, key: e.key, value: e.value }
    : { kind: e.kind, key: e.key, value: e.value, expireAtMs: e.expireAtMs };
}

/**
 * Rollups mode: a record with the samples, deletes and chunks of raw series (and their
 * metadata) replaced by empty log ops; the record itself when nothing changes.
 */
export function rollupsOnly(payload: Uint8Array, isRollup: IsRollup): Uint8Array {
  const entries = decodeBatch(payload, 1);
  let changed = false;
  const raw = (v: number) => isRollup(v) === false;
  const ops = entries.map((e): WalOp => {
    if (e.kind === KIND_META && e.value[0] === TYPE_TIMESERIES) {
      try {
        if (decodeSeriesMeta(e.value).sourceVersion === 0) {
          changed = true;
          return emptyLogOp();
        }
      } catch { /* sent as it is; the hub counts it */ }
    } else if (e.kind === KIND_LOG && isSpace(e.key, SPACE_TS_LOG)) {
      const kept = decodeLog(e.value).filter((le) =>
        !((le.type === ENTRY_SAMPLES || le.type === ENTRY_DELETE) && raw(le.version))
      );
      changed = true;
      return { kind: KIND_LOG, key: TS_LOG_KEY, value: encodeLog(kept) };
    } else if (
      (isSpace(e.key, SPACE_TS_CHUNK) || isSpace(e.key, SPACE_TS_STATE)) &&
      e.key.length >= 10 && raw(internalKeyNumber(e.key, 2))
    ) {
      changed = true;
      return emptyLogOp();
    }
    return toOp(e);
  });
  return changed ? encodeBatch(ops) : payload;
}

/** Samples gathered for one series (timestamp → newest value). */
type Pending = Map<number, Map<number, number>>;

/**
 * Turns a frame's records into catch-up form: the new payloads (same op counts) and the chunk
 * groups to send after them.
 */
export function toCatchUp(payloads: readonly Uint8Array[]): {
  payloads: Uint8Array[];
  groups: ChunkGroup[];
} {
  const out: Uint8Array[] = [];
  const groups: ChunkGroup[] = [];
  let pending: Pending = new Map();
  const flush = (after: number) => {
    if (pending.size === 0 || after < 0) return;
    groups.push({ after, chunks: encodePending(pending) });
    pending = new Map();
  };
  for (const payload of payloads) {
    const entries = decodeBatch(payload, 1);
    const plan = planRecord(entries);
    if (plan === undefined) {
      flush(out.length - 1);
      out.push(payload);
      continue;
    }
    for (const s of plan.samples) {
      let series = pending.get(s.version);
      if (series === undefined) pending.set(s.version, series = new Map());
      for (let i = 0; i < s.ts.length; i++) series.set(s.ts[i]!, s.values[i]!);
    }
    out.push(encodeBatch(plan.ops));
  }
  flush(out.length - 1);
  return { payloads: out, groups };
}

/** A plain sample record's ops with its samples taken out, or undefined for a barrier. */
function planRecord(entries: readonly Entry[]):
  | {
    ops: WalOp[];
    samples: { version: number; ts: ArrayLike<number>; values: ArrayLike<number> }[];
  }
  | undefined {
  const seals = new Map<number, number>();
  const logs: LogEntry[][] = [];
  for (const e of entries) {
    if (e.kind === KIND_LOG && isSpace(e.key, SPACE_TS_LOG)) {
      let decoded: LogEntry[];
      try {
        decoded = decodeLog(e.value);
      } catch {
        return undefined;
      }
      for (const le of decoded) {
        if (le.type === ENTRY_SEAL) seals.set(le.version, le.throughTs);
        else if (le.type !== ENTRY_SAMPLES && le.type !== ENTRY_STATE) return undefined;
      }
      logs.push(decoded);
    }
  }
  const ops: WalOp[] = [];
  const samples: { version: number; ts: ArrayLike<number>; values: ArrayLike<number> }[] = [];
  let log = 0;
  for (const e of entries) {
    if (e.kind === KIND_LOG && isSpace(e.key, SPACE_TS_LOG)) {
      for (const le of logs[log++]!) {
        if (le.type === ENTRY_SAMPLES) samples.push(le);
      }
      ops.push(emptyLogOp());
    } else if (isSpace(e.key, SPACE_TS_STATE) && e.kind !== KIND_META) {
      ops.push(emptyLogOp());
    } else if (isSpace(e.key, SPACE_TS_CHUNK) && e.key.length === 18) {
      if (e.kind === KIND_LOG || e.value.length === 0) return undefined;
      if (e.kind === 0) {
        ops.push(toOp(e)); // a chunk tombstone: nothing at the hub, a few bytes
        continue;
      }
      let lastTs: number;
      try {
        lastTs = chunkHeader(e.value).lastTs;
      } catch {
        return undefined;
      }
      // Sealed now: head samples the hub gets from SAMPLES. Otherwise a rewrite: a barrier.
      if (seals.get(internalKeyNumber(e.key, 2)) !== lastTs) return undefined;
      ops.push(emptyLogOp());
    } else {
      return undefined;
    }
  }
  return { ops, samples };
}

function encodePending(pending: Pending): { version: number; chunk: Uint8Array }[] {
  const chunks: { version: number; chunk: Uint8Array }[] = [];
  for (const [version, samples] of pending) {
    const ts = [...samples.keys()].sort((a, b) => a - b);
    for (let i = 0; i < ts.length; i += CATCHUP_CHUNK_SAMPLES_MAX) {
      const part = ts.slice(i, i + CATCHUP_CHUNK_SAMPLES_MAX);
      const values = part.map((t) => samples.get(t)!);
      chunks.push({ version, chunk: encodeChunk(part, values, part.length) });
    }
  }
  return chunks;
}

/** Bytes `encodeGroups` writes. */
export function groupsBytes(groups: readonly ChunkGroup[]): number {
  let n = varintLength(groups.length);
  for (const g of groups) {
    n += varintLength(g.after) + varintLength(g.chunks.length);
    for (const c of g.chunks) {
      n += varintLength(c.version) + varintLength(c.chunk.length) + c.chunk.length;
    }
  }
  return n;
}

/** Writes the groups section of a CHUNKS body at `at`; the offset after it. */
export function encodeGroups(out: Uint8Array, at: number, groups: readonly ChunkGroup[]): number {
  at = putVarint(out, at, groups.length);
  for (const g of groups) {
    at = putVarint(out, at, g.after);
    at = putVarint(out, at, g.chunks.length);
    for (const c of g.chunks) {
      at = putVarint(out, at, c.version);
      at = putVarint(out, at, c.chunk.length);
      out.set(c.chunk, at);
      at += c.chunk.length;
    }
  }
  return at;
}
