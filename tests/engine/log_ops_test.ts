/**
 * The engine's seams for other key types and for log-owning layers: `KIND_META` entries
 * (stored like puts, reported with their kind) and `KIND_LOG` ops (WAL and replicas only,
 * replayed to a consumer, pinned in the WAL until the consumer says they are durable).
 */

import { replicationPort } from "../../src/engine/mod.ts";
import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import type { LogConsumer } from "../../src/engine/log_ops.ts";
import { deletableSegments } from "../../src/engine/retention.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { fromBytes, toBytes } from "../../src/util/bytes.ts";
import { KIND_META, KIND_PUT } from "../../src/util/entry.ts";

const DIR = "/db";

class Recorder implements LogConsumer {
  ops: { seq: number; key: string; value: string }[] = [];
  pin = Infinity;
  persisted = 0;
  resets = 0;
  applyLog(seq: number, key: Uint8Array, value: Uint8Array): void {
    this.ops.push({ seq, key: fromBytes(key), value: fromBytes(value) });
  }
  logDurableThroughSeq(): number {
    return this.pin;
  }
  persistAll(): Promise<void> {
    this.persisted++;
    return Promise.resolve();
  }
  reset(): void {
    this.resets++;
  }
}

Deno.test("Database: a meta entry is stored, flushed, compacted and reopened with its kind", async () => {
  const fs = new FaultFs();
  let db = await Database.open(DIR, { fs });
  await db.write([
    { type: "meta", key: "series", value: "\x01meta" },
    { type: "put", key: "string", value: "v" },
    { type: "meta", key: "soon", value: "\x01x", expireAtMs: Date.now() + 60_000 },
  ]);
  assertEquals(db.getEntry("series")?.kind, KIND_META);
  assertEquals(db.getEntry("string")?.kind, KIND_PUT);
  await db.compact();
  await db.close();
  db = await Database.open(DIR, { fs });
  const series = db.getEntry("series");
  assertEquals(series?.kind, KIND_META);
  assertEquals(fromBytes(series!.value), "\x01meta");
  assert(db.getEntry("soon")!.expireAtMs > 0);
  const keys: string[] = [];
  for await (const [key] of db.scan({})) keys.push(fromBytes(key));
  assertEquals(keys, ["series", "soon", "string"]);
  await db.close();
});

Deno.test("Database: log ops are in no read, and replay at open to the consumer in order", async () => {
  const fs = new FaultFs();
  let db = await Database.open(DIR, { fs, memtableSizeBytesMax: 4096 });
  await db.write([{ type: "log", key: "L", value: "one" }, { type: "put", key: "k", value: "v" }]);
  await db.flush(); // the put's record is now covered by a table; its log op is not
  await db.write([{ type: "log", key: "L", value: "two" }]);
  assertEquals(db.getEntry("L"), undefined);
  assertEquals(db.readRange({}, { limit: 10 }).map(([k]) => fromBytes(k)), ["k"]);
  await db.close();

  db = await Database.open(DIR, { fs, memtableSizeBytesMax: 4096 });
  assertEquals(db.pendingLogOps, 2);
  const consumer = new Recorder();
  db.attachLogConsumer(consumer);
  assertEquals(consumer.ops, [{ seq: 1, key: "L", value: "one" }, {
    seq: 3,
    key: "L",
    value: "two",
  }]);
  assertEquals(db.pendingLogOps, 0);
  await db.close();
});

Deno.test("Database: WAL segments holding log ops stay until the consumer's pin passes them", async () => {
  const fs = new FaultFs();
  const options = { fs, walSegmentSizeBytes: 4096, memtableSizeBytesMax: 4096 };
  let db = await Database.open(DIR, options);
  const consumer = new Recorder();
  consumer.pin = 0; // nothing durable elsewhere yet
  db.attachLogConsumer(consumer);
  const value = "x".repeat(600);
  for (let i = 0; i < 40; i++) await db.write([{ type: "log", key: "L", value }]);
  for (let i = 0; i < 40; i++) await db.put(`k${i}`, value);
  await db.flush();
  assert(db.walSegments().length > 5, "log ops keep their segments");
  await db.close();

  // Reopened: every log op comes back, none lost to retention.
  db = await Database.open(DIR, options);
  const replay = new Recorder();
  replay.pin = 0;
  db.attachLogConsumer(replay);
  assertEquals(replay.ops.length, 40);
  // Once the consumer has made them durable, retention may delete their segments.
  replay.pin = db.lastSeq;
  await db.flush();
  replicationPort(db).applyRetention();
  // The segments holding the log ops (sequences 1 … 40) are gone; what remains is at most
  // the one flush of WAL that MANIFEST.prev still needs, and the active segment.
  assert(db.walSegments().every((s) => s.firstSeq === 0 || s.firstSeq > 40));
  await db.close();
  db = await Database.open(DIR, options);
  assertEquals(db.pendingLogOps, 0);
  await db.close();
});

Deno.test("Database: without a consumer, replayed log ops pin the WAL", async () => {
  const fs = new FaultFs();
  const options = { fs, walSegmentSizeBytes: 4096, memtableSizeBytesMax: 4096 };
  let db = await Database.open(DIR, options);
  await db.write([{ type: "log", key: "L", value: "keep me" }]);
  for (let i = 0; i < 40; i++) await db.put(`k${i}`, "y".repeat(600));
  await db.flush();
  await db.close();
  db = await Database.open(DIR, options); // no consumer attaches
  await db.flush();
  replicationPort(db).applyRetention();
  await db.close();
  db = await Database.open(DIR, options);
  assertEquals(db.pendingLogOps, 1);
  await db.close();
});

Deno.test("Database.applyReplicated() hands log ops to the consumer after the batch is readable", async () => {
  const leaderFs = new FaultFs();
  const leader = await Database.open(DIR, { fs: leaderFs });
  await leader.write([
    { type: "meta", key: "s", value: "\x01" },
    { type: "log", key: "L", value: "sample" },
  ]);
  const replica = await Database.open(DIR, { fs: new FaultFs() });
  const seen: string[] = [];
  replica.attachLogConsumer({
    applyLog: (seq, _key, value) => {
      // The meta entry of the same batch is already visible.
      seen.push(`${seq}:${fromBytes(value)}:${replica.getEntry("s")?.kind}`);
    },
    logDurableThroughSeq: () => Infinity,
  });
  for (const segment of leader.walSegments()) {
    const { readSegmentRecords } = await import("../../src/wal/reader.ts");
    for (const r of readSegmentRecords(leaderFs, segment.path)) {
      await replicationPort(replica).applyReplicated(r.seq, r.payload);
    }
  }
  assertEquals(seen, [`2:sample:${KIND_META}`]);
  await leader.close();
  await replica.close();
});

Deno.test("Database.checkpoint() asks the consumer to persist first", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  const consumer = new Recorder();
  db.attachLogConsumer(consumer);
  await db.put("a", "1");
  const cp = await replicationPort(db).checkpoint();
  cp.release();
  assertEquals(consumer.persisted, 1);
  await db.close();
});

Deno.test("Database.readRange() reads live entries synchronously, forwards and backwards", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  await db.write([
    { type: "put", key: "a1", value: "1" },
    { type: "meta", key: "a2", value: "2" },
    { type: "put", key: "a3", value: "3" },
    { type: "put", key: "b", value: "4" },
  ]);
  await db.delete("a3");
  assertEquals(
    db.readRange({ prefix: "a" }, { limit: 10 }).map(([k, , kind]) => `${fromBytes(k)}/${kind}`),
    ["a1/1", "a2/2"],
  );
  assertEquals(
    db.readRange({ start: "a", end: toBytes("b") }, { limit: 1, reverse: true }).map(([k]) =>
      fromBytes(k)
    ),
    ["a2"],
  );
  await db.close();
});

Deno.test("deletableSegments() never lets the disk cap take what only the log holds", () => {
  const segments = [
    { id: 1, lastSeq: 100, sizeBytes: 1000 },
    { id: 2, lastSeq: 200, sizeBytes: 1000 },
    { id: 3, lastSeq: 0 },
  ];
  const base = { flushedSeq: 200, activeSegmentId: 3, pinnedSeqs: [0], retainedBytesMax: 0 };
  assertEquals(deletableSegments(segments, base), [1, 2]);
  assertEquals(deletableSegments(segments, { ...base, logDurableSeq: 150 }), [1]);
  assertEquals(deletableSegments(segments, { ...base, logDurableSeq: 50 }), []);
});

Deno.test({
  name: "Database.flush() of an empty memtable never records a sequence the WAL has not synced",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fs = new FaultFs();
    const db = await Database.open(DIR, { fs });
    const consumer = new Recorder();
    consumer.pin = 0; // keeps the first segment, so a gap after it would be seen
    db.attachLogConsumer(consumer);
    await db.write([{ type: "log", key: "L", value: "kept" }]);
    await db.put("a", "1");
    await db.flush();
    // A log op queued in a group commit that has not run yet; the memtable stays empty.
    const pending = db.write([{ type: "log", key: "L", value: "x" }]);
    const flushing = db.flush();
    fs.powerLoss();
    await flushing.catch(() => {});
    await pending.catch(() => {});
    await db.close().catch(() => {});
    // Had the manifest recorded the unsynced sequence, the next writes would leave a gap
    // after the retained segment, and the next open would fail.
    const reopened = await Database.open(DIR, { fs });
    await reopened.put("b", "2");
    await reopened.close();
    const again = await Database.open(DIR, { fs });
    assertEquals(fromBytes((await again.get("b"))!), "2");
    await again.close();
  },
});
