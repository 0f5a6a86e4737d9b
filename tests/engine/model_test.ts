/**
 * Seeded model test (Pebble's metamorphic idea): random put/delete/batch/get/scan against a
 * plain `Map`, with flushes, compactions, expiry and close/reopen interleaved, across block
 * sizes, compression on and off, both file systems and both compaction styles. The same seed
 * must give the same answers in every configuration. After every operation the level
 * invariants hold (`checkLevels`). Prints the seed on failure; rerun with CITYHALL_SEED=….
 * CITYHALL_MODEL_OPS sets the total operation count (CI: ~20,000; `deno task test:long`).
 */

import { assertEquals } from "@std/assert";
import { Database, type DatabaseOptions, type WriteOp } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { compareBytes, fromBytes } from "../../src/util/bytes.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";

interface ModelEntry {
  value: string;
  expireAtMs: number;
}

const BASE_CONFIGS: { name: string; options: DatabaseOptions; realFs?: boolean }[] = [
  { name: "tiny blocks, compression", options: { blockSizeBytes: 64, compression: true } },
  { name: "256-byte blocks, no compression", options: { blockSizeBytes: 256, compression: false } },
  { name: "4 KiB blocks, no bloom", options: { blockSizeBytes: 4096, bloomBitsPerKey: 0 } },
  { name: "real files, 1 KiB blocks", options: { blockSizeBytes: 1024 }, realFs: true },
];
const CONFIGS = (["tiered", "leveled"] as const).flatMap((style) =>
  BASE_CONFIGS.map((c) => ({
    ...c,
    name: `${style}, ${c.name}`,
    options: { ...c.options, compactionStyle: style },
  }))
);

function keyFor(rng: Rng): string {
  // A small key space with shared prefixes, so that overwrites, deletes and prefix scans
  // collide often; some keys carry bytes ≥ 0x80 to check unsigned ordering.
  const group = rng.pick(["a", "ab", "b", "sensor.", "\u00e9", "z"]);
  return `${group}${rng.int(300).toString(36)}`;
}

function valueFor(rng: Rng, i: number): string {
  const size = rng.chance(0.05) ? 2000 + rng.int(3000) : rng.int(40);
  return `v${i}:` + "x".repeat(size);
}

function modelScan(
  model: Map<string, ModelEntry>,
  now: number,
  lo: Uint8Array | undefined,
  hi: Uint8Array | undefined,
  reverse: boolean,
  limit: number,
): [string, string][] {
  const enc = new TextEncoder();
  const live = [...model.entries()]
    .filter(([, e]) => e.expireAtMs === 0 || e.expireAtMs > now)
    .map(([k, e]) => [enc.encode(k), k, e.value] as const)
    .filter(([kb]) =>
      (lo === undefined || compareBytes(kb, lo) >= 0) &&
      (hi === undefined || compareBytes(kb, hi) < 0)
    )
    .sort((a, b) => compareBytes(a[0], b[0]));
  if (reverse) live.reverse();
  return live.slice(0, limit).map(([, k, v]) => [k, v]);
}

/**
 * The level invariants: no table listed twice; in the leveled style, no two tables of a level
 * ≥ 1 share a key. When `settled` (no compaction is due or running): level 0 holds fewer than
 * `levelTablesMax` tables, a deeper tiered level fewer runs (tables over one key), and every level n ≥ 1 at most
 * its target size (`levelTablesMax` memtables × 10^(n-1)).
 */
function checkLevels(db: Database, options: DatabaseOptions, op: number, settled: boolean) {
  const tables = db.tables();
  const numbers = new Set(tables.map((t) => t.fileNumber));
  assertEquals(numbers.size, tables.length, `op ${op}: a table listed twice`);
  const levels: (typeof tables)[] = [];
  for (const t of tables) (levels[t.level] ??= []).push(t);
  const leveled = options.compactionStyle === "leveled";
  const max = options.levelTablesMax!;
  for (let l = 0; l < levels.length; l++) {
    const level = (levels[l] ?? []).sort((a, b) => compareBytes(a.smallestKey, b.smallestKey));
    if (leveled && l >= 1) {
      for (let i = 1; i < level.length; i++) {
        if (compareBytes(level[i - 1]!.largestKey, level[i]!.smallestKey) >= 0) {
          throw new Error(
            `op ${op}: level ${l} tables ${level[i - 1]!.fileNumber} and ${
              level[i]!.fileNumber
            } overlap`,
          );
        }
      }
    }
    if (!settled) continue;
    if (l === 0 || !leveled) {
      const runs = l === 0 ? level.length : overlapDepth(level);
      if (runs >= max) throw new Error(`op ${op}: level ${l} holds ${runs} tables or runs`);
    } else {
      const bytes = level.reduce((n, t) => n + t.sizeBytes, 0);
      const target = max * options.memtableSizeBytesMax! * 10 ** (l - 1);
      if (bytes > target) throw new Error(`op ${op}: level ${l} holds ${bytes} > ${target}`);
    }
  }
}

/** The most tables holding any one key. */
function overlapDepth(tables: { smallestKey: Uint8Array; largestKey: Uint8Array }[]): number {
  const points: [Uint8Array, number][] = [];
  for (const t of tables) points.push([t.smallestKey, 1], [t.largestKey, -1]);
  points.sort((a, b) => compareBytes(a[0], b[0]) || b[1] - a[1]);
  let depth = 0;
  let max = 0;
  for (const [, d] of points) max = Math.max(max, depth += d);
  return max;
}

async function runModel(seed: number, ops: number, config: (typeof CONFIGS)[number]) {
  const rng = new Rng(seed);
  let now = 1_700_000_000_000;
  const fs = new FaultFs();
  const dir = config.realFs ? await Deno.makeTempDir({ prefix: "cityhall-model-" }) : "/db";
  const options: DatabaseOptions = {
    ...config.options,
    memtableSizeBytesMax: 8 * 1024,
    walSegmentSizeBytes: 16 * 1024,
    levelTablesMax: 3,
    // Small tables, so that levels hold several and leveled compactions pick among them.
    tableSizeBytesTarget: 16 * 1024,
    nowMs: () => now,
    ...(config.realFs ? { syncMode: "none" } : { fs }),
  };
  let db = await Database.open(dir, options);
  const model = new Map<string, ModelEntry>();
  const enc = new TextEncoder();
  try {
    for (let i = 0; i < ops; i++) {
      const roll = rng.int(1000);
      if (roll < 400) {
        const key = keyFor(rng);
        const value = valueFor(rng, i);
        const expireAtMs = rng.chance(0.1) ? now + 1 + rng.int(2000) : 0;
        await db.put(key, value, expireAtMs ? { expireAtMs } : {});
        model.set(key, { value, expireAtMs });
      } else if (roll < 520) {
        const key = keyFor(rng);
        await db.delete(key);
        model.delete(key);
      } else if (roll < 600) {
        const batch: WriteOp[] = [];
        const n = 1 + rng.int(20);
        for (let j = 0; j < n; j++) {
          const key = keyFor(rng);
          if (rng.chance(0.3)) batch.push({ type: "delete", key });
          else batch.push({ type: "put", key, value: valueFor(rng, i * 100 + j) });
        }
        await db.write(batch);
        for (const op of batch) {
          const key = op.key as string;
          if (op.type === "delete") model.delete(key);
          else model.set(key, { value: op.value as string, expireAtMs: 0 });
        }
      } else if (roll < 850) {
        const key = keyFor(rng);
        const got = await db.get(key);
        const want = model.get(key);
        const live = want && (want.expireAtMs === 0 || want.expireAtMs > now);
        assertEquals(
          got === undefined ? undefined : fromBytes(got),
          live ? want.value : undefined,
          `op ${i}: get ${key}`,
        );
      } else if (roll < 950) {
        const reverse = rng.chance(0.3);
        const limit = rng.chance(0.5) ? 1 + rng.int(30) : Infinity;
        let lo: Uint8Array | undefined;
        let hi: Uint8Array | undefined;
        const got: [string, string][] = [];
        if (rng.chance(0.5)) {
          const prefix = rng.pick(["a", "ab", "sensor.", "\u00e9", "", "q"]);
          const p = enc.encode(prefix);
          lo = p;
          hi = p.length ? Uint8Array.from([...p.slice(0, -1), p[p.length - 1]! + 1]) : undefined;
          for await (const [k, v] of db.scan({ prefix }, { reverse, limit })) {
            got.push([fromBytes(k), fromBytes(v)]);
          }
        } else {
          const a = keyFor(rng);
          const b = keyFor(rng);
          const [start, end] = compareBytes(enc.encode(a), enc.encode(b)) <= 0 ? [a, b] : [b, a];
          lo = enc.encode(start);
          hi = enc.encode(end);
          for await (const [k, v] of db.scan({ start, end }, { reverse, limit })) {
            got.push([fromBytes(k), fromBytes(v)]);
          }
        }
        assertEquals(got, modelScan(model, now, lo, hi, reverse, limit), `op ${i}: scan`);
      } else if (roll < 965) {
        now += rng.int(1500);
      } else if (roll < 980) {
        await db.flush();
        await db.idle();
        checkLevels(db, options, i, true);
      } else if (roll < 985) {
        await db.compact();
      } else if (roll < 990) {
        const a = enc.encode(keyFor(rng));
        const b = enc.encode(keyFor(rng));
        const [start, end] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
        await db.compactRange(start, end);
        checkLevels(db, options, i, false);
      } else {
        await db.close();
        db = await Database.open(dir, options);
      }
      checkLevels(db, options, i, false);
    }
    // Final full comparison after one more reopen.
    await db.close();
    db = await Database.open(dir, options);
    const all: [string, string][] = [];
    for await (const [k, v] of db.scan({})) all.push([fromBytes(k), fromBytes(v)]);
    assertEquals(all, modelScan(model, now, undefined, undefined, false, Infinity), "final scan");
  } finally {
    await db.close();
    if (config.realFs) await Deno.remove(dir, { recursive: true });
  }
}

const SEED = seedFromEnv();
const OPS = intFromEnv("CITYHALL_MODEL_OPS", 20_000);

for (const config of CONFIGS) {
  Deno.test(`Database matches a Map model: ${config.name}`, async () => {
    try {
      await runModel(SEED, Math.ceil(OPS / CONFIGS.length), config);
    } catch (err) {
      console.error(`model test failed: CITYHALL_SEED=${SEED} (${config.name})`);
      throw err;
    }
  });
}
