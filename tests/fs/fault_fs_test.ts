import { assertEquals, assertThrows } from "@std/assert";
import { IoError, LockedError } from "../../src/errors.ts";
import { FaultFs, readWholeFile, RealFs, writeFileAtomic } from "../../src/fs/mod.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("FaultFs.powerLoss() drops unsynced bytes and unsynced directory entries", () => {
  const fs = new FaultFs();
  fs.mkdirp("/d");
  const f = fs.open("/d/a", { write: true, create: true });
  f.writeAt(bytes("hello"), 0);
  f.sync();
  fs.syncDir("/d");
  f.writeAt(bytes(" world"), 5);
  const g = fs.open("/d/b", { write: true, create: true });
  g.writeAt(bytes("new"), 0);
  g.sync(); // data synced but the directory entry is not
  fs.powerLoss();
  assertEquals(text(readWholeFile(fs, "/d/a")), "hello");
  assertEquals(fs.stat("/d/b"), undefined);
  assertThrows(() => f.size(), IoError);
});

Deno.test("FaultFs: a rename is durable only after syncDir", () => {
  const fs = new FaultFs();
  fs.mkdirp("/d");
  writeFileAtomic(fs, "/d", "x", bytes("one"));
  const f = fs.open("/d/x.tmp", { write: true, create: true });
  f.writeAt(bytes("two"), 0);
  f.sync();
  fs.rename("/d/x.tmp", "/d/x");
  fs.powerLoss();
  assertEquals(text(readWholeFile(fs, "/d/x")), "one");
});

Deno.test("FaultFs.failAfter() fails the n-th write, sync and rename", () => {
  const fs = new FaultFs();
  fs.mkdirp("/d");
  const f = fs.open("/d/a", { write: true, create: true });
  fs.failAfter({ write: 2 });
  f.writeAt(bytes("1"), 0);
  assertThrows(() => f.writeAt(bytes("2"), 1), IoError);
  f.writeAt(bytes("3"), 1);
  fs.failAfter({ sync: 1 }, { failAll: true });
  assertThrows(() => f.sync(), IoError);
  assertThrows(() => f.sync(), IoError);
  fs.heal();
  f.sync();
  fs.failAfter({ rename: 1 });
  assertThrows(() => fs.rename("/d/a", "/d/b"), IoError);
});

Deno.test("FaultFs.powerLoss(random) keeps a prefix of unsynced writes", () => {
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let round = 0; round < 50; round++) {
    const fs = new FaultFs();
    fs.mkdirp("/d");
    const f = fs.open("/d/a", { write: true, create: true });
    f.writeAt(bytes("base"), 0);
    f.sync();
    fs.syncDir("/d");
    f.writeAt(bytes("ABCD"), 4);
    f.writeAt(bytes("EFGH"), 8);
    fs.powerLoss(random);
    const got = text(readWholeFile(fs, "/d/a"));
    assertEquals("baseABCDEFGH".startsWith(got), true, got);
    assertEquals(got.startsWith("base"), true);
  }
});

Deno.test("RealFs.lock() refuses a second holder with LockedError", async () => {
  const dir = await Deno.makeTempDir();
  const fs = new RealFs();
  const lock = fs.lock(`${dir}/LOCK`);
  assertThrows(() => fs.lock(`${dir}/LOCK`), LockedError);
  lock.release();
  fs.lock(`${dir}/LOCK`).release();
  await Deno.remove(dir, { recursive: true });
});
