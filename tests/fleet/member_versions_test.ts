/**
 * The hub's version mapping of member types (ARCHITECTURE.md § "Member types at the hub"), in
 * one process where both databases can be inspected: a snapshot carries only versions a live
 * key holds; after a DEL at the edge the hub's garbage sweep frees the hub's members, and the
 * edge's sweep removes the mapping.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import type { Database, WriteOp } from "../../src/engine/mod.ts";
import { Database as Db } from "../../src/engine/mod.ts";
import {
  SPACE_HASH_FIELD,
  SPACE_TYPES_DEAD,
  SPACE_TYPES_REGISTRY,
  TYPE_HASH,
  VersionAllocator,
} from "../../src/keyspace/mod.ts";
import { createMeta, lookup, memberKey, members, metaOp } from "../../src/types/layout.ts";
import { TypeGarbageCollector } from "../../src/types/gc.ts";
import { memberMapPrefix } from "../../src/fleet/hub_members.ts";
import { addTestSite, removeDir, startTestEdge, startTestHub } from "./_helpers.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

function hset(versions: VersionAllocator, key: string, fields: [string, string][]): WriteOp[] {
  const ops: WriteOp[] = [];
  const k = utf8.encode(key);
  const meta = createMeta(versions, k, TYPE_HASH, ops);
  for (const [f, v] of fields) {
    ops.push({
      type: "put",
      key: memberKey(SPACE_HASH_FIELD, meta.version, utf8.encode(f)),
      value: utf8.encode(v),
    });
  }
  meta.size = fields.length;
  ops.push(metaOp(k, meta));
  return ops;
}

function hashAt(db: Database, key: string): string[] | undefined {
  const found = lookup(db, utf8.encode(key), TYPE_HASH);
  if (found.kind !== "found") return undefined;
  const out: string[] = [];
  for (const [k, v] of members(db, SPACE_HASH_FIELD, found.meta.version)) {
    out.push(`${text.decode(k.subarray(10))}=${text.decode(v)}`);
  }
  return out;
}

function countSpace(db: Database, start: Uint8Array, end: Uint8Array): number {
  return db.readRange({ start, end }, { limit: 100_000 }).length;
}

const FIELDS_START = new Uint8Array([0xff, SPACE_HASH_FIELD]);
const FIELDS_END = new Uint8Array([0xff, SPACE_HASH_FIELD + 1]);
const REGISTRY_START = new Uint8Array([0xff, SPACE_TYPES_REGISTRY]);
const REGISTRY_END = new Uint8Array([0xff, SPACE_TYPES_REGISTRY + 1]);

Deno.test("hub members: a snapshot carries the hashes a live key holds, not the edge's unswept garbage", async () => {
  const edgeDir = await Deno.makeTempDir({ prefix: "cityhall-edge-members-" });
  const plain = await Db.open(edgeDir, { walSegmentSizeBytes: 64 * 1024 });
  const versions = new VersionAllocator(plain);
  for (let i = 0; i < 200; i++) {
    const fields: [string, string][] = [];
    for (let j = 0; j < 10; j++) fields.push([`f${j}`, `v${i}-${j}`.repeat(20)]);
    await plain.write(hset(versions, `h${i}`, fields));
  }
  await plain.delete("h3"); // its members stay until the edge's sweep
  await plain.flush();
  await plain.put("late", "1");
  await plain.flush();
  await plain.close();
  const hub = await startTestHub({ withSeries: true });
  const token = await addTestSite(hub.dir, "old");
  const edge = await startTestEdge(hub.port, "old", token, {
    dir: edgeDir,
    db: { walSegmentSizeBytes: 64 * 1024 },
  });
  try {
    assert(edge.db.walSegments()[0]!.firstSeq > 1, "the early WAL is gone");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(hub.hub.statuses()[0]!.snapshots, 1);
    for (let i = 0; i < 200; i++) {
      assertEquals(hashAt(hub.db, `old/h${i}`), i === 3 ? undefined : hashAt(edge.db, `h${i}`));
    }
    assertEquals(countSpace(hub.db, FIELDS_START, FIELDS_END), 199 * 10);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edgeDir);
    await removeDir(hub.dir);
  }
});

Deno.test("hub members: after a DEL at the edge the hub's sweep frees the members; the edge's sweep removes the mapping", async () => {
  const hub = await startTestHub({ withSeries: true });
  const token = await addTestSite(hub.dir, "s1");
  const edge = await startTestEdge(hub.port, "s1", token);
  const versions = new VersionAllocator(edge.db);
  try {
    await edge.db.write(hset(versions, "h", [["a", "1"], ["b", "2"]]));
    await edge.db.write(hset(versions, "keep", [["x", "9"]]));
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(hashAt(hub.db, "s1/h"), ["a=1", "b=2"]);
    const mapStart = memberMapPrefix("s1");
    const mapEnd = memberMapPrefix("s1").map((b, i, a) => i === a.length - 1 ? b + 1 : b);
    assertEquals(countSpace(hub.db, mapStart, mapEnd), 2);

    await edge.db.delete("h");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(hashAt(hub.db, "s1/h"), undefined);
    // The hub's sweep marks the dead version; compaction (its filter) then drops the members.
    const hubGc = new TypeGarbageCollector(hub.db, (err) => {
      throw err;
    });
    hubGc.start(0);
    await hubGc.sweepAll();
    await hub.db.compactRange();
    assertEquals(countSpace(hub.db, FIELDS_START, FIELDS_END), 1, "only keep's field is left");
    assertEquals(countSpace(hub.db, REGISTRY_START, REGISTRY_END), 1);

    await new TypeGarbageCollector(edge.db, (err) => {
      throw err;
    }).sweepAll();
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(countSpace(hub.db, mapStart, mapEnd), 1, "h's mapping is gone");
    assertEquals(hashAt(hub.db, "s1/keep"), ["x=9"]);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});

Deno.test("hub members: the edge's sweep going first still frees the hub's members, and its dead markers never become hub keys", async () => {
  const hub = await startTestHub({ withSeries: true });
  const token = await addTestSite(hub.dir, "s2");
  const edge = await startTestEdge(hub.port, "s2", token);
  const versions = new VersionAllocator(edge.db);
  const hubGc = new TypeGarbageCollector(hub.db, (err) => {
    throw err;
  });
  hubGc.start(0);
  try {
    await edge.db.write(hset(versions, "h", [["a", "1"], ["b", "2"]]));
    await edge.db.write(hset(versions, "keep", [["x", "9"]]));
    await edge.db.delete("h");
    // The edge's collector marks h's version dead and drops its registry entry before the
    // hub's collector has looked: the hub must mark its own version dead from that.
    await new TypeGarbageCollector(edge.db, (err) => {
      throw err;
    }).sweepAll();
    await edge.uplink.waitForAck(edge.db.lastSeq);
    const userKeys = hub.db.readRange({ end: new Uint8Array([0xff]) }, { limit: 100 })
      .map(([k]) => text.decode(k));
    assertEquals(userKeys, ["s2/keep"]);
    await hubGc.sweepAll();
    await hub.db.compactRange();
    assertEquals(countSpace(hub.db, FIELDS_START, FIELDS_END), 1, "only keep's field is left");
    assertEquals(hashAt(hub.db, "s2/keep"), ["x=9"]);
    // Once the members are gone the hub's collector removes its marker too.
    await hubGc.sweepAll();
    const dead = new Uint8Array([0xff, SPACE_TYPES_DEAD]);
    assertEquals(countSpace(hub.db, dead, new Uint8Array([0xff, SPACE_TYPES_DEAD + 1])), 0);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});
