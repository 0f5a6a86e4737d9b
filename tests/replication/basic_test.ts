/**
 * CityHall Sync end to end in one process: replication of many writes, catch-up after a
 * restart, read-only replicas, refusals.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { ReadOnlyError } from "../../src/engine/mod.ts";
import {
  digest,
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "./_helpers.ts";

Deno.test("Replication: 10,000 writes reach a replica with equal full-content digests", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  try {
    await writeSensors(leader.db, 10_000);
    await leader.db.write([
      { type: "delete", key: "sensor.temp.line_7" },
      { type: "put", key: "batch.a", value: "1" },
    ]);
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(replica.db.lastSeq, leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
    assertEquals((await digest(replica.db)).keys, 10_000);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replication: a replica refuses writes and serves reads", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  try {
    await leader.db.put("k", "v");
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(new TextDecoder().decode(await replica.db.get("k")), "v");
    await assertRejects(() => replica.db.put("k", "x"), ReadOnlyError);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replication: a restarted replica catches up from its own WAL position", async () => {
  const leader = await startTestLeader();
  let replica = await startTestReplica(leader.port);
  const replicaDir = replica.dir;
  try {
    await writeSensors(leader.db, 2000);
    await replica.replica.waitForAck(leader.db.lastSeq);
    await replica.close();
    // The size: 100,000 writes while the replica is away.
    await writeSensors(leader.db, 100_000, "more.");
    replica = await startTestReplica(leader.port, { dir: replicaDir });
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
    assert(leader.leader.registry.size === 1, "one known replica");
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replicaDir);
  }
});

Deno.test("Replication: a new write reaches a connected replica without polling", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port, { fetchWaitMs: 60_000 });
  try {
    await eventually(() => replica.replica.state === "connected", "replica connected");
    for (let i = 0; i < 20; i++) {
      await leader.db.put(`live.${i}`, `${i}`);
      await replica.replica.waitForAck(leader.db.lastSeq);
    }
    assertEquals(await digest(replica.db), await digest(leader.db));
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});
