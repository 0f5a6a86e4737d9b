import { assert, assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";

Deno.test({
  name:
    "Database.open() makes a manifest renamed by a crashed process durable before building on it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fs = new FaultFs();
    const first = await Database.open("/db", { fs });
    await first.put("a", "1");
    await first.flush();
    await first.put("b", "2");
    // The next flush writes its table (2 syncs) and the manifest (file sync, rename) and then
    // dies before the directory sync that makes the rename durable: a kill -9 at that moment.
    fs.failAfter({ sync: 4 });
    await first.flush().catch(() => {});
    fs.heal();
    fs.processCrash();
    // A new process sees the renamed manifest in the page cache and builds on it.
    const second = await Database.open("/db", { fs });
    await second.put("c", "3");
    fs.powerLoss();
    const third = await Database.open("/db", { fs });
    for (const [k, v] of [["a", "1"], ["b", "2"], ["c", "3"]]) {
      const got = await third.get(k!);
      assert(got !== undefined, `${k} lost`);
      assertEquals(fromBytes(got!), v);
    }
    await third.close();
  },
});

Deno.test({
  name: "Database flush never records in the manifest a write whose WAL record is not durable",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fs = new FaultFs();
    // A pin (as a replica's) keeps every segment, so a hole in the log would be seen.
    const options = { fs, retentionPins: () => ({ pinnedSeqs: [0] }) };
    const db = await Database.open("/db", options);
    await db.put("a", "1");
    // The WAL dies under the process (FaultFs: its open handles fail) while later file
    // operations still work: "b" reaches the memtable, its group commit will fail, and a flush
    // writes a new table and manifest.
    fs.powerLoss();
    const pending = db.put("b", "2");
    const flushing = db.flush();
    await flushing.catch(() => {});
    await pending.catch(() => {});
    await db.close().catch(() => {});
    // Had the manifest covered "b" (never durable in the WAL), the log would have a hole under
    // the next segment and the third open would fail.
    const second = await Database.open("/db", options);
    await second.put("c", "3");
    await second.close();
    const third = await Database.open("/db", options);
    assertEquals(fromBytes((await third.get("c"))!), "3");
    assertEquals(fromBytes((await third.get("a"))!), "1");
    await third.close();
  },
});
