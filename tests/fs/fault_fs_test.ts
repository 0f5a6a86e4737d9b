import { assertEquals, assertThrows } from "@std/assert";
import { IoError, LockedError } from "../../src/errors.ts";
import { readWholeFile, RealFs, writeFileAtomic } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";

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

Deno.test("FaultFs.powerLoss(random, { outOfOrder }) can keep a later sector of one write and lose an earlier one", () => {
  let seed = 11;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  let laterWithoutEarlier = 0;
  for (let round = 0; round < 100; round++) {
    const fs = new FaultFs();
    fs.mkdirp("/d");
    const f = fs.open("/d/a", { write: true, create: true });
    f.writeAt(new Uint8Array(2048), 0);
    f.sync();
    fs.syncDir("/d");
    // One unsynced write of four sectors: 1s, 2s, 3s, 4s.
    const write = new Uint8Array(2048);
    for (let i = 0; i < 4; i++) write.fill(i + 1, i * 512, (i + 1) * 512);
    f.writeAt(write, 0);
    fs.powerLoss(random, { outOfOrder: true });
    const got = readWholeFile(fs, "/d/a");
    for (let i = 0; i < 4; i++) {
      const sector = got.subarray(i * 512, (i + 1) * 512);
      // Each sector is whole: all old (0) or all new.
      assertEquals(sector.every((b) => b === 0) || sector.every((b) => b === i + 1), true);
    }
    if (got[0] === 0 && got[1536] === 4) laterWithoutEarlier++;
  }
  assertEquals(laterWithoutEarlier > 0, true, "the later sector never outlived the earlier one");
});

Deno.test("FaultFs.capacityBytes: a write past it writes what fits and fails with ENOSPC", () => {
  const fs = new FaultFs();
  fs.mkdirp("/d");
  fs.capacityBytes = 100;
  const f = fs.open("/d/a", { write: true, create: true });
  f.writeAt(new Uint8Array(60).fill(1), 0);
  assertEquals(fs.availableBytes("/d"), 40);
  const err = assertThrows(() => f.writeAt(new Uint8Array(60).fill(2), 60));
  assertEquals((err as { code?: string }).code, "ENOSPC");
  assertEquals(f.size(), 100, "the part that fit was written");
  f.writeAt(new Uint8Array(10).fill(3), 0); // overwriting allocated bytes needs no space
  assertEquals(fs.availableBytes("/d"), 0);
  fs.remove("/d/a");
  assertEquals(fs.availableBytes("/d"), 100);
});

Deno.test("writeFileAtomic removes its temp file when the disk is full", () => {
  const fs = new FaultFs();
  fs.mkdirp("/d");
  fs.capacityBytes = 10;
  const err = assertThrows(() => writeFileAtomic(fs, "/d", "x", new Uint8Array(64)));
  assertEquals((err as { code?: string }).code, "ENOSPC");
  assertEquals(fs.readDir("/d"), []);
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
