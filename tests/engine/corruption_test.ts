/**
 * Corruption (LevelDB's corruption_test): flipped bytes in SSTables, WAL segments and the
 * manifest give `CorruptionError` — never a wrong value, never some other exception.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { CorruptionError, Database, type DatabaseOptions } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { Rng } from "../_helpers/random.ts";

const OPTIONS: DatabaseOptions = {
  memtableSizeBytesMax: 16 * 1024,
  walSegmentSizeBytes: 16 * 1024,
  blockSizeBytes: 512,
};

function valueOf(i: number): string {
  return `value-${i}-${"abcdefgh".repeat(i % 13)}`;
}

async function build(dir: string, n: number, options = OPTIONS): Promise<void> {
  const db = await Database.open(dir, options);
  for (let i = 0; i < n; i += 100) {
    await db.write(
      Array.from({ length: 100 }, (_, j) => ({
        type: "put" as const,
        key: `key-${String(i + j).padStart(5, "0")}`,
        value: valueOf(i + j),
      })),
    );
  }
  await db.close();
}

/** Reads every key; each answer must be right or a CorruptionError. Returns errors seen. */
async function readAll(db: Database, n: number): Promise<number> {
  let errors = 0;
  for (let i = 0; i < n; i++) {
    try {
      const got = await db.get(`key-${String(i).padStart(5, "0")}`);
      if (got !== undefined) assertEquals(fromBytes(got), valueOf(i));
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      errors++;
    }
  }
  try {
    for await (const [k, v] of db.scan({})) {
      const i = Number(fromBytes(k).slice(4));
      assertEquals(fromBytes(v), valueOf(i));
    }
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    errors++;
  }
  return errors;
}

Deno.test("Corruption: flipped bytes in an SSTable give CorruptionError or the right value", async () => {
  const dir = await Deno.makeTempDir();
  const n = 3000;
  await build(dir, n);
  {
    const db = await Database.open(dir, OPTIONS);
    await db.compact();
    await db.close();
  }
  const sst = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".sst"))!.name;
  const original = await Deno.readFile(`${dir}/${sst}`);
  const rng = new Rng(42);
  let detected = 0;
  for (let round = 0; round < 40; round++) {
    const bad = original.slice();
    // Sample every region: the first rounds hit the tail (footer, index, filter).
    const at = round < 10
      ? bad.length - 1 - rng.int(Math.min(400, bad.length))
      : rng.int(bad.length);
    bad[at] = bad[at]! ^ (1 << rng.int(8));
    await Deno.writeFile(`${dir}/${sst}`, bad);
    let db: Database;
    try {
      db = await Database.open(dir, OPTIONS);
    } catch (err) {
      assert(err instanceof CorruptionError, `open threw ${err}`);
      detected++;
      continue;
    }
    try {
      if ((await readAll(db, n)) > 0) detected++;
    } finally {
      await db.close();
    }
  }
  assert(detected > 20, `only ${detected} of 40 flips detected`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Corruption: a flipped byte inside an older WAL segment fails open with CorruptionError naming the file", async () => {
  const dir = await Deno.makeTempDir();
  // A memtable big enough that nothing is flushed: every segment stays.
  const options = { ...OPTIONS, memtableSizeBytesMax: 4 << 20 };
  await build(dir, 600, options);
  const segments = [...Deno.readDirSync(`${dir}/wal`)].map((e) => e.name)
    .filter((name) => name.endsWith(".wal")).sort();
  assert(segments.length >= 2, `need two segments, have ${segments.length}`);
  const path = `${dir}/wal/${segments[0]}`;
  const bytes = await Deno.readFile(path);
  bytes[100] = bytes[100]! ^ 0x10;
  await Deno.writeFile(path, bytes);
  const err = await assertRejects(() => Database.open(dir, options), CorruptionError);
  assert(err.message.includes(segments[0]!), err.message);
  await Deno.remove(dir, { recursive: true });
});

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

Deno.test("Corruption: a flipped byte in MANIFEST opens from MANIFEST.prev; both copies bad fail open with CorruptionError", async () => {
  const pristine = await Deno.makeTempDir();
  await build(pristine, 300);
  const bytes = await Deno.readFile(`${pristine}/MANIFEST`);
  const previous = await Deno.readFile(`${pristine}/MANIFEST.prev`);
  for (const at of [0, 9, 13, 17, 25, bytes.length - 1]) {
    const dir = await Deno.makeTempDir();
    await copyDir(pristine, dir);
    const bad = bytes.slice();
    bad[at] = bad[at]! ^ 0x04;
    await Deno.writeFile(`${dir}/MANIFEST`, bad);
    const badPrevious = previous.slice();
    const atPrevious = Math.min(at, previous.length - 1);
    badPrevious[atPrevious] = badPrevious[atPrevious]! ^ 0x04;
    await Deno.writeFile(`${dir}/MANIFEST.prev`, badPrevious);
    const err = await assertRejects(() => Database.open(dir, OPTIONS), CorruptionError);
    assert(/MANIFEST\.prev/.test(err.message) && /MANIFEST[^.]/.test(err.message), err.message);
    await Deno.writeFile(`${dir}/MANIFEST.prev`, previous);
    const db = await Database.open(dir, OPTIONS);
    assertEquals(await readAll(db, 300), 0);
    for (let i = 0; i < 300; i++) {
      const got = await db.get(`key-${String(i).padStart(5, "0")}`);
      assertEquals(got && fromBytes(got), valueOf(i), `offset ${at}, key ${i}`);
    }
    await db.close();
    // Both copies were rewritten from the previous one; the damaged bytes are kept aside.
    assertEquals(await Deno.readFile(`${dir}/MANIFEST.damaged`), bad);
    const again = await Database.open(dir, OPTIONS);
    assertEquals(fromBytes((await again.get("key-00299"))!), valueOf(299));
    await again.close();
    await Deno.remove(dir, { recursive: true });
  }
  await Deno.remove(pristine, { recursive: true });
});
