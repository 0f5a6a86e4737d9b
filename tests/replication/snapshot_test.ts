/**
 * Snapshot bootstrap: a new replica of a leader whose WAL no longer starts at sequence 1 gets
 * a checkpoint's SSTables (checksummed, resumable), then streams from the checkpoint.
 */

import { replicationPort } from "../../src/engine/mod.ts";
import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { digest, removeDir, startTestLeader, startTestReplica, writeSensors } from "./_helpers.ts";
import { startCuttingProxy } from "./_proxy.ts";

const SMALL = { walSegmentSizeBytes: 64 * 1024, memtableSizeBytesMax: 32 * 1024 };

async function leaderWithoutEarlyWal() {
  const leader = await startTestLeader({ db: SMALL });
  await writeSensors(leader.db, 6000);
  await leader.db.write([{ type: "delete", key: "sensor.temp.line_5" }]);
  await leader.db.flush();
  replicationPort(leader.db).applyRetention();
  const first = leader.db.walSegments().find((s) => s.firstSeq > 0)?.firstSeq ??
    leader.db.durableSeq + 1;
  assert(first > 1, `the leader's WAL still starts at ${first}`);
  return leader;
}

Deno.test("Replication snapshot: a new replica bootstraps from SSTables, then streams", async () => {
  const leader = await leaderWithoutEarlyWal();
  const replica = await startTestReplica(leader.port, { fetchBytes: 16 * 1024 });
  try {
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
    assert(
      replica.log.lines.some((l) => l.includes("bootstrapped replica from a leader snapshot")),
      "log",
    );
    await writeSensors(leader.db, 500, "after.");
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
    assertEquals(replica.db.lastSeq, leader.db.lastSeq);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
  // Reopened, the bootstrapped replica keeps its position and content.
});

Deno.test("Replication snapshot: a transfer cut mid-file resumes and ends equal", async () => {
  const leader = await leaderWithoutEarlyWal();
  // The first three connections are cut after some kilobytes of snapshot.
  const proxy = startCuttingProxy(leader.port, (n) => (n < 3 ? 20_000 + n * 15_000 : undefined));
  const replica = await startTestReplica(proxy.port, {
    fetchBytes: 4096,
    backoff: { baseMs: 1, maxMs: 10 },
  });
  try {
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
    assert(proxy.cuts >= 1, "the transfer was cut");
    const done = replica.log.lines.find((l) => l.includes("bootstrapped replica"));
    assert(done !== undefined && !/resumedBytes=0\b/.test(done), `resumed: ${done}`);
    // The position survives a restart.
    const dir = replica.dir;
    await replica.close();
    const again = await startTestReplica(leader.port, { dir });
    await writeSensors(leader.db, 100, "later.");
    await again.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(again.db), await digest(leader.db));
    await again.close();
  } finally {
    await replica.close();
    await proxy.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replication snapshot: past the retention cap a replica is bootstrapped again and ends equal", async () => {
  const leader = await startTestLeader({ db: SMALL, retentionMaxBytes: 64 * 1024 });
  const replica = await startTestReplica(leader.port, { fetchBytes: 8192 });
  // Enough that the replica flushed tables of its own (their numbers may collide with the
  // leader's: the snapshot's files get fresh numbers).
  await writeSensors(leader.db, 3000);
  await replica.replica.waitForAck(leader.db.lastSeq);
  await replica.db.flush();
  await replica.close();
  try {
    await writeSensors(leader.db, 8000, "offline.");
    await leader.db.write([{ type: "delete", key: "sensor.temp.line_9" }]);
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    const back = await startTestReplica(leader.port, { dir: replica.dir });
    await back.replica.waitForAck(leader.db.lastSeq);
    assert(back.log.lines.some((l) => l.includes("bootstrapping from a snapshot")), "log line");
    assertEquals(await digest(back.db), await digest(leader.db));
    await writeSensors(leader.db, 300, "after.");
    await back.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(back.db), await digest(leader.db));
    await back.close();
    // Reopened: position and content agree.
    const again = await startTestReplica(leader.port, { dir: replica.dir });
    await again.replica.waitForAck(leader.db.lastSeq);
    assertEquals(again.db.lastSeq, leader.db.lastSeq);
    assertEquals(await digest(again.db), await digest(leader.db));
    await again.close();
  } finally {
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});
