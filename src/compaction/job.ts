/**
 * Runs one compaction plan: merge the inputs -> decide each entry (shadowed versions, tombstones,
 * the compaction filters) -> write new tables -> one manifest edit -> swap them into the
 * `Version`. A trivial move is the manifest edit alone. ARCHITECTURE.md § "Compaction styles"
 * and § "Compaction filters".
 *
 * Crash safety: the new tables are durable before the manifest that lists them is written, and
 * the inputs are deleted only after a manifest without them is durable (and `MANIFEST.prev`
 * no longer lists them either: they are handed back as `retiring`). Anything that fails
 * before the manifest write, a filter that throws included, removes the new files and leaves
 * the inputs live: nothing is half applied.
 *
 * @module
 */

import { joinPath } from "../fs/mod.ts";
import { type ManifestState, tableFileName } from "../manifest/mod.ts";
import type { LiveTable, Version } from "../manifest/version.ts";
import { compareBytes } from "../util/bytes.ts";
import { type Entry, type EntryIterator, isDeadAt, KIND_DELETE } from "../util/entry.ts";
import type { CompactionFilterContext, CompactionFilters } from "./filter.ts";
import { MergeIterator } from "./merge_iterator.ts";
import type { CompactionPlan } from "./picker.ts";
import { DROP, type EntryVerdict, type TableWriterContext, writeTables } from "./table_writer.ts";

/** What a compaction needs from the database. */
export interface CompactionJobContext {
  /** Where and how new tables are written. */
  writer: TableWriterContext;
  /** The live tables. */
  version: Version;
  /** The registered compaction filters. */
  filters: CompactionFilters;
  /** The clock (Unix milliseconds). */
  nowMs: () => number;
  /**
   * Durably replaces the manifest with `change(current)`, serialized with every other manifest
   * write; `retiring` are tables the change drops (deleted once no manifest copy lists them).
   */
  commitManifest(
    change: (current: ManifestState) => ManifestState,
    retiring: readonly LiveTable[],
  ): Promise<ManifestState>;
}

/** What one compaction did. */
export interface CompactionResult {
  /** Bytes of the tables it read (0 for a move). */
  bytesRead: number;
  /** Bytes of the tables it wrote (0 for a move). */
  bytesWritten: number;
  /** Tables it wrote (or moved). */
  outputs: number;
  /** True for a trivial move. */
  moved: boolean;
}

const EMPTY = new Uint8Array(0);

/** Runs `plan`. Throws (leaving the inputs live and no new file behind) when it cannot. */
export async function runCompaction(
  plan: CompactionPlan,
  ctx: CompactionJobContext,
): Promise<CompactionResult> {
  if (plan.trivialMove) return await move(plan, ctx);
  const { inputs, outputLevel } = plan;
  const { version } = ctx;
  const inputNumbers = new Set(inputs.map((t) => t.meta.fileNumber));
  let shallowest = outputLevel;
  for (const t of inputs) shallowest = Math.min(shallowest, t.meta.level);
  // Tables that may hold older versions of the inputs' keys: a key dropped here must leave a
  // tombstone while one of them may hold it.
  const older: LiveTable[] = [];
  for (let l = shallowest; l < version.depth; l++) {
    for (const t of version.level(l)) if (!inputNumbers.has(t.meta.fileNumber)) older.push(t);
  }
  version.hold(inputs);
  try {
    // One pass over the inputs must not push the readers' hot blocks out of the cache.
    let source = 0;
    const children = inputs.map((t): EntryIterator => {
      const it = t.table.iterator({ fillCache: false });
      if (!plan.alignRuns) return it;
      const tag = t.meta.level === outputLevel ? 1 : 0;
      return new SourceTagged(it, tag, (s) => source = s);
    });
    const merged = new MergeIterator(children);
    merged.seekToFirst();
    const nowMs = ctx.nowMs();
    const filterContext: CompactionFilterContext = {
      nowMs,
      outputLevel,
      bottommost: older.length === 0,
    };
    const mayBeShadowed = (key: Uint8Array) =>
      older.some((t) =>
        compareBytes(key, t.meta.smallestKey) >= 0 &&
        compareBytes(key, t.meta.largestKey) <= 0 && t.table.mayContain(key)
      );
    const dropped = (e: Entry): EntryVerdict => {
      if (!mayBeShadowed(e.key)) return DROP;
      if (e.kind === KIND_DELETE) return undefined;
      return { key: e.key, seq: e.seq, kind: KIND_DELETE, expireAtMs: 0, value: EMPTY };
    };
    const outputs = await writeTables(
      ctx.writer,
      merged,
      outputLevel,
      (e) => {
        if (isDeadAt(e, nowMs) && e.kind === KIND_DELETE) return dropped(e);
        const kept = ctx.filters.apply(e, filterContext);
        if (kept === undefined) return dropped(e);
        return kept === e ? undefined : kept;
      },
      plan.fences,
      plan.alignRuns ? () => source : undefined,
    );
    try {
      // The inputs are retired, not deleted: MANIFEST.prev lists them until the next write.
      await ctx.commitManifest((m) => ({
        ...m,
        tables: [
          ...m.tables.filter((t) => !inputNumbers.has(t.fileNumber)),
          ...outputs.map((t) => t.meta),
        ],
      }), inputs);
    } catch (err) {
      for (const t of outputs) {
        t.table.close();
        try {
          ctx.writer.fs.remove(joinPath(ctx.writer.dir, tableFileName(t.meta.fileNumber)));
        } catch { /* a stray: removed at the next open */ }
      }
      throw err;
    }
    version.apply(inputNumbers, outputs);
    let bytesRead = 0;
    for (const t of inputs) bytesRead += t.meta.sizeBytes;
    let bytesWritten = 0;
    for (const t of outputs) bytesWritten += t.meta.sizeBytes;
    return { bytesRead, bytesWritten, outputs: outputs.length, moved: false };
  } finally {
    version.release(inputs);
  }
}

/** A trivial move: the inputs change level in the manifest; no file is written or deleted. */
async function move(plan: CompactionPlan, ctx: CompactionJobContext): Promise<CompactionResult> {
  const level = plan.outputLevel;
  const moved = new Set(plan.inputs.map((t) => t.meta.fileNumber));
  await ctx.commitManifest((m) => ({
    ...m,
    tables: m.tables.map((t) => moved.has(t.fileNumber) ? { ...t, level } : t),
  }), []);
  // The same objects move, so the references scans hold on them stay counted.
  for (const t of plan.inputs) t.meta = { ...t.meta, level };
  ctx.version.apply(moved, plan.inputs);
  return { bytesRead: 0, bytesWritten: 0, outputs: plan.inputs.length, moved: true };
}

/**
 * Passes `inner` through and reports `tag` whenever its entry is read: the merge reads the
 * winning child's entry last, so the report names the source of the entry being written.
 */
class SourceTagged implements EntryIterator {
  readonly #inner: EntryIterator;
  readonly #tag: number;
  readonly #report: (tag: number) => void;

  constructor(inner: EntryIterator, tag: number, report: (tag: number) => void) {
    this.#inner = inner;
    this.#tag = tag;
    this.#report = report;
  }

  valid(): boolean {
    return this.#inner.valid();
  }

  entry(): Entry {
    this.#report(this.#tag);
    return this.#inner.entry();
  }

  seekToFirst(): void {
    this.#inner.seekToFirst();
  }

  seekToLast(): void {
    this.#inner.seekToLast();
  }

  seek(target: Uint8Array): void {
    this.#inner.seek(target);
  }

  seekForPrev(target: Uint8Array): void {
    this.#inner.seekForPrev(target);
  }

  next(): void {
    this.#inner.next();
  }

  prev(): void {
    this.#inner.prev();
  }
}
