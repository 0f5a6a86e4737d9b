/**
 * Leveled compaction, as LevelDB and RocksDB do it. Level 0 holds whole flushed memtables
 * (their key ranges may overlap); every deeper level is one sorted run of tables with disjoint
 * key ranges, and level n may hold `levelBaseBytes × 10^(n-1)` bytes. A score says how urgent
 * each level is (level 0: tables ÷ `levelTablesMax`; level n: bytes ÷ its target); the level
 * with the highest score >= 1 is compacted:
 * - level 0: every level-0 table, with the level-1 tables their keys overlap;
 * - level n >= 1: one table (round robin over the key space, from where the last one of that
 *   level ended), with the level n + 1 tables it overlaps.
 * When nothing in the next level overlaps the inputs and the inputs do not overlap each other,
 * the compaction is a trivial move: a manifest edit, no bytes rewritten (time-ordered keys,
 * such as sensor data, mostly move). ARCHITECTURE.md § "Compaction styles".
 *
 * @module
 */

import { LSM_LEVELS_MAX } from "../limits.ts";
import { type LiveTable, rangesOverlap, type Version } from "../manifest/version.ts";
import { compareBytes } from "../util/bytes.ts";
import type { CompactionPicker, CompactionPlan } from "./picker.ts";

/** Each level may hold this many times the bytes of the level above it. */
export const LEVEL_SIZE_MULTIPLIER = 10;

/** The leveled style's picker. */
export class LeveledPicker implements CompactionPicker {
  readonly style = "leveled" as const;
  readonly #l0Trigger: number;
  readonly #baseBytes: number;
  /** Per level, the largest key of the last table compacted from it (round robin). */
  readonly #pointers: (Uint8Array | undefined)[] = [];

  /**
   * `l0Trigger`: level-0 tables that start a level-0 compaction; `baseBytes`: target size of
   * level 1.
   */
  constructor(l0Trigger: number, baseBytes: number) {
    this.#l0Trigger = l0Trigger;
    this.#baseBytes = baseBytes;
  }

  /** Target size of level `level` >= 1. */
  targetBytes(level: number): number {
    return this.#baseBytes * LEVEL_SIZE_MULTIPLIER ** (level - 1);
  }

  /** Each level's score (index = level); >= 1 means it needs a compaction. */
  scores(version: Version): number[] {
    const out: number[] = [version.level(0).length / this.#l0Trigger];
    for (let l = 1; l < version.depth; l++) {
      // The deepest allowed level has nowhere to go.
      out.push(l >= LSM_LEVELS_MAX - 1 ? 0 : version.levelBytes(l) / this.targetBytes(l));
    }
    return out;
  }

  /** The compaction of the level with the highest score >= 1. */
  pick(version: Version): CompactionPlan | undefined {
    // A level whose tables overlap (a tree written by the tiered style) is merged down whole
    // first: the level invariant must hold before anything is picked by key ranges.
    for (let l = 1; l < version.depth; l++) {
      if (version.order(l) !== "keys" && version.level(l).length > 1) {
        const inputs = [...version.level(l)];
        return this.#withNextLevel(version, inputs, l, `level ${l} overlaps itself`);
      }
    }
    const scores = this.scores(version);
    let best = -1;
    for (let l = 0; l < scores.length; l++) {
      if (scores[l]! >= 1 && (best < 0 || scores[l]! > scores[best]!)) best = l;
    }
    if (best < 0) return undefined;
    const reason = `level ${best} score ${scores[best]!.toFixed(2)}`;
    if (best === 0) return this.#withNextLevel(version, [...version.level(0)], 0, reason);
    const tables = version.level(best);
    const pointer = this.#pointers[best];
    const chosen =
      (pointer === undefined
        ? undefined
        : tables.find((t) => compareBytes(t.meta.smallestKey, pointer) > 0)) ?? tables[0]!;
    this.#pointers[best] = chosen.meta.largestKey;
    return this.#withNextLevel(version, [chosen], best, reason);
  }

  /**
   * Adds the tables of level `level + 1` that hold one of the inputs' keys in their range; a
   * trivial move when no table of that level overlaps the inputs' range at all. A table whose
   * range lies within the inputs' range but holds none of their keys (several time-ordered
   * series: each flush appends to every series, between the next level's tables) stays, and
   * becomes a fence the outputs are cut at, instead of being rewritten.
   */
  #withNextLevel(
    version: Version,
    inputs: LiveTable[],
    level: number,
    reason: string,
  ): CompactionPlan {
    let smallest = inputs[0]!.meta.smallestKey;
    let largest = inputs[0]!.meta.largestKey;
    for (const t of inputs) {
      if (compareBytes(t.meta.smallestKey, smallest) < 0) smallest = t.meta.smallestKey;
      if (compareBytes(t.meta.largestKey, largest) > 0) largest = t.meta.largestKey;
    }
    const next = version.overlapping(level + 1, smallest, largest);
    if (next.length === 0 && disjoint(inputs)) {
      return { inputs, outputLevel: level + 1, trivialMove: true, reason };
    }
    const included: LiveTable[] = [];
    const fences: Uint8Array[] = [];
    for (const t of next) {
      if (inputs.some((i) => holdsKeyIn(i, t.meta.smallestKey, t.meta.largestKey))) {
        included.push(t);
      } else fences.push(t.meta.smallestKey);
    }
    fences.sort(compareBytes);
    return {
      inputs: [...inputs, ...included],
      outputLevel: level + 1,
      trivialMove: false,
      reason,
      alignRuns: true,
      ...(fences.length > 0 ? { fences } : {}),
    };
  }

  /** The deepest level, at least 1: a full compaction leaves one sorted run there. */
  fullCompactionLevel(version: Version): number {
    return Math.max(1, version.depth - 1);
  }
}

/** True when `t` holds a key in `[lo, hi]` (one index seek; no data block is cached). */
function holdsKeyIn(t: LiveTable, lo: Uint8Array, hi: Uint8Array): boolean {
  if (!rangesOverlap(t.meta.smallestKey, t.meta.largestKey, lo, hi)) return false;
  const it = t.table.iterator({ fillCache: false });
  it.seek(lo);
  return it.valid() && compareBytes(it.entry().key, hi) <= 0;
}

/** True when no two of `tables` share a key range. */
function disjoint(tables: readonly LiveTable[]): boolean {
  const sorted = [...tables].sort((a, b) => compareBytes(a.meta.smallestKey, b.meta.smallestKey));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!.meta;
    const b = sorted[i]!.meta;
    if (rangesOverlap(a.smallestKey, a.largestKey, b.smallestKey, b.largestKey)) return false;
  }
  return true;
}
