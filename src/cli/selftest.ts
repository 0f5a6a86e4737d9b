/**
 * `cityhall selftest`: opens a database in a fresh temporary directory, writes, reads, scans,
 * flushes, compacts, reopens and checks every answer. It proves that a build (a compiled
 * binary or the one-file bundle) carries the whole engine: nothing is read from the source
 * tree at run time.
 *
 * @module
 */

import { Database } from "../engine/mod.ts";
import { fromBytes } from "../util/bytes.ts";

/** Runs the self-test; returns the process exit code. */
export async function selftest(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-selftest-" });
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
  };
  try {
    let db = await Database.open(dir, { memtableSizeBytesMax: 64 * 1024 });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      writes.push(db.put(`sensor.site1.temp.${String(i).padStart(6, "0")}`, String(20 + i % 7)));
    }
    await Promise.all(writes);
    await db.delete("sensor.site1.temp.000000");
    await db.flush();
    await db.compact();
    check(fromBytes((await db.get("sensor.site1.temp.000001"))!) === "21", "get after compact");
    check((await db.get("sensor.site1.temp.000000")) === undefined, "deleted key is gone");
    let n = 0;
    for await (const _ of db.scan({ prefix: "sensor.site1." })) n++;
    check(n === 1999, `scan count ${n} != 1999`);
    await db.close();
    db = await Database.open(dir);
    check(fromBytes((await db.get("sensor.site1.temp.001999"))!) === "24", "get after reopen");
    await db.close();
  } catch (err) {
    failures.push(String(err));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  if (failures.length > 0) {
    console.error(`selftest failed: ${failures.join("; ")}`);
    return 1;
  }
  console.log("selftest ok");
  return 0;
}
