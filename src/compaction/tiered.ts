/**
 * Tiered compaction (size-tiered, as Cassandra's STCS or RocksDB's universal style in their
 * simplest form): once level 0 holds `levelTablesMax` tables, or a deeper level holds
 * `levelTablesMax` sorted runs over some key (its overlap depth), the whole level is merged
 * into one new run of the next level. Runs, not tables, count below level 0: one run split
 * into many tables must not cascade down through every level. Every table is rewritten about once per level, so the write
 * amplification is about the number of levels; reads may probe one table per run.
 * ARCHITECTURE.md § "Compaction styles".
 *
 * @module
 */

import { LSM_LEVELS_MAX } from "../limits.ts";
import { overlapDepth, type Version } from "../manifest/version.ts";
import type { CompactionPicker, CompactionPlan } from "./picker.ts";

/** The tiered style's picker. */
export class TieredPicker implements CompactionPicker {
  readonly style = "tiered" as const;
  readonly #levelTablesMax: number;

  /** `levelTablesMax`: tables a level holds before it is merged into the next one. */
  constructor(levelTablesMax: number) {
    this.#levelTablesMax = levelTablesMax;
  }

  /** The shallowest level holding `levelTablesMax` tables or runs, merged whole into the next. */
  pick(version: Version): CompactionPlan | undefined {
    // The deepest allowed level has nowhere to go.
    for (let l = 0; l < Math.min(version.depth, LSM_LEVELS_MAX - 1); l++) {
      const tables = version.level(l);
      const runs = l === 0 ? tables.length : overlapDepth(tables);
      if (runs >= this.#levelTablesMax) {
        return {
          inputs: [...tables],
          outputLevel: l + 1,
          trivialMove: false,
          reason: `level ${l} holds ${runs} ${l === 0 ? "tables" : "runs"}`,
        };
      }
    }
    return undefined;
  }

  /** The deepest level (a one-level tree stays at level 0). */
  fullCompactionLevel(version: Version): number {
    return Math.max(0, version.depth - 1);
  }
}
