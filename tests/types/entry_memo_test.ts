/**
 * The member types' entry memo (`src/types/entry_memo.ts`, ARCHITECTURE.md § "Member types",
 * its entry memo paragraph): it answers exactly what `getEntry` answers, whatever wrote in
 * between (the server's write path, a write straight to the engine, an expiry, a batch with a
 * large value or an expiry), and a database it was not made for is read directly.
 */

import { assertEquals } from "@std/assert";
import { Database, type ValueEntry, type WriteOp } from "../../src/mod.ts";
import { memoAfterWrite, memoGetEntry } from "../../src/types/entry_memo.ts";
import { KIND_META, KIND_PUT } from "../../src/util/entry.ts";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);

/** Writes `ops` as the server's `Context.write` does (engine write, then the memo). */
function serverWrite(db: Database, ops: WriteOp[]): Promise<void> {
  const before = db.lastSeq;
  const done = db.write(ops);
  memoAfterWrite(db, ops, before);
  return done;
}

function shape(e: ValueEntry | undefined): unknown {
  return e === undefined ? undefined : { kind: e.kind, value: [...e.value], exp: e.expireAtMs };
}

/** The memo's answer for `key` equals the engine's, for each of `keys`. */
function assertAgrees(db: Database, keys: string[]): void {
  for (const k of keys) {
    assertEquals(shape(memoGetEntry(db, b(k))), shape(db.getEntry(b(k))), `key ${k}`);
  }
}

async function withDb(fn: (db: Database, clock: { ms: number }) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-entry-memo-" });
  const clock = { ms: 1_000_000 };
  const db = await Database.open(dir, { syncMode: "none", nowMs: () => clock.ms });
  try {
    await fn(db, clock);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("entry memo answers as getEntry across server writes, engine writes and deletions", async () => {
  await withDb(async (db) => {
    const keys = ["h", "f", "g", "absent"];
    await serverWrite(db, [{ type: "put", key: b("f"), value: b("1") }, {
      type: "meta",
      key: b("h"),
      value: b("\x02\x07\x01"),
    }]);
    assertAgrees(db, keys);
    assertEquals(memoGetEntry(db, b("h"))?.kind, KIND_META);
    // A write straight to the engine (HTTP, replication): every slot lapses.
    await db.write([{ type: "put", key: b("h"), value: b("string now") }]);
    assertAgrees(db, keys);
    assertEquals(memoGetEntry(db, b("h"))?.kind, KIND_PUT);
    // The server's path again: untouched slots carry over, written ones take the new state.
    assertAgrees(db, keys);
    await serverWrite(db, [{ type: "delete", key: b("h") }]);
    assertAgrees(db, keys);
    await serverWrite(db, [{ type: "put", key: b("g"), value: b("2") }]);
    assertAgrees(db, keys);
    // Two ops on one key in a batch: the later wins.
    await serverWrite(db, [
      { type: "put", key: b("f"), value: b("3") },
      { type: "delete", key: b("f") },
    ]);
    assertAgrees(db, keys);
    await serverWrite(db, [
      { type: "delete", key: b("f") },
      { type: "put", key: b("f"), value: b("4") },
    ]);
    assertAgrees(db, keys);
    // A value too large to keep, and one with an expiry: the slot is emptied, not kept stale.
    await serverWrite(db, [{ type: "put", key: b("f"), value: new Uint8Array(100).fill(7) }]);
    assertAgrees(db, keys);
    await serverWrite(db, [{
      type: "meta",
      key: b("h"),
      value: b("\x02\x08\x01"),
      expireAtMs: 2e6,
    }]);
    assertAgrees(db, keys);
    // More keys than slots: evicted ones are read again.
    for (let i = 0; i < 10; i++) {
      await serverWrite(db, [{ type: "meta", key: b(`k${i}`), value: b(`\x02${i}`) }]);
    }
    assertAgrees(db, [...keys, "k0", "k5", "k9"]);
  });
});

Deno.test("entry memo never keeps an entry that expires", async () => {
  await withDb(async (db, clock) => {
    await serverWrite(db, [{ type: "meta", key: b("h"), value: b("\x02\x07\x01") }]);
    await db.write([{
      type: "meta",
      key: b("t"),
      value: b("\x02\x09\x01"),
      expireAtMs: 1_000_500,
    }]);
    assertEquals(memoGetEntry(db, b("t"))?.expireAtMs, 1_000_500);
    clock.ms = 1_000_600;
    // Nothing was written since: only the clock moved.
    assertEquals(memoGetEntry(db, b("t")), undefined);
    assertAgrees(db, ["h", "t"]);
  });
});

Deno.test("entry memo: a database it was not made for is read directly", async () => {
  await withDb(async (db) => {
    await serverWrite(db, [{ type: "meta", key: b("h"), value: b("\x02\x07\x01") }]);
    // A view like a transaction's: same engine underneath, other answers on top.
    const view = new Proxy(db, {
      get(target, prop) {
        if (prop === "getEntry") return () => undefined;
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    assertEquals(memoGetEntry(view, b("h")), undefined);
    assertEquals(memoGetEntry(db, b("h"))?.kind, KIND_META);
  });
});
