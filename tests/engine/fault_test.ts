/**
 * Failure injection: a failed fsync or write is fatal (writes are refused afterwards, never
 * retried and continued), and reopening loses nothing that was acknowledged. Also the
 * directory lock and the limits at and past each edge.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { Database, InvalidArgumentError, IoError, limits, LockedError } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { runDeno } from "../_helpers/child.ts";

for (const kind of ["sync", "write"] as const) {
  Deno.test(`Database refuses writes after an injected ${kind} failure and loses nothing acknowledged`, async () => {
    for (let failAt = 1; failAt <= 12; failAt++) {
      const fs = new FaultFs();
      const db = await Database.open("/db", {
        fs,
        memtableSizeBytesMax: 2048,
        walSegmentSizeBytes: 4096,
      });
      const acked: string[] = [];
      fs.failAfter({ [kind]: failAt });
      let failed = false;
      for (let i = 0; i < 200; i++) {
        const writes = Array.from({ length: 4 }, (_, j) => {
          const key = `k${i}-${j}`;
          return db.put(key, `v${i}-${j}`).then(() => acked.push(key), () => {
            failed = true;
          });
        });
        await Promise.all(writes);
        if (failed) break;
      }
      assert(failed, `failAt ${failAt}: no write failed`);
      await assertRejects(() => db.put("after", "x"), IoError);
      assert(db.stats().fatalError !== undefined, "stats report the fatal error");
      fs.heal();
      await db.close();
      fs.powerLoss();
      const reopened = await Database.open("/db", { fs });
      for (const key of acked) {
        const got = await reopened.get(key);
        assertEquals(got && fromBytes(got), `v${key.slice(1)}`, `failAt ${failAt}: ${key}`);
      }
      assertEquals(await reopened.get("after"), undefined);
      await reopened.close();
    }
  });
}

Deno.test("Database.open() fails with LockedError while another handle holds the directory", async () => {
  const dir = await Deno.makeTempDir();
  const db = await Database.open(dir);
  await assertRejects(() => Database.open(dir), LockedError);
  await db.close();
  const again = await Database.open(dir);
  await again.close();
  // And from a second process.
  const holder = await Database.open(dir);
  const probe = await runDeno(
    [
      "eval",
      `import { Database } from "${new URL("../../src/mod.ts", import.meta.url).href}";
       try { await Database.open(${JSON.stringify(dir)}); console.log("opened"); }
       catch (e) { console.log(e.name); }`,
    ],
    { stderr: "inherit" },
  );
  assertEquals(probe.stdout.trim(), "LockedError");
  await holder.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Database limits: at each edge accepted, past it InvalidArgumentError and nothing written", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs, syncMode: "none" });
  const key = (n: number) => new Uint8Array(n).fill(0x61);
  await db.put(key(limits.KEY_SIZE_BYTES_MAX), "ok");
  await assertRejects(() => db.put(key(limits.KEY_SIZE_BYTES_MAX + 1), "x"), InvalidArgumentError);
  await db.put("big", new Uint8Array(limits.VALUE_SIZE_BYTES_MAX));
  await assertRejects(
    () => db.put("too-big", new Uint8Array(limits.VALUE_SIZE_BYTES_MAX + 1)),
    InvalidArgumentError,
  );
  assertEquals(await db.get("too-big"), undefined);
  const ops = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `b${i}`, value: "v" }));
  await db.write(ops(limits.BATCH_OPS_MAX));
  await assertRejects(
    () => db.write(ops(limits.BATCH_OPS_MAX + 1).map((op) => ({ ...op, key: `c${op.key}` }))),
    InvalidArgumentError,
  );
  assertEquals(await db.get("cb0"), undefined);
  // Byte limit: 5 values of 16 MiB = 80 MiB > 64 MiB; nothing of the batch lands.
  const huge = new Uint8Array(limits.VALUE_SIZE_BYTES_MAX);
  await assertRejects(
    () =>
      db.write(
        Array.from({ length: 5 }, (_, i) => ({ type: "put" as const, key: `h${i}`, value: huge })),
      ),
    InvalidArgumentError,
  );
  assertEquals(await db.get("h0"), undefined);
  await assertRejects(() => db.put("t", "v", { expireAtMs: -1 }), InvalidArgumentError);
  await assertRejects(() => db.put("t", "v", { expireAtMs: 1.5 }), InvalidArgumentError);
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => db.write([{ type: "merge", key: "k" } as any]), InvalidArgumentError);
  await db.close();
});

Deno.test("Database: an expired entry is invisible and compacted away", async () => {
  let now = 1_000_000;
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs, nowMs: () => now });
  await db.put("ttl", "v", { expireAtMs: now + 100 });
  await db.put("keep", "v");
  assertEquals(fromBytes((await db.get("ttl"))!), "v");
  now += 100;
  assertEquals(await db.get("ttl"), undefined);
  await db.compact();
  assertEquals(db.stats().sstableEntries, 1);
  const keys: string[] = [];
  for await (const [k] of db.scan({})) keys.push(fromBytes(k));
  assertEquals(keys, ["keep"]);
  await db.close();
});
