/**
 * `Database.onApplied`: every applied batch is heard once, on every write path (one put or
 * delete, a batch of one, two or more ops, a log op, a replicated record), a refused one is
 * not, and a detached listener hears nothing more.
 */

import { assertEquals } from "@std/assert";
import { Database, replicationPort } from "../../src/engine/mod.ts";
import type { AppliedOp } from "../../src/engine/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { readSegmentRecords } from "../../src/wal/reader.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { KIND_DELETE, KIND_LOG, KIND_META, KIND_PUT } from "../../src/util/entry.ts";

const DIR = "/db";

const KINDS = new Map([[KIND_PUT, "put"], [KIND_META, "meta"], [KIND_DELETE, "del"], [
  KIND_LOG,
  "log",
]]);

/** A listener that records each batch as `kind key=value` strings. */
function recorder(): { heard: string[][]; listener: (ops: readonly AppliedOp[]) => void } {
  const heard: string[][] = [];
  return {
    heard,
    listener: (ops) => {
      heard.push(ops.map((op) => {
        const value = op.value === undefined || op.value.length === 0 ? "" : fromBytes(op.value);
        return `${KINDS.get(op.kind)} ${fromBytes(op.key)}=${value}`;
      }));
    },
  };
}

Deno.test("Database.onApplied() hears every write path once, and nothing once removed", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  const { heard, listener } = recorder();
  const stop = db.onApplied(listener);
  await db.put("a", "1");
  await db.put(new Uint8Array([0x62]), new Uint8Array([0x32]));
  await db.delete("a");
  await db.write([{ type: "put", key: "c", value: "3" }]);
  await db.write([{ type: "meta", key: "m", value: "x" }, { type: "delete", key: "b" }]);
  await db.write([
    { type: "put", key: "d", value: "4" },
    { type: "log", key: new Uint8Array([0x4c]), value: new Uint8Array([0x76]) },
    { type: "put", key: "e", value: "5" },
  ]);
  await db.write([{ type: "log", key: new Uint8Array([0x4c]), value: new Uint8Array([0x77]) }]);
  assertEquals(heard, [
    ["put a=1"],
    ["put b=2"],
    ["del a="],
    ["put c=3"],
    ["meta m=x", "del b="],
    ["put d=4", "log L=v", "put e=5"],
    ["log L=w"],
  ]);
  // A refused batch (a key over the limit) was not applied: not heard.
  await db.write([{ type: "put", key: "x".repeat(1 << 20), value: "" }]).catch(() => {});
  assertEquals(heard.length, 7);
  stop();
  await db.put("f", "6");
  await db.write([{ type: "put", key: "g", value: "7" }, { type: "put", key: "h", value: "8" }]);
  assertEquals(heard.length, 7);
  assertEquals(fromBytes((await db.get("h"))!), "8");
  await db.close();
});

Deno.test("Database.onApplied() hears records a replica applies, after their log ops are delivered", async () => {
  const leaderFs = new FaultFs();
  const leader = await Database.open(DIR, { fs: leaderFs });
  await leader.put("k", "1");
  await leader.write([
    { type: "meta", key: "s", value: "\x01" },
    { type: "log", key: "L", value: "sample" },
  ]);
  const replica = await Database.open(DIR, { fs: new FaultFs() });
  const delivered: number[] = [];
  replica.attachLogConsumer({
    applyLog: (seq) => delivered.push(seq),
    logDurableThroughSeq: () => Infinity,
  });
  const { heard, listener } = recorder();
  const deliveredWhenHeard: number[] = [];
  replica.onApplied((ops) => {
    listener(ops);
    deliveredWhenHeard.push(delivered.length);
  });
  for (const segment of leader.walSegments()) {
    for (const r of readSegmentRecords(leaderFs, segment.path)) {
      await replicationPort(replica).applyReplicated(r.seq, r.payload);
      // A re-sent record is already applied: not heard again.
      await replicationPort(replica).applyReplicated(r.seq, r.payload);
    }
  }
  assertEquals(heard, [["put k=1"], ["meta s=\x01", "log L=sample"]]);
  assertEquals(deliveredWhenHeard, [0, 1]);
  await leader.close();
  await replica.close();
});
