/**
 * The bulk write path: one series' run of samples from one request written in one go
 * (ARCHITECTURE.md § "Time-series write path", its bulk runs). The result is exactly that of
 * calling `writeSample` for each sample in order -- the same head bytes, the same log entries,
 * the same seals at the same samples -- but the samples newer than the series' newest one are
 * appended to the head and to the batch's SAMPLES entry as a run, not one call chain each.
 * Samples that are not plain appends (upserts, duplicates, samples of a series with IGNORE
 * options or compaction rules) go through `writeSample` one by one.
 *
 * @module
 */

import type { Batch } from "./batch.ts";
import type { DuplicatePolicy } from "./meta.ts";
import type { Series } from "./series_set.ts";
import { maybeSeal, TsError, tsError, writeSample } from "./write.ts";

/**
 * Writes samples `ts[from ... to)` / `values[from ... to)` of `series` in order under `override`
 * (ON_DUPLICATE). A sample `writeSample` refuses is passed to `refuse` with its index and
 * error and the others are written; anything else thrown propagates. Returns the number of
 * samples written (refused ones excluded). Timestamps must already be valid (safe, >= 0).
 * `replies`, when given, receives at index `i` what `writeSample` returns for sample `i` (its
 * timestamp, or the newest one when IGNORE dropped it): TS.MADD's reply.
 */
export function writeRun(
  b: Batch,
  series: Series,
  ts: Float64Array,
  values: Float64Array,
  from: number,
  to: number,
  override: DuplicatePolicy | undefined,
  refuse: (i: number, err: TsError) => void,
  replies?: Float64Array,
): number {
  const meta = series.meta;
  // IGNORE compares each sample with the newest one and rules close buckets per sample: both
  // stay on the one-sample path.
  const plain = meta.rules.length === 0 && meta.ignoreMaxTimeDiffMs === 0 &&
    meta.ignoreMaxValDiff === 0;
  let written = 0;
  let i = from;
  while (i < to) {
    if (plain) {
      // The longest run of appends that does not pass the next seal.
      let last = series.lastTs;
      const room = Math.max(1, series.chunkSamples - series.head.count);
      const stop = Math.min(to, i + room);
      let j = i;
      while (j < stop && ts[j]! > last) last = ts[j++]!;
      if (j > i) {
        b.headAppendRun(series, ts, values, i, j);
        if (b.written !== undefined) noteRun(b, series, ts, values, i, j);
        if (replies !== undefined) { for (let k = i; k < j; k++) replies[k] = ts[k]!; }
        maybeSeal(b, series);
        written += j - i;
        i = j;
        continue;
      }
    }
    try {
      const reply = writeSample(b, series, ts[i]!, values[i]!, override);
      if (replies !== undefined) replies[i] = reply;
      written++;
    } catch (err) {
      if (!(err instanceof TsError)) throw err;
      refuse(i, err);
    }
    i++;
  }
  return written;
}

/** Keeps a run's samples for the store's `SampleListener` (as `writeSample` does). */
function noteRun(
  b: Batch,
  series: Series,
  ts: Float64Array,
  values: Float64Array,
  from: number,
  to: number,
): void {
  const written = b.written!;
  let list = written.get(series);
  if (list === undefined) written.set(series, list = []);
  for (let i = from; i < to; i++) list.push({ timestampMs: ts[i]!, value: values[i]! });
}

/** A TS.MADD sample: the key, the timestamp (undefined for `*`) and the value. */
export interface MaddSample {
  /** Series key. */
  key: Uint8Array;
  /** Timestamp, Unix ms; undefined takes `now`. */
  ts?: number | undefined;
  /** Value. */
  value: number;
}

/** TS.MADD's samples as columns (what the RESP handler parses into: no object per sample). */
export interface MaddColumns {
  /** Samples. */
  n: number;
  /** The command's distinct keys, in order of first appearance (`KeyIds.keys`). */
  keys: readonly Uint8Array[];
  /** Index in `keys` of sample `i`'s key (unused where `errors[i]` is set). */
  keyOf: Int32Array;
  /** Timestamp of sample `i`, Unix ms; -1 takes `now` (`*`). */
  ts: Float64Array;
  /** Value of sample `i`. */
  values: Float64Array;
  /** Samples already refused (bad arguments), by index; undefined when none. */
  errors: readonly (TsError | undefined)[] | undefined;
}

/** What `writeMadd` answers per sample: its timestamp, or its error. */
export interface MaddReplies {
  /** Reply of sample `i` where `errors[i]` is unset. */
  replies: Float64Array;
  /** Refusals by index; undefined when none. */
  errors: (TsError | undefined)[] | undefined;
}

/** `writeMadd`'s working columns, reused (it runs to completion before the next call). */
interface MaddScratch {
  groupOf: Int32Array;
  ts: Float64Array;
  values: Float64Array;
  index: Int32Array;
  got: Float64Array;
  replies: Float64Array;
  /** Per key id: its group, -1 for no series, -2 before its lookup. */
  groupOfKey: Int32Array;
  /** Per group: its samples, then where its next sample goes. */
  counts: Int32Array;
  offsets: Int32Array;
}

/** Samples the reused columns hold at most; larger commands get their own. */
const MADD_SCRATCH_SAMPLES_MAX = 4096;
let maddScratch: MaddScratch | undefined;

/**
 * Columns for `n` samples. Fresh arrays per command were a fifth of what TS.MADD's store path
 * allocated (malloc'ed backing stores the GC must free); one set is kept for commands of up to
 * `MADD_SCRATCH_SAMPLES_MAX` samples.
 */
function scratchFor(n: number): MaddScratch {
  const fresh = (size: number): MaddScratch => ({
    groupOf: new Int32Array(size),
    ts: new Float64Array(size),
    values: new Float64Array(size),
    index: new Int32Array(size),
    got: new Float64Array(size),
    replies: new Float64Array(size),
    groupOfKey: new Int32Array(size),
    counts: new Int32Array(size),
    offsets: new Int32Array(size + 1),
  });
  if (n > MADD_SCRATCH_SAMPLES_MAX) return fresh(n);
  if (maddScratch === undefined || maddScratch.ts.length < n) {
    maddScratch = fresh(Math.min(MADD_SCRATCH_SAMPLES_MAX, Math.max(n, 512)));
  }
  return maddScratch;
}

/** Slots of a fresh `KeyIds` table (a power of two; grown to keep it at most half full). */
const KEY_SLOTS_MIN = 16;

/**
 * Numbers a command's keys by their bytes, in order of first appearance, without a string per
 * sample: an open-addressing table of the bytes' hash (linear probing) in typed arrays that
 * live as long as the instance. A slot belongs to the current command when its generation is
 * the instance's: `reset` starts a command by bumping the generation, so it clears nothing and
 * allocates nothing (a `Map` cleared per command regrew its table for every command's keys,
 * and those tables were a sixth of what a TS.MADD server promoted to the old generation).
 * TS.MADD's samples name a few series many times over (500 samples of 20 series).
 */
export class KeyIds {
  /** Key of each id (views of the bytes given to `id`). */
  readonly keys: Uint8Array[] = [];
  /** Id in each slot, valid where `#gens` holds `#gen`. */
  #slots = new Int32Array(KEY_SLOTS_MIN);
  #gens = new Int32Array(KEY_SLOTS_MIN);
  #gen = 1;
  /** Ids answered so far, in order (for the guesses of `id`). */
  #order = new Int32Array(64);
  #asked = 0;

  /** Forgets every key (a reused instance numbers the next command's keys from 0). */
  reset(): void {
    this.keys.length = 0;
    this.#asked = 0;
    if (this.#gen === 0x7fffffff) {
      this.#gens.fill(0);
      this.#gen = 0;
    }
    this.#gen++;
  }

  /**
   * The id of the key `src[from, to)`; a new key is kept as a view of `src`. Before hashing it
   * tries the two layouts clients send: the same key as the last sample (each series' samples
   * together) and the key of one round earlier (round robin over the series seen so far). A
   * guess is confirmed byte by byte, so it only saves the hash and the table lookup.
   */
  id(src: Uint8Array, from: number, to: number): number {
    const asked = this.#asked;
    let order = this.#order;
    let id = -1;
    if (asked > 0) {
      const last = order[asked - 1]!;
      const round = asked - this.keys.length;
      if (this.#is(last, src, from, to)) id = last;
      else if (round >= 0 && this.#is(order[round]!, src, from, to)) id = order[round]!;
    }
    if (id < 0) id = this.#lookup(src, from, to);
    if (asked === order.length) {
      const grown = new Int32Array(2 * asked);
      grown.set(order);
      this.#order = order = grown;
    }
    order[asked] = id;
    this.#asked = asked + 1;
    return id;
  }

  /** True when key `id` is `src[from, to)`. */
  #is(id: number, src: Uint8Array, from: number, to: number): boolean {
    const k = this.keys[id]!;
    const n = to - from;
    if (k.length !== n) return false;
    // From the end: keys of one client usually differ in their last bytes (`sensor:17`).
    for (let i = n - 1; i >= 0; i--) if (k[i] !== src[from + i]) return false;
    return true;
  }

  #lookup(src: Uint8Array, from: number, to: number): number {
    const slots = this.#slots;
    const gens = this.#gens;
    const gen = this.#gen;
    const mask = slots.length - 1;
    for (let s = hashBytes(src, from, to) & mask;; s = (s + 1) & mask) {
      if (gens[s] !== gen) {
        const id = this.keys.length;
        this.keys.push(src.subarray(from, to));
        gens[s] = gen;
        slots[s] = id;
        if (2 * (id + 1) > slots.length) this.#grow();
        return id;
      }
      const id = slots[s]!;
      if (this.#is(id, src, from, to)) return id;
    }
  }

  /** Doubles the table, placing the current command's keys again. */
  #grow(): void {
    const size = 2 * this.#slots.length;
    const slots = new Int32Array(size);
    const gens = new Int32Array(size);
    const mask = size - 1;
    const gen = this.#gen;
    const keys = this.keys;
    for (let id = 0; id < keys.length; id++) {
      const k = keys[id]!;
      let s = hashBytes(k, 0, k.length) & mask;
      while (gens[s] === gen) s = (s + 1) & mask;
      gens[s] = gen;
      slots[s] = id;
    }
    this.#slots = slots;
    this.#gens = gens;
  }
}

/** FNV-1a (32 bits) of `src[from, to)`, as an int32. */
function hashBytes(src: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ src[i]!, 0x01000193);
  return h;
}

/** Columns of `MaddSample | TsError` items (the store API's shape). */
export function maddColumns(samples: readonly (MaddSample | TsError)[]): MaddColumns {
  const n = samples.length;
  const ids = new KeyIds();
  const keyOf = new Int32Array(n);
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  let errors: (TsError | undefined)[] | undefined;
  for (let i = 0; i < n; i++) {
    const s = samples[i]!;
    if (s instanceof TsError) {
      (errors ??= [])[i] = s;
      continue;
    }
    keyOf[i] = ids.id(s.key, 0, s.key.length);
    ts[i] = s.ts ?? -1;
    values[i] = s.value;
  }
  return { n, keys: ids.keys, keyOf, ts, values, errors };
}

/**
 * TS.MADD's samples in one batch, with the replies of writing them one by one in order:
 * each sample's series is looked up once per key (`find`; undefined -> "not a TSDB key"), then
 * each series' samples are written as one run (`writeRun`) in the order series first appear.
 * Series are independent, so this is the per-sample result -- unless a series has compaction
 * rules, whose destinations other samples of the command may also write: then the samples go
 * one by one in command order. Samples already refused (bad arguments) keep their error.
 * The replies' array is reused by the next call: read it before.
 */
export function writeMadd(
  b: Batch,
  cols: MaddColumns,
  now: number,
  find: (key: Uint8Array) => Series | undefined,
): MaddReplies {
  const n = cols.n;
  const given = cols.errors;
  let errors: (TsError | undefined)[] | undefined = given === undefined ? undefined : [...given];
  const scratch = scratchFor(Math.max(n, cols.keys.length));
  const replies = scratch.replies.length === n ? scratch.replies : scratch.replies.subarray(0, n);
  // Group (series in order of first appearance) of each key id, -1 when it is no series, -2
  // before its lookup. Distinct keys are distinct series (TS.MADD creates none).
  const groupOfKey = scratch.groupOfKey;
  groupOfKey.fill(-2, 0, cols.keys.length);
  const groups: Series[] = [];
  const counts = scratch.counts;
  // Group of each sample; -1 when it is already answered.
  const groupOf = scratch.groupOf;
  let rules = false;
  for (let i = 0; i < n; i++) {
    if (given !== undefined && given[i] !== undefined) {
      groupOf[i] = -1;
      continue;
    }
    const k = cols.keyOf[i]!;
    let g = groupOfKey[k]!;
    if (g === -2) {
      let series: Series | undefined;
      try {
        series = find(cols.keys[k]!);
      } catch (err) {
        if (!(err instanceof TsError)) throw err;
      }
      g = -1;
      if (series !== undefined) {
        g = groups.length;
        groups.push(series);
        counts[g] = 0;
        if (series.meta.rules.length > 0) rules = true;
      }
      groupOfKey[k] = g;
    }
    if (g < 0) {
      (errors ??= [])[i] = tsError("TSDB: the key is not a TSDB key");
      groupOf[i] = -1;
      continue;
    }
    groupOf[i] = g;
    counts[g]!++;
  }
  // Each series' samples together (a stable counting sort), as columns; `counts` becomes
  // where each group's next sample goes.
  const groupCount = groups.length;
  const offsets = scratch.offsets;
  offsets[0] = 0;
  for (let g = 0; g < groupCount; g++) {
    offsets[g + 1] = offsets[g]! + counts[g]!;
    counts[g] = offsets[g]!;
  }
  const total = offsets[groupCount]!;
  const { ts, values, index } = scratch;
  const cts = cols.ts;
  const cvalues = cols.values;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const g = groupOf[i]!;
    if (g < 0) continue;
    const k = rules ? at++ : counts[g]!++;
    // Two stores, not `t < 0 ? now : t`: a phi of the parameter and the loaded double made
    // a heap number per sample.
    const t = cts[i]!;
    if (t < 0) ts[k] = now;
    else ts[k] = t;
    values[k] = cvalues[i]!;
    index[k] = i;
  }
  const got = scratch.got;
  const refuse = (k: number, err: TsError) => {
    (errors ??= [])[index[k]!] = err;
  };
  if (rules) {
    // Sample by sample, in command order (`index` is then ascending).
    for (let k = 0; k < total; k++) {
      writeRun(b, groups[groupOf[index[k]!]!]!, ts, values, k, k + 1, undefined, refuse, got);
    }
  } else {
    for (let g = 0; g < groupCount; g++) {
      writeRun(b, groups[g]!, ts, values, offsets[g]!, offsets[g + 1]!, undefined, refuse, got);
    }
  }
  for (let k = 0; k < total; k++) replies[index[k]!] = got[k]!;
  return { replies, errors };
}
