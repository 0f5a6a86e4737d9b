/**
 * A database laid out so that each key lives in exactly one readable place: keys 0..2999 only
 * in tables (several, small blocks), 3000..3049 in the newest table and the WAL (the previous
 * manifest copy needs those records), 3050..3199 only in the WAL, spread over several small
 * segments. A damaged part then loses exactly the keys it held, which the tests compute from
 * the pristine files.
 */

import { assertEquals } from "@std/assert";
import { Database, type DatabaseOptions } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";

/** Keys written. */
export const KEYS = 3200;
/** The first key that lives only in the WAL. */
export const FIRST_WAL_ONLY_KEY = 3050;

/** Options of the test database. */
export const OPTIONS: DatabaseOptions = {
  memtableSizeBytesMax: 32 * 1024,
  walSegmentSizeBytes: 4096,
  blockSizeBytes: 256,
  autoCompaction: false,
};

/** Key i. */
export function keyOf(i: number): string {
  return `key-${String(i).padStart(5, "0")}`;
}

/** Value of key i. */
export function valueOf(i: number): string {
  return `value-${i}-${"abcdefgh".repeat(i % 7)}`;
}

/** Builds the database described in the module comment in `dir`. */
export async function buildDatabase(dir: string): Promise<void> {
  const db = await Database.open(dir, OPTIONS);
  const put = async (from: number, to: number) => {
    for (let i = from; i < to; i += 50) {
      await db.write(
        Array.from({ length: Math.min(50, to - i) }, (_, j) => ({
          type: "put" as const,
          key: keyOf(i + j),
          value: valueOf(i + j),
        })),
      );
    }
  };
  await put(0, 3000);
  await db.flush();
  await put(3000, FIRST_WAL_ONLY_KEY);
  await db.flush();
  // One put per record: a damaged record loses one key.
  for (let i = FIRST_WAL_ONLY_KEY; i < KEYS; i++) await db.put(keyOf(i), valueOf(i));
  await db.close();
}

/** Every file under `dir` with its bytes: to prove a tool changed nothing. */
export async function snapshotDir(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out.set(p, await Deno.readFile(p));
    }
  };
  await walk(dir);
  return out;
}

/** Asserts that `dir` holds exactly the files and bytes of `before`. */
export async function assertUnchanged(dir: string, before: Map<string, Uint8Array>) {
  const after = await snapshotDir(dir);
  assertEquals([...after.keys()].sort(), [...before.keys()].sort(), "same files");
  for (const [path, bytes] of before) assertEquals(after.get(path), bytes, `${path} unchanged`);
}

/** Copies a directory tree. */
export async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Flips one bit of the byte at `offset` (negative: from the end) of `path`. */
export async function flipByte(path: string, offset: number, bit = 0x10): Promise<number> {
  const bytes = await Deno.readFile(path);
  const at = offset < 0 ? bytes.length + offset : offset;
  bytes[at] = bytes[at]! ^ bit;
  await Deno.writeFile(path, bytes);
  return at;
}

/** Index of a key name. */
export function indexOf(key: string): number {
  return Number(key.slice(4));
}

/** The key strings of an export's entries. */
export function keysOf(entries: { key: Uint8Array }[]): string[] {
  return entries.map((e) => fromBytes(e.key));
}
