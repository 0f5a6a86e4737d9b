/**
 * One-log-op batches (a time series' TS.ADD) take `_write_log_one.ts`'s path, which appends
 * with the WAL's one-op encoder: the WAL records it writes must be the batch path's, byte for
 * byte, and what it counts, hands to a waiting log and refuses the same. The batch path is
 * forced on a twin database by a write guard (a guarded write never takes a fast path).
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

/** One-op log batches the fast path takes, and some it hands on. */
function batches(): WriteOp[][] {
  return [
    [{ type: "log", key: Uint8Array.of(0xff, 0x05), value: b("sample") }],
    [{ type: "log", key: b("l"), value: new Uint8Array(0) }],
    [{ type: "log", key: b("l2"), value: new Uint8Array(300).fill(9) }],
    // Handed on to the batch path: string key or value.
    [{ type: "log", key: "s", value: b("x") }],
    [{ type: "log", key: b("s"), value: "y" }],
  ];
}

/** A consumer that records what it is handed. */
function recorder(): {
  seen: [number, number[], number[]][];
  consumer: Parameters<Database["attachLogConsumer"]>[0];
} {
  const seen: [number, number[], number[]][] = [];
  return {
    seen,
    consumer: {
      applyLog: (seq, key, value) => seen.push([seq, [...key], [...value]]),
      logDurableThroughSeq: () => Infinity,
    },
  };
}

Deno.test("One-log-op writes: the WAL bytes, stats and held log ops equal the batch path's", async () => {
  const { fast, slow, fastFs } = await writeTwins(DIR, batches());
  assertEquals(writeStats(fast), writeStats(slow));
  // Written with no consumer attached: held, then handed over in order.
  assertEquals(fast.pendingLogOps, batches().length);
  const a = recorder();
  const c = recorder();
  fast.attachLogConsumer(a.consumer);
  slow.attachLogConsumer(c.consumer);
  assertEquals(a.seen, c.seen);
  assertEquals(a.seen.length, batches().length);
  await fast.close();
  await slow.close();
  // Recovery reads the same log ops back.
  const reopened = await Database.open(DIR, { fs: fastFs });
  const r = recorder();
  reopened.attachLogConsumer(r.consumer);
  assertEquals(r.seen, a.seen);
  await reopened.close();
});

Deno.test("One-log-op writes: with a consumer attached nothing is held", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  const r = recorder();
  db.attachLogConsumer(r.consumer);
  await db.write([{ type: "log", key: b("l"), value: b("v") }]);
  assertEquals(db.pendingLogOps, 0);
  assertEquals(r.seen, []);
  await db.close();
});

Deno.test("One-log-op writes: over a limit or closed, refused as by the batch path", async () => {
  const db = await Database.open(DIR, { fs: new FaultFs() });
  const before = db.lastSeq;
  await assertRejects(
    () => db.write([{ type: "log", key: b("l"), value: new Uint8Array(VALUE_SIZE_BYTES_MAX + 1) }]),
    InvalidArgumentError,
    "Value too large",
  );
  assertEquals(db.lastSeq, before);
  assertEquals(db.pendingLogOps, 0);
  await db.close();
  await assertRejects(
    () => db.write([{ type: "log", key: b("l"), value: b("v") }]),
    Error,
    "closed",
  );
});
