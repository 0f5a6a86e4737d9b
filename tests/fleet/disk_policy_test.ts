/**
 * The edge's disk-full policy on FaultFs (a disk of a chosen capacity, measured from the files
 * the engine holds): `refuse` refuses writes with a clear error and takes them again once the
 * hub's acknowledgements free space; `drop-oldest-raw` releases the oldest unacknowledged WAL
 * (counted, logged, persisted) and the hub gets a snapshot instead; nothing is lost from the
 * edge's own data either way.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { type FileSystem, joinPath } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { DiskPolicy, type DiskSpace } from "../../src/fleet/disk_policy.ts";
import { openEdgeDatabase, startUplink } from "../../src/fleet/uplink.ts";
import { readEdgeState } from "../../src/fleet/edge_state.ts";
import {
  addTestSite,
  captureLogger,
  contentOf,
  removeDir,
  startTestHub,
  waitForSiteEqual,
} from "./_helpers.ts";

/** Bytes of every file under `dir` on `fs`. */
function usedBytes(fs: FileSystem, dir: string): number {
  let total = 0;
  for (const name of fs.readDir(dir)) {
    const path = joinPath(dir, name);
    const info = fs.stat(path);
    if (info === undefined) continue;
    total += info.isDirectory ? usedBytes(fs, path) : info.size;
  }
  return total;
}

/** A disk of `capacity()` bytes holding exactly the files under `dir`. */
function faultSpace(fs: FileSystem, dir: string, capacity: () => number): DiskSpace {
  return {
    usage: () => {
      const total = capacity();
      return { totalBytes: total, availableBytes: Math.max(0, total - usedBytes(fs, dir)) };
    },
  };
}

const DIR = "/edge";

async function fill(
  db: Awaited<ReturnType<typeof openEdgeDatabase>>["db"],
  from: number,
  n: number,
) {
  for (let i = from; i < from + n; i += 50) {
    const ops = [];
    for (let j = i; j < Math.min(from + n, i + 50); j++) {
      ops.push({ type: "put" as const, key: `r${j}`, value: `${j}`.padEnd(200, "x") });
    }
    await db.write(ops);
  }
}

Deno.test("disk policy refuse: writes are refused above the mark, counted, and taken again once the hub acknowledged", async () => {
  const fs = new FaultFs();
  const log = captureLogger("edge");
  const { db, store } = await openEdgeDatabase(DIR, "s", {
    fs,
    walSegmentSizeBytes: 64 * 1024,
    memtableSizeBytesMax: 128 * 1024,
  });
  let capacity = 0;
  const policy = new DiskPolicy(db, store, {
    highWaterPercent: 90,
    mode: "refuse",
    space: faultSpace(fs, DIR, () => capacity),
    logger: log,
  });
  try {
    await fill(db, 0, 3000);
    await db.flush();
    await fill(db, 3000, 100);
    await db.flush();
    // The disk is 95% full: nothing the hub acknowledged can go (it acknowledged nothing).
    capacity = Math.round(usedBytes(fs, DIR) / 0.95);
    await policy.check();
    assertEquals(policy.status().state, "refusing");
    await assertRejects(
      () => db.put("late", "1"),
      Error,
      "--disk-high-water 90%, --disk-full refuse",
    );
    assertEquals(await db.get("late"), undefined, "a refused write changes nothing");
    assertEquals(policy.status().refused_writes_total, 1);
    assert(log.lines.some((l) => l.includes("refusing writes")));
    // The hub acknowledges everything: retention frees the WAL, writes are taken again.
    store.ack(db.lastSeq, Date.now());
    await policy.check();
    assertEquals(policy.status().state, "ok", `still ${policy.status().used_percent}% used`);
    await db.put("later", "2");
    assert(log.lines.some((l) => l.includes("accepting writes")));
    assertEquals((await contentOf(db)).size, 3101);
  } finally {
    await policy.stop();
    await db.close();
  }
});

Deno.test("disk policy drop-oldest-raw: the oldest unacknowledged WAL is released and counted; the hub gets a snapshot", async () => {
  const fs = new FaultFs();
  const log = captureLogger("edge");
  const opened = await openEdgeDatabase(DIR, "s", {
    fs,
    walSegmentSizeBytes: 64 * 1024,
    memtableSizeBytesMax: 128 * 1024,
  });
  let capacity = 0;
  const policy = new DiskPolicy(opened.db, opened.store, {
    highWaterPercent: 90,
    mode: "drop-oldest-raw",
    space: faultSpace(fs, DIR, () => capacity),
    logger: log,
  });
  const hub = await startTestHub();
  try {
    const { db, store } = opened;
    await fill(db, 0, 3000);
    await db.flush();
    await fill(db, 3000, 100);
    await db.flush();
    const segmentsBefore = db.walSegments().length;
    capacity = Math.round(usedBytes(fs, DIR) / 0.95);
    await policy.check();
    const state = readEdgeState(fs, DIR)!;
    assert(state.evictedEntries > 0, "entries evicted");
    assertEquals(state.evictedThroughSeq, store.state.evictedThroughSeq);
    assert(db.walSegments().length < segmentsBefore, "segments deleted");
    assert(log.lines.some((l) => l.includes("evicted unshipped WAL")), log.lines.join("\n"));
    assertEquals(policy.status().evicted_entries_total, state.evictedEntries);
    // The edge's own data is whole; writes go on.
    await db.put("after", "1");
    assertEquals((await contentOf(db)).size, 3101);
    // The hub, reached at last, gets the current data as a snapshot.
    const token = await addTestSite(hub.dir, "s");
    const uplink = startUplink(db, store, {
      hub: `127.0.0.1:${hub.port}`,
      site: "s",
      token,
      logger: log,
      backoff: { baseMs: 20, maxMs: 200 },
      heartbeatMs: 200,
    });
    try {
      await uplink.waitForAck(db.lastSeq);
      await waitForSiteEqual(hub.db, db, "s");
      assertEquals(hub.hub.statuses()[0]!.snapshots, 1);
    } finally {
      await uplink.close();
    }
  } finally {
    await policy.stop();
    await opened.db.close();
    await hub.close();
    await removeDir(hub.dir);
  }
});
