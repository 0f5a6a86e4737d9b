/**
 * Two-op batches (a member type's member and metadata record) take `_write_two.ts`'s path,
 * which reuses its op objects: the WAL records it writes must be the batch path's, byte for
 * byte, and what it applies, counts and refuses the same. The batch path is forced on a twin
 * database by a write guard (a guarded write never takes a fast path).
 */

import { assertEquals, assertRejects } from "@std/assert";
import { Database, type WriteOp } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { VALUE_SIZE_BYTES_MAX } from "../../src/limits.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { writeStats, writeTwins } from "./_twin.ts";

const DIR = "/db";

const b = (s: string) => toBytes(s);

/** Two-op batches of every shape the fast path takes, and some it hands on. */
function batches(): WriteOp[][] {
  const far = Date.now() + 3_600_000;
  return [
    [{ type: "put", key: b("\xffitem1"), value: b("VXK") }, {
      type: "meta",
      key: b("mylist"),
      value: b("\x04abc"),
    }],
    [{ type: "delete", key: b("\xffitem1") }, { type: "meta", key: b("mylist"), value: b("m") }],
    [{ type: "put", key: b("k1"), value: b("v1"), expireAtMs: far }, {
      type: "meta",
      key: b("k2"),
      value: new Uint8Array(300).fill(7),
      expireAtMs: far,
    }],
    [{ type: "delete", key: b("k1") }, { type: "delete", key: b("k2") }],
    [{ type: "put", key: b("a"), value: new Uint8Array(0) }, {
      type: "put",
      key: b("a"),
      value: b("second wins"),
    }],
    // Handed on to the batch path: a string key, a log op.
    [{ type: "put", key: "s1", value: b("x") }, { type: "meta", key: b("s2"), value: "y" }],
    [{ type: "log", key: b("l"), value: b("x") }, { type: "put", key: b("p"), value: b("q") }],
  ];
}

Deno.test("Two-op writes: the WAL bytes, entries and stats equal the batch path's", async () => {
  const { fast, slow, fastFs } = await writeTwins(DIR, batches());
  for (const key of ["\xffitem1", "mylist", "k1", "k2", "a", "s1", "s2", "p"]) {
    assertEquals(fast.getEntry(key), slow.getEntry(key), key);
  }
  assertEquals(writeStats(fast), writeStats(slow));
  await fast.close();
  await slow.close();
  // Recovery reads the same records back.
  const reopened = await Database.open(DIR, { fs: fastFs });
  assertEquals(reopened.getEntry("a")?.value, b("second wins"));
  assertEquals(reopened.getEntry("mylist")?.value, b("m"));
  assertEquals(reopened.getEntry("\xffitem1"), undefined);
  await reopened.close();
});

Deno.test("Two-op writes: a batch over a limit is refused as by the batch path, nothing applied", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  const before = db.lastSeq;
  const big = new Uint8Array(VALUE_SIZE_BYTES_MAX + 1);
  await assertRejects(
    () =>
      db.write([{ type: "put", key: b("m1"), value: b("x") }, {
        type: "meta",
        key: b("k"),
        value: big,
      }]),
    InvalidArgumentError,
    "Value too large",
  );
  await assertRejects(
    () =>
      db.write([{ type: "put", key: b("m1"), value: b("x") }, {
        type: "meta",
        key: b("k"),
        value: b("v"),
        expireAtMs: -1,
      }]),
    InvalidArgumentError,
    "Invalid expireAtMs",
  );
  assertEquals(db.lastSeq, before);
  assertEquals(db.getEntry("m1"), undefined);
  // The scratch ops hold nothing of a refused batch: the next write is whole.
  await db.write([{ type: "put", key: b("m2"), value: b("y") }, {
    type: "delete",
    key: b("k"),
  }]);
  assertEquals(db.getEntry("m2")?.value, b("y"));
  assertEquals(db.lastSeq, before + 2);
  await db.close();
});

Deno.test("Two-op writes: a closed database refuses them like any write", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  await db.close();
  await assertRejects(
    () =>
      db.write([{ type: "put", key: b("a"), value: b("1") }, {
        type: "put",
        key: b("b"),
        value: b("2"),
      }]),
    Error,
    "closed",
  );
});
