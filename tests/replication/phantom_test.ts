/**
 * Phantom replicas (issue 8.3): a peer that says HELLO (and perhaps ACKs) but never takes data
 * must not be registered, persisted, pinned, counted by WAIT, nor fill the replica slots; a
 * refused session must end at once. Setups without a token, as in the issue.
 */

import { replicationPort } from "../../src/engine/mod.ts";
import { assert, assertEquals } from "@std/assert";
import { joinPath, RealFs } from "../../src/fs/mod.ts";
import {
  REPLICATION_RETENTION_BYTES_MAX_DEFAULT,
  REPLICATION_SESSIONS_MAX,
} from "../../src/limits.ts";
import {
  encodeFetch,
  encodeSeq,
  FRAME_ACK,
  FRAME_FETCH,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
} from "../../src/replication/frame.ts";
import { ReplicaRegistry } from "../../src/replication/mod.ts";
import {
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "./_helpers.ts";
import { connect, helloBody, rawFrame, readUntilClosed, writeAll } from "./_raw.ts";

const SMALL = { walSegmentSizeBytes: 64 * 1024, memtableSizeBytesMax: 32 * 1024 };

async function replicasFile(dir: string): Promise<{ version?: number; replicas: unknown[] }> {
  try {
    return JSON.parse(await Deno.readTextFile(joinPath(dir, "replication", "replicas.json")));
  } catch {
    return { replicas: [] };
  }
}

Deno.test("Replication phantom: one HELLO registers nothing, persists nothing and pins no WAL", async () => {
  const leader = await startTestLeader({ db: SMALL });
  try {
    const conn = await connect(leader.port);
    await writeAll(conn, rawFrame(FRAME_HELLO, helloBody({ id: 0x11, nextSeq: 1 })));
    await eventually(() => leader.log.lines.some((l) => l.includes("replica connected")), "seen");
    conn.close();
    await eventually(() => leader.leader.connectedReplicas === 0, "session ended");
    assertEquals(leader.leader.registry.size, 0);
    assertEquals((await replicasFile(leader.dir)).replicas, []);
    // 200 KB of writes: with the phantom pinned at 0 before the fix, every segment stayed.
    await writeSensors(leader.db, 4000);
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    const segments = leader.db.walSegments().length;
    assert(segments <= 2, `${segments} WAL segments kept for a phantom`);
    assertEquals(await leader.leader.registry.size, 0);
  } finally {
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication phantom: 300 HELLOs do not fill the replica slots; the real replica is accepted", async () => {
  const leader = await startTestLeader();
  let replica;
  try {
    await writeSensors(leader.db, 50);
    for (let i = 0; i < 300; i++) {
      const conn = await connect(leader.port);
      const body = helloBody({ nextSeq: leader.db.durableSeq + 1 });
      body.set(new Uint8Array([i & 0xff, i >> 8, 0x77]), 12);
      // HELLO, then a FETCH and a HEARTBEAT at once: a refused session must not read on.
      const bytes = [
        rawFrame(FRAME_HELLO, body),
        rawFrame(FRAME_FETCH, encodeFetch({ fromSeq: 1, maxBytes: 1024, waitMs: 0 })),
        rawFrame(FRAME_HEARTBEAT, encodeSeq(0, Date.now())),
      ];
      for (const b of bytes) await writeAll(conn, b);
      conn.close();
    }
    await eventually(() => leader.leader.connectedReplicas === 0, "phantom sessions ended");
    assertEquals(leader.leader.registry.size, 0);
    replica = await startTestReplica(leader.port);
    await replica.replica.waitForAck(leader.db.lastSeq);
    await eventually(() => leader.leader.registry.size === 1, "the real replica is known");
    assert(
      !leader.log.lines.some((l) => l.includes("Cannot set properties")),
      "a session kept running after it was refused",
    );
    assert(!leader.log.lines.some((l) => l.includes("Too many replicas")));
  } finally {
    await replica?.close();
    await leader.close();
    await removeDir(leader.dir);
    if (replica) await removeDir(replica.dir);
  }
});

Deno.test("Replication phantom: a refused HELLO followed by more frames gets one ERROR and is closed", async () => {
  const leader = await startTestLeader({ authToken: "right" });
  try {
    const conn = await connect(leader.port);
    const hello = rawFrame(FRAME_HELLO, helloBody({ token: "wrong" }));
    const fetch = rawFrame(FRAME_FETCH, encodeFetch({ fromSeq: 1, maxBytes: 1024, waitMs: 0 }));
    const all = new Uint8Array(hello.length + 3 * fetch.length);
    all.set(hello);
    for (let i = 0; i < 3; i++) all.set(fetch, hello.length + i * fetch.length);
    await writeAll(conn, all);
    const answer = await readUntilClosed(conn, 3000);
    conn.close();
    assert(answer.closed);
    assertEquals(answer.errors.map((e) => e.code), [2]);
    await eventually(() => leader.leader.connectedReplicas === 0, "ended");
    // Before the fix the session read on and failed with "Cannot set properties of
    // undefined (setting 'lastSeenMs')".
    assert(
      !leader.log.lines.some((l) => /Cannot set properties|replica link failed/.test(l)),
      leader.log.lines.join("\n"),
    );
  } finally {
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication phantom: WAIT never counts a replica that only said HELLO and ACK; an ACK of unsent data is refused", async () => {
  const leader = await startTestLeader();
  try {
    await writeSensors(leader.db, 20);
    const durable = leader.db.durableSeq;
    // Claims to hold everything, then acknowledges it: nothing was sent to it.
    const conn = await connect(leader.port);
    await writeAll(conn, rawFrame(FRAME_HELLO, helloBody({ id: 0x22, nextSeq: durable + 1 })));
    await writeAll(conn, rawFrame(FRAME_ACK, encodeSeq(durable)));
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(await leader.leader.registry.size, 0);
    const role = (await import("../../src/replication/hooks.ts")).replicationRoleOf(leader.db)!;
    assertEquals(await role.waitForAcks(1, 300), 0);
    conn.close();
    // A replica at 1 acknowledging 20 it was never sent.
    const liar = await connect(leader.port);
    await writeAll(liar, rawFrame(FRAME_HELLO, helloBody({ id: 0x23, nextSeq: 1 })));
    await writeAll(liar, rawFrame(FRAME_ACK, encodeSeq(durable)));
    const answer = await readUntilClosed(liar, 3000);
    liar.close();
    assert(answer.closed);
    const refusal = answer.errors.at(-1)!;
    assertEquals(refusal.code, 5);
    assert(/acknowledged 20, but was sent only up to 0/.test(refusal.message), refusal.message);
    assertEquals(leader.leader.registry.size, 0);
  } finally {
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication phantom: a replica behind that acknowledges nothing is dropped after the verify timeout, unpinning the WAL", async () => {
  const leader = await startTestLeader({ db: SMALL, verifyTimeoutMs: 500, idleTimeoutMs: 5000 });
  try {
    await writeSensors(leader.db, 2000);
    const conn = await connect(leader.port);
    await writeAll(conn, rawFrame(FRAME_HELLO, helloBody({ id: 0x33, nextSeq: 1 })));
    // Stays alive with heartbeats but never fetches nor acknowledges.
    const beat = setInterval(() => {
      void writeAll(conn, rawFrame(FRAME_HEARTBEAT, encodeSeq(0, Date.now())));
    }, 100);
    try {
      const answer = await readUntilClosed(conn, 5000);
      assert(answer.closed, "the silent replica kept its session");
      const refusal = answer.errors.at(-1)!;
      assertEquals(refusal.code, 8);
      assert(/No acknowledgement of the data sent within 500 ms/.test(refusal.message));
    } finally {
      clearInterval(beat);
      conn.close();
    }
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    assert(leader.db.walSegments().length <= 2, "the WAL is still pinned");
  } finally {
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication registry: entries of a version-1 file load unverified, are not counted by WAIT, and expire", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-registry-" });
  const fs = new RealFs();
  try {
    await Deno.mkdir(joinPath(dir, "replication"));
    await Deno.writeTextFile(
      joinPath(dir, "replication", "replicas.json"),
      JSON.stringify({
        version: 1,
        replicas: [{ id: "ab".repeat(16), address: "x:1", ackedSeq: 5, lastSeenMs: 1 }],
      }),
    );
    const registry = ReplicaRegistry.load(fs, dir);
    assertEquals(registry.get("ab".repeat(16))?.verified, false);
    assertEquals(registry.pins().pinnedSeqs, [5]);
    assertEquals(registry.pins().retainedBytesMax, REPLICATION_RETENTION_BYTES_MAX_DEFAULT);
    assertEquals(registry.expireUnverified(Date.now()), []);
    assertEquals(registry.expireUnverified(Date.now() + 25 * 3600 * 1000), ["ab".repeat(16)]);
    assertEquals(ReplicaRegistry.load(fs, dir).size, 0, "the expiry was persisted");
    // A verified entry survives a reload as verified.
    registry.verify("cd".repeat(16), "y:2", 7);
    const again = ReplicaRegistry.load(fs, dir);
    assertEquals(again.get("cd".repeat(16))?.verified, true);
    assertEquals(again.get("cd".repeat(16))?.ackedSeq, 7);
    assertEquals((await replicasFile(dir)).version, 2);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("Replication leader: at REPLICATION_SESSIONS_MAX unverified sessions a new one is refused, a known replica is not", async () => {
  const leader = await startTestLeader();
  const conns: Deno.TcpConn[] = [];
  let replica;
  try {
    await writeSensors(leader.db, 10);
    replica = await startTestReplica(leader.port);
    await replica.replica.waitForAck(leader.db.lastSeq);
    await eventually(() => leader.leader.registry.size === 1, "the replica is known");
    await replica.replica.close();
    for (let i = 0; i < REPLICATION_SESSIONS_MAX; i++) {
      const conn = await connect(leader.port);
      conns.push(conn);
      const body = helloBody({ nextSeq: leader.db.durableSeq + 1 });
      body.set(new Uint8Array([i, 0x55]), 12);
      await writeAll(conn, rawFrame(FRAME_HELLO, body));
    }
    await eventually(
      () => leader.leader.connectedReplicas === REPLICATION_SESSIONS_MAX,
      "sessions full",
    );
    const extra = await connect(leader.port);
    await writeAll(extra, rawFrame(FRAME_HELLO, helloBody({ id: 0x99 })));
    const answer = await readUntilClosed(extra, 3000);
    extra.close();
    assertEquals(answer.errors[0]?.code, 8);
    assert(/Too many replication sessions \(limit 64\)/.test(answer.errors[0]!.message));
    // The known replica comes back and takes an unverified session's place.
    await replica.db.close();
    replica = await startTestReplica(leader.port, { dir: replica.dir });
    await writeSensors(leader.db, 10, "more.");
    await replica.replica.waitForAck(leader.db.lastSeq);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Closed by the leader.
      }
    }
    await replica?.close();
    await leader.close();
    await removeDir(leader.dir);
    if (replica) await removeDir(replica.dir);
  }
});
