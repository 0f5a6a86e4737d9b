/**
 * The compaction policy's interface: given the live tables, which compaction (if any) runs
 * next. Two styles implement it, `tiered.ts` and `leveled.ts`; `job.ts` runs what they pick.
 * ARCHITECTURE.md § "Compaction styles".
 *
 * @module
 */

import type { LiveTable, Version } from "../manifest/version.ts";

/** The compaction styles `Database.open` accepts. */
export type CompactionStyle = "leveled" | "tiered";

/** One compaction to run. */
export interface CompactionPlan {
  /** Tables to merge (or move), from any levels. */
  inputs: LiveTable[];
  /** Level the outputs go to. */
  outputLevel: number;
  /**
   * Move the inputs to `outputLevel` by a manifest edit alone, without rewriting them (their
   * key ranges are disjoint from each other and from every table of `outputLevel`).
   */
  trivialMove: boolean;
  /** Why it was picked (logs). */
  reason: string;
  /**
   * Smallest keys of the output level's tables that stay (they hold none of the inputs'
   * keys, though their ranges lie between them), ascending: the outputs are cut at each, so
   * that the level stays disjoint.
   */
  fences?: Uint8Array[];
  /**
   * Also cut the outputs where a long run of keys from the output level's inputs meets a long
   * run from the level above (`table_writer.ts`): the next level's tables then end where new
   * time-ordered keys will arrive, and the next compaction leaves them in place.
   */
  alignRuns?: boolean;
}

/** Picks the next compaction. */
export interface CompactionPicker {
  /** The style's name. */
  readonly style: CompactionStyle;
  /** The most urgent compaction, or `undefined` when the tree needs none. */
  pick(version: Version): CompactionPlan | undefined;
  /**
   * Where a full compaction (`compact()`) writes: every table merged into one sorted run at
   * this level.
   */
  fullCompactionLevel(version: Version): number;
}
