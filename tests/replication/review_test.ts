/**
 * Regression tests from a review of CityHall Sync: a leader session whose peer stopped reading
 * ends at the idle timeout, a snapshot's sequence is durable on the leader before it is sent,
 * and a replica acknowledges only what its WAL has fdatasync'ed whatever its sync mode.
 */

import { replicationPort } from "../../src/engine/mod.ts";
import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { Database, FaultFs, type FileSystem } from "../../src/mod.ts";
import {
  openLeaderDatabase,
  openReplicaDatabase,
  startReplica,
  startReplicationLeader,
} from "../../src/replication/mod.ts";
import {
  encodeFetch,
  encodeFrame,
  encodeHello,
  FRAME_FETCH,
  FRAME_HELLO,
  SYNC_PROTOCOL_VERSION,
} from "../../src/replication/frame.ts";
import {
  captureLogger,
  digest,
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "./_helpers.ts";

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

Deno.test("Replication review: a leader session whose peer stops reading ends at the idle timeout", async () => {
  const leader = await startTestLeader({ heartbeatMs: 100, idleTimeoutMs: 500 });
  // ~48 MiB of incompressible records: more than loopback socket buffers hold.
  const value = new Uint8Array(1 << 20);
  for (let i = 0; i < 48; i++) {
    for (let off = 0; off < value.length; off += 65536) {
      crypto.getRandomValues(value.subarray(off, off + 65536));
    }
    await leader.db.put(`big${i}`, value);
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: leader.port });
  let clientClosed = false;
  try {
    await writeAll(
      conn,
      encodeFrame(
        FRAME_HELLO,
        encodeHello({
          version: SYNC_PROTOCOL_VERSION,
          replicaId: new Uint8Array(16).fill(9),
          expectedLeaderId: new Uint8Array(16),
          nextSeq: 1,
          token: new Uint8Array(0),
        }),
      ),
    );
    await writeAll(
      conn,
      encodeFrame(FRAME_FETCH, encodeFetch({ fromSeq: 1, maxBytes: 64 << 20, waitMs: 0 })),
    );
    // The peer half-closes and never reads: the leader's big DATA write cannot finish.
    await conn.closeWrite();
    await eventually(() => leader.leader.connectedReplicas === 0, "the stuck session ended", 500);
    const closed = leader.leader.close().then(() => true);
    const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), 3000));
    const done = await Promise.race([closed, timedOut]);
    if (!done) {
      conn.close();
      clientClosed = true;
      await closed;
    }
    assert(done, "leader.close() hung on a session whose peer stopped reading");
  } finally {
    if (!clientClosed) conn.close();
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication review: a snapshot from a leader in sync mode none is accepted and acknowledged", async () => {
  const leader = await startTestLeader({
    db: { walSegmentSizeBytes: 64 * 1024, memtableSizeBytesMax: 32 * 1024, syncMode: "none" },
  });
  let replica;
  try {
    await writeSensors(leader.db, 6000);
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    // A few writes after the last segment switch: written, not fdatasync'ed.
    await writeSensors(leader.db, 3, "tail.");
    assert(leader.db.durableSeq < leader.db.lastSeq, "the tail is not durable yet");
    const first = leader.db.walSegments().find((s) => s.firstSeq > 0)?.firstSeq ??
      leader.db.durableSeq + 1;
    assert(first > 1, `the leader's WAL still starts at ${first}`);
    replica = await startTestReplica(leader.port);
    await replica.replica.waitForAck(leader.db.lastSeq);
    // The replica enters the registry with its first ACK (here: of the snapshot).
    await eventually(
      () => (leader.leader.registry.list()[0]?.ackedSeq ?? 0) >= leader.db.lastSeq,
      "the leader took the ACK",
      300,
    );
    assertEquals(replica.replica.state, "connected");
    assert(
      !leader.log.lines.some((l) => l.includes("beyond")),
      "the leader refused the snapshot's ACK",
    );
    assertEquals(await digest(replica.db), await digest(leader.db));
  } finally {
    await replica?.close();
    await leader.close();
    await removeDir(leader.dir);
    if (replica) await removeDir(replica.dir);
  }
});

Deno.test("Replication review: a replica whose database does not sync each write acknowledges only fdatasync'ed writes", async () => {
  const leader = await startTestLeader();
  const dir = await Deno.makeTempDir({ prefix: "cityhall-replica-" });
  const db = await Database.open(dir, { syncMode: "none" });
  const replica = startReplica(db, {
    leader: `127.0.0.1:${leader.port}`,
    logger: captureLogger("replica"),
    backoff: { baseMs: 20, maxMs: 200 },
    fetchWaitMs: 200,
    heartbeatMs: 200,
  });
  try {
    await writeSensors(leader.db, 50);
    await replica.waitForAck(leader.db.lastSeq);
    assert(
      db.durableSeq >= replica.ackedSeq,
      `acknowledged ${replica.ackedSeq} with only ${db.durableSeq} fdatasync'ed`,
    );
  } finally {
    await replica.close();
    await db.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(dir);
  }
});

Deno.test({
  name:
    "Replication review: what a restarted leader ships survives a power loss (recovered WAL is fdatasync'ed)",
  // The first database is abandoned as a crashed process would leave it.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fault = new FaultFs();
    // Each "process" gets its own directory locks over the same disk.
    const processFs = (): FileSystem =>
      new Proxy(fault, {
        get(target, prop) {
          if (prop === "lock") return () => ({ release() {} });
          const v = Reflect.get(target, prop, target);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
    const dir = "/leader";
    const crashed = await Database.open(dir, { fs: processFs(), syncMode: "none" });
    for (let i = 0; i < 20; i++) await crashed.put(`k${i}`, `v${i}`);
    // The process dies: the records are written (page cache), not fdatasync'ed.
    const { db, registry } = await openLeaderDatabase(dir, { fs: processFs() });
    const leader = await startReplicationLeader(db, { hostname: "127.0.0.1", port: 0, registry });
    const shippable = db.durableSeq;
    assertEquals(shippable, 20);
    await leader.close();
    await db.close();
    fault.powerLoss();
    const after = await Database.open(dir, { fs: processFs() });
    try {
      assert(
        after.lastSeq >= shippable,
        `the leader offered replicas up to ${shippable}, a power loss left it at ${after.lastSeq}`,
      );
    } finally {
      await after.close();
    }
  },
});

Deno.test({
  name:
    "Replication review: the position a restarted replica announces survives a power loss (recovered WAL is fdatasync'ed)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fault = new FaultFs();
    const processFs = (): FileSystem =>
      new Proxy(fault, {
        get(target, prop) {
          if (prop === "lock") return () => ({ release() {} });
          const v = Reflect.get(target, prop, target);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
    const dir = "/replica";
    const crashed = await Database.open(dir, { fs: processFs(), syncMode: "none" });
    for (let i = 0; i < 20; i++) await crashed.put(`k${i}`, `v${i}`);
    const db = await openReplicaDatabase(dir, { fs: processFs() });
    // Nobody listens there: the replica only starts and stops.
    const replica = startReplica(db, { leader: "127.0.0.1:1", backoff: { baseMs: 5, maxMs: 5 } });
    const announced = db.lastSeq;
    assertEquals(announced, 20);
    await replica.close();
    await db.close();
    fault.powerLoss();
    const after = await Database.open(dir, { fs: processFs() });
    try {
      assert(
        after.lastSeq >= announced,
        `the replica announced ${announced}, a power loss left it at ${after.lastSeq}`,
      );
    } finally {
      await after.close();
    }
  },
});

Deno.test("Replication review: a replica refuses a data directory holding writes of no recorded leader", async () => {
  const leader = await startTestLeader();
  const dir = await Deno.makeTempDir({ prefix: "cityhall-replica-" });
  const own = await Database.open(dir);
  await own.put("local", "mine");
  await own.put("sensor.temp.line_1", "own history");
  await own.close();
  let replica;
  try {
    await writeSensors(leader.db, 10);
    replica = await startTestReplica(leader.port, { dir });
    await eventually(() => replica!.replica.state === "refused", "refused", 300);
    assertEquals(replica.db.lastSeq, 2);
    assertEquals(await replica.db.get("sensor.temp.line_3"), undefined);
    assertEquals(leader.leader.registry.size, 0);
  } finally {
    await replica?.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(dir);
  }
});
