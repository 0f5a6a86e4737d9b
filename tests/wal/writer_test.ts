import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { ClosedError, IoError } from "../../src/errors.ts";
import { joinPath, RealFs } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { KIND_DELETE, KIND_META, KIND_PUT } from "../../src/util/entry.ts";
import {
  decodeSegmentHeader,
  segmentFileName,
  WAL_SEGMENT_HEADER_BYTES,
  WalWriter,
} from "../../src/wal/mod.ts";
import {
  DIR,
  keysOf,
  op,
  ops,
  readBytes,
  records,
  recoverEntries,
  seededRandom,
  writeWal,
} from "./_helpers.ts";

function keyRange(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => `key-${first + i}`);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("WalWriter.append assigns contiguous sequences synchronously", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 100, segmentSizeBytes: 4096 });
  assertEquals(writer.lastSeq, 99);
  const a = writer.append(ops(100, 3));
  const b = writer.append(ops(103, 1));
  assertEquals([a.seq, b.seq, writer.lastSeq], [100, 103, 103]);
  await Promise.all([a.durable, b.durable]);
  await writer.close();
  assertEquals(keysOf(recoverEntries(fs, { afterSeq: 99 }).entries), keyRange(100, 103));
});

Deno.test("WalWriter group commit: 1000 concurrent appends share a handful of syncs", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 1 << 20 });
  const before = fs.calls.sync;
  const results = Array.from({ length: 1000 }, (_, i) => writer.append([op(i + 1)]));
  assertEquals(fs.calls.sync, before, "nothing is synced inside append");
  await Promise.all(results.map((r) => r.durable));
  const syncs = fs.calls.sync - before;
  assert(syncs >= 1 && syncs <= 3, `${syncs} syncs for 1000 appends`);
  assertEquals(results.map((r) => r.seq), Array.from({ length: 1000 }, (_, i) => i + 1));
  await writer.close();
  assertEquals(recoverEntries(fs).entries.length, 1000);
});

Deno.test("WalWriter counts its commit groups and their fdatasyncs", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 1 << 20,
    pipelining: false,
  });
  assertEquals([writer.groupCommits, writer.groupSyncs, writer.groupSyncMs], [0, 0, 0]);
  const syncsBefore = fs.calls.sync;
  const writesBefore = fs.calls.write;
  const first = Array.from({ length: 100 }, (_, i) => writer.append([op(i + 1)]));
  await Promise.all(first.map((r) => r.durable));
  const second = Array.from({ length: 10 }, (_, i) => writer.append([op(i + 101)]));
  await Promise.all(second.map((r) => r.durable));
  // One pwrite and one fdatasync per group, nothing else in between (no segment switch).
  assertEquals(writer.groupCommits, fs.calls.write - writesBefore);
  assertEquals(writer.groupSyncs, fs.calls.sync - syncsBefore);
  assertEquals(writer.groupSyncs, writer.groupCommits);
  assert(writer.groupCommits >= 2, `${writer.groupCommits} groups`);
  assert(writer.groupSyncMs >= 0);
  await writer.close();
});

Deno.test("WalWriter counts no group fdatasyncs outside sync mode always", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 1 << 20,
    syncMode: "none",
  });
  await Promise.all(Array.from({ length: 10 }, (_, i) => writer.append([op(i + 1)]).durable));
  assert(writer.groupCommits >= 1);
  assertEquals(writer.groupSyncs, 0);
  await writer.close();
});

Deno.test("WalWriter group commit: appends issued after a flush ran join the next one", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096 });
  const first = writer.append([op(1)]);
  let second: Promise<void> | undefined;
  const order: string[] = [];
  const done = first.durable.then(() => {
    order.push("first");
    const before = fs.calls.sync;
    second = writer.append([op(2)]).durable.then(() => {
      order.push("second");
      assertEquals(fs.calls.sync, before + 1);
    });
  });
  await done;
  await second;
  assertEquals(order, ["first", "second"]);
  await writer.close();
});

Deno.test("WalWriter group commit: a group never exceeds groupCommitBytesMax", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 1 << 16,
    groupCommitBytesMax: 200,
  });
  const before = fs.calls.write;
  const results = Array.from({ length: 40 }, (_, i) => writer.append([op(i + 1)]));
  await Promise.all(results.map((r) => r.durable));
  const writes = fs.calls.write - before;
  // Each record is ~35 bytes: at most 5 fit in 200 bytes, so at least 8 groups.
  assert(writes >= 8, `${writes} writes`);
  // One oversized record still gets written (alone).
  const big = writer.append([{ kind: KIND_PUT, key: op(41).key, value: new Uint8Array(1000) }]);
  await big.durable;
  await writer.close();
  assertEquals(recoverEntries(fs).entries.length, 41);
  const header = decodeSegmentHeader(
    readBytes(fs, joinPath(DIR, segmentFileName(1)), 0, WAL_SEGMENT_HEADER_BYTES),
    "x",
  );
  assertEquals([header.version, header.unsyncedBytesMax], [2, 0]);
});

Deno.test("WalWriter: writes across many segment rolls replay fully", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 1024 });
  const pending: Promise<void>[] = [];
  let seq = 1;
  for (let i = 0; i < 300; i++) {
    const n = 1 + (i % 4);
    pending.push(writer.append(ops(seq, n)).durable);
    seq += n;
    if (i % 10 === 0) await nextTurn();
  }
  await Promise.all(pending);
  await writer.close();
  // Every segment ends in a SEAL: the older ones at the switch, the last at close.
  const segments = writer.segments();
  assert(segments.length > 20, `${segments.length} segments`);
  for (let i = 1; i < segments.length; i++) {
    assertEquals(segments[i]!.firstSeq, segments[i - 1]!.lastSeq + 1);
  }
  const { entries, result } = recoverEntries(fs);
  assertEquals(keysOf(entries), keyRange(1, seq - 1));
  assertEquals(
    result.segments.map((s) => [s.id, s.firstSeq, s.lastSeq, s.sizeBytes]),
    segments.map((s) => [s.id, s.firstSeq, s.lastSeq, s.sizeBytes]),
  );
});

Deno.test("WalWriter: a record larger than a segment gets a segment sized to fit it", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 1024 });
  await writer.append([op(1)]).durable;
  const value = new Uint8Array(5000).fill(7);
  await writer.append([{ kind: KIND_PUT, key: op(2).key, value }]).durable;
  await writer.append([op(3)]).durable;
  const segments = writer.segments();
  assertEquals(segments.map((s) => [s.id, s.firstSeq, s.lastSeq]), [[1, 1, 1], [2, 2, 2], [
    3,
    3,
    3,
  ]]);
  assert(fs.stat(segments[1]!.path)!.size >= 5000, "big segment preallocated to fit");
  assertEquals(fs.stat(segments[2]!.path)!.size, 1024);
  await writer.close();
  const { entries } = recoverEntries(fs);
  assertEquals(entries.map((e) => e.seq), [1, 2, 3]);
  assertEquals(entries[1]!.value, value);
});

Deno.test("WalWriter preallocates every segment with zeros and removes the unused one at close", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 8192 });
  assertEquals(fs.stat(joinPath(DIR, segmentFileName(1)))?.size, 8192);
  await writer.append([op(1)]).durable;
  await nextTurn();
  assertEquals(fs.readDir(DIR), ["000001.wal"], "preallocation waits for a half-full segment");
  await writer.append([{ kind: KIND_PUT, key: op(2).key, value: new Uint8Array(4096) }]).durable;
  await nextTurn();
  await nextTurn();
  // The next segment was prepared in the background, renamed into place.
  assertEquals(fs.readDir(DIR), ["000001.wal", "000002.wal"]);
  assertEquals(fs.stat(joinPath(DIR, segmentFileName(2)))?.size, 8192);
  await writer.close();
  assertEquals(fs.readDir(DIR), ["000001.wal"]);
});

Deno.test("WalWriter.close removes an active segment that holds no record", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096 });
  await writer.close();
  assertEquals(fs.readDir(DIR), []);
  await writer.close(); // twice is fine
});

Deno.test("WalWriter.open starts a fresh segment and never appends to a recovered one", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(1, 2)]);
  const recovered = recoverEntries(fs).result;
  const before = readBytes(fs, joinPath(DIR, segmentFileName(1)), 0, 4096);
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: recovered.lastSeq + 1,
    segmentSizeBytes: 4096,
    nextSegmentId: recovered.nextSegmentId,
    recoveredSegments: recovered.segments,
  });
  assertEquals(writer.activeSegmentId, 2);
  await writer.append(ops(3, 1)).durable;
  assertEquals(writer.segments().map((s) => [s.id, s.firstSeq, s.lastSeq]), [[1, 1, 2], [2, 3, 3]]);
  assertEquals(readBytes(fs, joinPath(DIR, segmentFileName(1)), 0, 4096), before);
  writer.removeSegment(1);
  assertEquals(writer.segments().map((s) => s.id), [2]);
  assertThrows(() => writer.removeSegment(2), Error, "active");
  await writer.close();
  assertEquals(keysOf(recoverEntries(fs, { afterSeq: 2 }).entries), ["key-3"]);
});

Deno.test("WalWriter: append after an injected sync failure rejects, and every later append throws", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096 });
  await writer.append([op(1)]).durable;
  fs.failAfter({ sync: 1 });
  const a = writer.append([op(2)]);
  const b = writer.append([op(3)]);
  await assertRejects(
    () => a.durable,
    IoError,
    "Cannot write: WAL is failed after an earlier sync error",
  );
  await assertRejects(() => b.durable, IoError, "Injected sync failure");
  fs.heal();
  assertThrows(() => writer.append([op(4)]), IoError, "WAL is failed");
  await assertRejects(() => writer.sync(), IoError, "WAL is failed");
  await assertRejects(() => writer.close(), IoError, "WAL is failed");
  assertThrows(() => writer.append([op(5)]), IoError, "WAL is failed");
});

Deno.test("WalWriter: a write failure is fatal too and rejects queued groups", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 4096,
    groupCommitBytesMax: 64,
  });
  fs.failAfter({ write: 1 });
  const results = Array.from({ length: 10 }, (_, i) => writer.append([op(i + 1)]));
  const settled = await Promise.allSettled(results.map((r) => r.durable));
  assert(settled.every((s) => s.status === "rejected"), "every queued group rejected");
  assertThrows(() => writer.append([op(11)]), IoError, "Injected write failure");
  await writer.close().catch(() => {});
});

Deno.test("WalWriter: an interval-mode sync failure fails later appends", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 4096,
    syncMode: "interval",
    syncIntervalMs: 5,
  });
  await nextTurn(); // let the background preallocation of segment 2 finish its sync
  await nextTurn();
  fs.failAfter({ sync: 1 });
  await writer.append([op(1)]).durable; // resolves after the write, before the sync
  await new Promise((resolve) => setTimeout(resolve, 30));
  assertThrows(() => writer.append([op(2)]), IoError, "WAL is failed");
  await writer.close().catch(() => {});
});

Deno.test("WalWriter: interval mode resolves before syncing and syncs after the interval", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 4096,
    syncMode: "interval",
    syncIntervalMs: 10,
  });
  await nextTurn();
  const before = fs.calls.sync;
  await writer.append([op(1)]).durable;
  assertEquals(fs.calls.sync, before);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assertEquals(fs.calls.sync, before + 1);
  await writer.close();
});

Deno.test("WalWriter: none mode never syncs on its own; sync() and close() do", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096, syncMode: "none" });
  await nextTurn();
  const before = fs.calls.sync;
  for (let i = 1; i <= 5; i++) await writer.append([op(i)]).durable;
  assertEquals(fs.calls.sync, before);
  await writer.sync();
  assertEquals(fs.calls.sync, before + 1);
  await writer.append([op(6)]).durable;
  await writer.close();
  fs.powerLoss();
  assertEquals(recoverEntries(fs).entries.length, 6);
});

Deno.test("WalWriter: sync() writes queued appends at once", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096 });
  const pending = writer.append([op(1)]);
  await writer.sync();
  fs.powerLoss();
  await pending.durable;
  assertEquals(recoverEntries(fs).entries.length, 1);
  await writer.close().catch(() => {});
});

Deno.test("WalWriter: append on a closed writer throws ClosedError", async () => {
  const fs = new FaultFs();
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096 });
  const pending = writer.append([op(1)]);
  await writer.close();
  await pending.durable; // close flushed it
  assertThrows(() => writer.append([op(2)]), ClosedError);
  await assertRejects(() => writer.sync(), ClosedError);
  assertEquals(recoverEntries(fs).entries.length, 1);
});

Deno.test("WalWriter.open rejects bad options", () => {
  const fs = new FaultFs();
  assertThrows(() => WalWriter.open(fs, DIR, { nextSeq: 0 }), Error, "nextSeq");
  assertThrows(
    () => WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 10 }),
    Error,
    "segmentSizeBytes",
  );
  assertEquals(fs.stat(DIR), undefined, "nothing created");
});

Deno.test("WalWriter: a segment needed before its background preallocation finishes is completed synchronously", async () => {
  const fs = new FaultFs();
  // The first segment is 1 MiB; filled at once, the next one gets 2 MiB, whose background
  // preallocation takes two turns of the event loop.
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 3 << 20 });
  const a = writer.append([{
    kind: KIND_PUT,
    key: op(1).key,
    value: new Uint8Array((1 << 20) - 200),
  }]);
  await a.durable;
  const b = writer.append([{
    kind: KIND_PUT,
    key: op(2).key,
    value: new Uint8Array((2 << 20) - 200),
  }]);
  await Promise.all([a.durable, b.durable]);
  assertEquals(writer.segments().map((s) => [s.id, s.firstSeq]), [[1, 1], [2, 2]]);
  await writer.close();
  assertEquals(fs.readDir(DIR), ["000001.wal", "000002.wal"]);
  assertEquals(recoverEntries(fs).entries.length, 2);
});

Deno.test("WalWriter: a failed background preallocation is redone at the switch", async () => {
  const fs = new FaultFs();
  const logs: string[] = [];
  const writer = WalWriter.open(fs, DIR, {
    nextSeq: 1,
    segmentSizeBytes: 1024,
    logger: (_level, message) => logs.push(message),
  });
  // Half-fill segment 1: its group commit is the next sync, then the background
  // preallocation's fsync of 000002.wal.tmp, which fails.
  fs.failAfter({ sync: 2 });
  await writer.append([{ kind: KIND_PUT, key: op(1).key, value: new Uint8Array(600) }]).durable;
  await nextTurn();
  await nextTurn();
  assert(logs.includes("cannot preallocate WAL segment in the background"), logs.join());
  assertEquals(fs.readDir(DIR), ["000001.wal"]);
  let seq = 2;
  for (let i = 0; i < 40; i++, seq++) await writer.append([op(seq)]).durable;
  assert(writer.segments().length >= 2);
  await writer.close();
  assertEquals(recoverEntries(fs).entries.length, 41);
});

for (const withRandom of [false, true]) {
  Deno.test(`WalWriter power loss (${withRandom ? "torn random prefix" : "clean"}) never loses an acknowledged op in always mode`, async () => {
    let tornTails = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededRandom(seed);
      const fs = new FaultFs();
      const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 2048 });
      let acknowledged = 0;
      let seq = 1;
      // Half the seeds: a sync fails, so the power loss finds a written but unsynced group
      // (the crash between write and fdatasync), which a random power loss tears.
      if (random() < 0.5) fs.failAfter({ sync: 1 + Math.floor(random() * 20) });
      const rounds = 5 + Math.floor(random() * 40);
      rounds: for (let r = 0; r < rounds; r++) {
        const writers = 1 + Math.floor(random() * 8);
        for (let w = 0; w < writers; w++) {
          const n = 1 + Math.floor(random() * 3);
          let appended;
          try {
            appended = writer.append(ops(seq, n));
          } catch (err) {
            assert(err instanceof IoError, String(err));
            break rounds;
          }
          const { seq: first, durable } = appended;
          seq += n;
          durable.then(() => {
            acknowledged = Math.max(acknowledged, first + n - 1);
          }, () => {});
        }
        // Sometimes let the flush run, sometimes lose power with appends still queued.
        if (random() < 0.8) await nextTurn();
      }
      fs.heal();
      fs.powerLoss(withRandom ? random : undefined);
      await writer.close().catch(() => {});
      const { entries, result } = recoverEntries(fs);
      if (result.tornTail) tornTails++;
      const msg = `seed ${seed}`;
      assert(entries.length >= acknowledged, `${msg}: lost acknowledged ops`);
      assertEquals(keysOf(entries), keyRange(1, entries.length), msg);
      // The recovered log accepts new writes after the cut.
      await writeWal(fs, [ops(entries.length + 1, 1)], { nextSeq: entries.length + 1 });
      assertEquals(recoverEntries(fs).entries.length, entries.length + 1, msg);
    }
    if (withRandom) assert(tornTails > 0, "no seed produced a torn tail");
  });
}

for (const mode of ["interval", "none"] as const) {
  Deno.test(`WalWriter power loss in ${mode} mode recovers a prefix of the appended ops`, async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const fs = new FaultFs();
      const writer = WalWriter.open(fs, DIR, {
        nextSeq: 1,
        segmentSizeBytes: 2048,
        syncMode: mode,
        syncIntervalMs: 1,
      });
      let seq = 1;
      for (let r = 0; r < 60; r++) {
        await writer.append(ops(seq, 2)).durable;
        seq += 2;
        if (random() < 0.2) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      fs.powerLoss(random);
      await writer.close().catch(() => {});
      const { entries } = recoverEntries(fs);
      assertEquals(keysOf(entries), keyRange(1, entries.length), `seed ${seed}`);
    }
  });
}

Deno.test("WalWriter on real files: write, roll, close, recover", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-wal-" });
  try {
    const fs = new RealFs();
    const writer = WalWriter.open(fs, dir, { nextSeq: 1, segmentSizeBytes: 64 * 1024 });
    const pending: Promise<void>[] = [];
    for (let i = 1; i <= 3000; i++) {
      pending.push(writer.append([op(i)]).durable);
      if (i % 100 === 0) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    assert(writer.segments().length > 1);
    await writer.close();
    assert(!fs.readDir(dir).some((n) => n.endsWith(".tmp")), "no temp files left");
    const { entries, result } = recoverEntries(fs, {}, dir);
    assertEquals(entries.length, 3000);
    assertEquals(result.lastSeq, 3000);
    for (const segment of result.segments) {
      assertEquals(records(fs, segment.path)[0]!.offset, WAL_SEGMENT_HEADER_BYTES);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WalWriter: the first segment is 1 MiB and segments filled fast double up to the configured size", async () => {
  const fs = new FaultFs();
  const MiB = 1 << 20;
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4 * MiB });
  assertEquals(fs.stat(joinPath(DIR, segmentFileName(1)))?.size, MiB);
  const big = new Uint8Array(256 * 1024);
  for (let i = 0; i < 40; i++) {
    await writer.append([{ kind: KIND_PUT, key: op(i).key, value: big }]).durable;
    await nextTurn();
  }
  await writer.close();
  const sizes = fs.readDir(DIR).map((name) => fs.stat(joinPath(DIR, name))!.size);
  // 1 MiB, then 2 MiB, then 4 MiB (the cap) for every later segment.
  assertEquals(sizes.slice(0, 3), [MiB, 2 * MiB, 4 * MiB]);
  assert(sizes.every((s) => s <= 4 * MiB), `sizes: ${sizes}`);
  assertEquals(recoverEntries(fs).entries.length, 40);
});

Deno.test("WalWriter.appendOne writes the same segment bytes as append of the same one-op batch", async () => {
  const enc = new TextEncoder();
  // Put, meta and delete; empty keys and values; long values that
  // take `set`; expiries whose varints take 1 to 7 bytes.
  type Case = {
    kind: typeof KIND_PUT | typeof KIND_META | typeof KIND_DELETE;
    key: string | Uint8Array;
    value: string | Uint8Array;
    exp: number;
  };
  const cases: Case[] = [
    { kind: KIND_PUT, key: "sensor.site1.temp.1700000000000", value: "21.33", exp: 0 },
    { kind: KIND_PUT, key: enc.encode("bytes-key"), value: new Uint8Array([0, 255, 7]), exp: 1 },
    { kind: KIND_PUT, key: "", value: "", exp: 127 },
    { kind: KIND_PUT, key: "k", value: new Uint8Array(300).fill(9), exp: 128 },
    { kind: KIND_META, key: "meta", value: "x".repeat(200), exp: 1_700_000_000_000 },
    { kind: KIND_DELETE, key: "gone", value: "ignored", exp: 0 },
    { kind: KIND_DELETE, key: new Uint8Array([1, 2]), value: new Uint8Array(0), exp: 0 },
  ];
  const bytesOf = (v: string | Uint8Array) => typeof v === "string" ? enc.encode(v) : v;
  const write = async (one: boolean) => {
    const fs = new FaultFs();
    const writer = WalWriter.open(fs, DIR, { nextSeq: 7, segmentSizeBytes: 64 * 1024 });
    const durable: Promise<void>[] = [];
    for (const c of cases) {
      if (one) {
        const valueLength = c.kind === KIND_DELETE ? 0 : bytesOf(c.value).length;
        // Scratch arrays longer than the key and value: only the given lengths are written.
        const key = new Uint8Array(400).fill(0xee);
        key.set(bytesOf(c.key));
        const value = new Uint8Array(400).fill(0xee);
        value.set(bytesOf(c.value));
        writer.appendOne(c.kind, key, bytesOf(c.key).length, value, valueLength, c.exp);
        const at = writer.lastEncoded;
        assertEquals(at.buf.subarray(at.keyAt, at.keyAt + bytesOf(c.key).length), bytesOf(c.key));
        if (c.kind !== KIND_DELETE) {
          assertEquals(at.buf.subarray(at.valueAt, at.valueAt + valueLength), bytesOf(c.value));
        }
        durable.push(writer.lastDurable);
      } else {
        const walOp = c.kind === KIND_DELETE
          ? { kind: c.kind, key: bytesOf(c.key) }
          : { kind: c.kind, key: bytesOf(c.key), value: bytesOf(c.value), expireAtMs: c.exp };
        durable.push(writer.append([walOp]).durable);
      }
    }
    await Promise.all(durable);
    await writer.close();
    const path = joinPath(DIR, segmentFileName(1));
    const entries = recoverEntries(fs, { afterSeq: 6 });
    return { bytes: readBytes(fs, path, 0, 64 * 1024), entries };
  };
  const viaAppend = await write(false);
  const viaOne = await write(true);
  assertEquals(viaOne.bytes, viaAppend.bytes);
  assertEquals(viaOne.entries.entries.length, cases.length);
  assertEquals(viaOne.entries.entries.map((e) => e.seq), [7, 8, 9, 10, 11, 12, 13]);
});
