/**
 * `GET /v1/replication` with a real leader and replica (in this process): the leader lists the
 * replica with its position and lag, the replica shows its link, and both agree with INFO.
 */

import { assert, assertEquals } from "@std/assert";
import { replicationStatus } from "../../src/console/mod.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { silentLogger } from "../../src/util/log.ts";
import {
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "../replication/_helpers.ts";

Deno.test("replication status: a leader's replicas and a replica's link, as JSON", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  const http = await startHttpServer(leader.db, {
    hostname: "127.0.0.1",
    port: 0,
    logger: silentLogger,
  });
  try {
    await writeSensors(leader.db, 200);
    await eventually(() => {
      const r = replicationStatus(leader.db).replicas[0];
      return r !== undefined && r.position === leader.db.lastSeq && r.state === "online";
    }, "the leader sees the replica caught up");
    const res = await fetch(`${http.url}/v1/replication`);
    assertEquals(res.status, 200);
    const st = await res.json();
    assertEquals(st.role, "leader");
    assertEquals(st.position, leader.db.lastSeq);
    assertEquals(st.replicas.length, 1);
    const r = st.replicas[0];
    assertEquals(r.id, replica.replica.replicaId);
    assertEquals(r.lagEntries, 0);
    assertEquals(r.verified, true);
    assert(/^127\.0\.0\.1:\d+$/.test(r.address), r.address);
    assert(r.lastSeenMs > 0);
    assertEquals(st.uplinks, []);
    assertEquals(st.info.cityhall_role, "leader");

    await eventually(
      () => replicationStatus(replica.db).leader?.position === leader.db.lastSeq,
      "the replica's own status shows it caught up",
    );
    const rs = replicationStatus(replica.db);
    assertEquals(rs.role, "replica");
    assertEquals(rs.leader?.address, `127.0.0.1:${leader.port}`);
    assertEquals(rs.leader?.linkState, "connected");
    assertEquals(rs.leader?.lastError, "");
    assertEquals(rs.replicas, []);

    await replica.close();
    await eventually(
      () => replicationStatus(leader.db).replicas[0]?.state === "offline",
      "the leader sees the replica go offline",
    );
    await writeSensors(leader.db, 50, "more.");
    const behind = replicationStatus(leader.db).replicas[0]!;
    assertEquals(behind.lagEntries, 50);
    assert(behind.lagBytes > 0);
  } finally {
    await http.shutdown();
    await replica.close().catch(() => {});
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});
