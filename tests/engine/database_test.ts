/**
 * Database API behaviour: scans across long runs of tombstones, scans while writes land,
 * read-your-writes ordering, closed handles, stats.
 */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { ClosedError, Database } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";

async function keysOf(it: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of it) out.push(fromBytes(k));
  return out;
}

Deno.test("Database.scan() skips runs of tombstones longer than its decode chunk", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), memtableSizeBytesMax: 64 * 1024 });
  const key = (i: number) => `k${String(i).padStart(5, "0")}`;
  for (let i = 0; i < 2000; i += 500) {
    await db.write(
      Array.from(
        { length: 500 },
        (_, j) => ({ type: "put" as const, key: key(i + j), value: "v" }),
      ),
    );
  }
  // Delete 1,000 keys in a row, half flushed to a table and half in the memtable.
  await db.write(
    Array.from({ length: 500 }, (_, j) => ({ type: "delete" as const, key: key(500 + j) })),
  );
  await db.flush();
  await db.write(
    Array.from({ length: 500 }, (_, j) => ({ type: "delete" as const, key: key(1000 + j) })),
  );
  const keys = await keysOf(db.scan({ prefix: "k" }));
  assertEquals(keys.length, 1000);
  assertEquals(keys[499], key(499));
  assertEquals(keys[500], key(1500));
  const reversed = await keysOf(db.scan({ prefix: "k" }, { reverse: true }));
  assertEquals(reversed, [...keys].reverse());
  assertEquals(await keysOf(db.scan({ start: key(400), end: key(1600) }, { limit: 150 })), [
    ...keys.slice(400, 500),
    ...keys.slice(500, 550),
  ]);
  await db.close();
});

Deno.test("Database.scan() sees every key that exists throughout, once, while writes land", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), memtableSizeBytesMax: 16 * 1024 });
  const stable = Array.from({ length: 3000 }, (_, i) => `s${String(i).padStart(5, "0")}`);
  for (const k of stable) await db.put(k, "v");
  const seen: string[] = [];
  let n = 0;
  for await (const [k] of db.scan({ prefix: "s" })) {
    seen.push(fromBytes(k));
    // Writes interleave with the scan: new keys ahead and behind, overwrites, flushes.
    if (++n % 100 === 0) {
      await db.put(`s${String(n * 2).padStart(5, "0")}x`, "new");
      await db.put(stable[n % stable.length]!, "overwritten");
      if (n % 1000 === 0) await db.flush();
    }
  }
  const stableSeen = seen.filter((k) => !k.endsWith("x"));
  assertEquals(stableSeen, stable);
  assertEquals(new Set(seen).size, seen.length);
  await db.close();
});

Deno.test("Database: a write is visible to getEntry as soon as write() returns", async () => {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const pending = db.put("k", "v1");
  assertEquals(fromBytes(db.getEntry("k")!.value), "v1");
  await pending;
  assertEquals(db.stats().puts, 1);
  await db.close();
  assertThrows(() => db.getEntry("k"), ClosedError);
  await assertRejects(() => db.put("k", "v"), ClosedError);
});
