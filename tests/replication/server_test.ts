/**
 * CityHall Sync through the RESP server: INFO replication on both sides, WAIT counting
 * acknowledging replicas, READONLY on a replica, REPLICATION LIST / FORGET, and the backoff.
 */

import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { startServer } from "../../src/server/mod.ts";
import { renderMetrics } from "../../src/http/mod.ts";
import { Backoff } from "../../src/replication/mod.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";
import { eventually, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";

Deno.test("Replication over RESP: INFO, WAIT, READONLY and REPLICATION FORGET", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  const leaderServer = await startServer(leader.db, { hostname: "127.0.0.1", port: 0 });
  const replicaServer = await startServer(replica.db, { hostname: "127.0.0.1", port: 0 });
  const lc = await connectRedis(leaderServer.addr.port);
  const rc = await connectRedis(replicaServer.addr.port);
  try {
    await lc.set("sensor.a", "21.5");
    assertEquals(await lc.wait(1, 5000), 1);
    assertEquals(await rc.get("sensor.a"), "21.5");
    await assertRejects(
      () => rc.set("sensor.a", "0"),
      Error,
      "READONLY You can't write against a read only replica.",
    );
    await assertRejects(() => rc.del("sensor.a"), Error, "READONLY");
    const leaderInfo = await lc.info("replication");
    assertMatch(leaderInfo, /role:master/);
    assertMatch(leaderInfo, /connected_slaves:1/);
    assertMatch(leaderInfo, new RegExp(`slave0:id=${replica.replica.replicaId},.*offset=1,`));
    assertMatch(leaderInfo, /lag_entries=0,lag_bytes=0/);
    const replicaInfo = await rc.info("replication");
    assertMatch(replicaInfo, /role:slave/);
    assertMatch(replicaInfo, /master_link_status:up/);
    assertMatch(replicaInfo, /slave_repl_offset:1/);
    assertMatch(replicaInfo, /cityhall_lag_entries:0/);
    assertMatch(replicaInfo, /cityhall_retries:0/);
    // The same facts in /metrics (the registries attached to each database).
    const id = replica.replica.replicaId;
    const leaderMetrics = renderMetrics(leader.db);
    assertMatch(
      leaderMetrics,
      new RegExp(`cityhall_leader_replica_acked_sequence\\{replica="${id}"\\} 1\n`),
    );
    assertMatch(
      leaderMetrics,
      new RegExp(`cityhall_leader_replica_lag_entries\\{replica="${id}"\\} 0\n`),
    );
    assertMatch(leaderMetrics, /\ncityhall_leader_known_replicas 1\n/);
    const replicaMetrics = renderMetrics(replica.db);
    assertMatch(replicaMetrics, /\ncityhall_replica_link_up 1\n/);
    assertMatch(replicaMetrics, /\ncityhall_replica_acked_sequence 1\n/);
    assertMatch(replicaMetrics, /\ncityhall_replica_lag_entries 0\n/);
    // WAIT for more replicas than exist times out with the count that acknowledged.
    // (The one replica's acknowledgement is awaited first: at load, 50 ms may not see it.)
    await lc.set("sensor.b", "1");
    assertEquals(await lc.wait(1, 10_000), 1);
    assertEquals(await lc.wait(2, 50), 1);
    const list = await lc.call("replication", "list") as string[];
    assertEquals(list.length, 1);
    assertMatch(list[0]!, new RegExp(`^${replica.replica.replicaId} `));
    await replica.close();
    assertEquals(await lc.call("replication", "forget", replica.replica.replicaId), 1);
    assertEquals(await lc.call("replication", "forget", replica.replica.replicaId), 0);
    assertEquals(leader.leader.registry.size, 0);
    assertMatch(await lc.info("replication"), /known_replicas:0/);
  } finally {
    await closeRedis(lc);
    await closeRedis(rc);
    await leaderServer.close();
    await replicaServer.close();
    await replica.db.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replication over RESP: a stopped replica's INFO says the link is down and retries", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  const server = await startServer(replica.db, { hostname: "127.0.0.1", port: 0 });
  const rc = await connectRedis(server.addr.port);
  try {
    await eventually(() => replica.replica.state === "connected", "connected");
    await leader.close();
    await eventually(() => replica.replica.retries >= 2, "retrying");
    const info = await rc.info("replication");
    assertMatch(info, /master_link_status:down/);
    assertMatch(info, /cityhall_link_state:retrying/);
    const retrying = replica.log.lines.filter((l) => l.includes("replication link retrying"));
    assertEquals(retrying.length, 1, "the state change is logged once, not every retry");
  } finally {
    await closeRedis(rc);
    await server.close();
    await replica.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Backoff: delays grow with full jitter between the floor and a doubling ceiling", () => {
  let r = 0.5;
  const b = new Backoff({ baseMs: 1000, maxMs: 60_000, random: () => r });
  const ceilings: number[] = [];
  for (let i = 0; i < 10; i++) {
    ceilings.push(b.ceilingMs);
    const d = b.next();
    assert(d >= 1000 && d <= ceilings[i]!, `delay ${d} outside [1000, ${ceilings[i]}]`);
  }
  assertEquals(ceilings, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  r = 0;
  assertEquals(b.next(), 1000);
  r = 0.999999;
  assert(b.next() > 59_000, "near the ceiling");
  b.reset();
  assertEquals(b.ceilingMs, 1000);
});
