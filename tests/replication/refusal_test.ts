/**
 * CityHall Sync refuses what it must: a wrong leader, a wrong token and corrupted frames are
 * refused with a clear log line and nothing applied.
 */

import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { encodeBatch, encodeRecord, WAL_RECORD_TYPE_BATCH } from "../../src/wal/mod.ts";
import { KIND_PUT } from "../../src/util/entry.ts";
import { FRAME_HEADER_BYTES } from "../../src/limits.ts";
import {
  encodeData,
  encodeFrame,
  encodeWelcome,
  FRAME_DATA,
  FRAME_WELCOME,
} from "../../src/replication/frame.ts";
import {
  FrameReader,
  LEADER_BEFORE_HELLO,
  LEADER_FROM_REPLICA,
} from "../../src/replication/frame_reader.ts";
import { eventually, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";

Deno.test("Replication: a replica refuses a different leader and applies nothing from it", async () => {
  const first = await startTestLeader();
  const second = await startTestLeader();
  let replica = await startTestReplica(first.port);
  const dir = replica.dir;
  try {
    await first.db.put("a", "1");
    await replica.replica.waitForAck(first.db.lastSeq);
    await replica.close();
    await second.db.put("b", "2");
    await second.db.put("c", "3");
    replica = await startTestReplica(second.port, { dir });
    await eventually(() => replica.replica.state === "refused", "replica refused");
    assert(
      replica.log.lines.some((l) => l.includes("Refusing to replicate: leader id")),
      "clear log line on the replica",
    );
    assertEquals(replica.db.lastSeq, 1);
    assertEquals(await replica.db.get("b"), undefined);
  } finally {
    await replica.close();
    await first.close();
    await second.close();
    await removeDir(first.dir);
    await removeDir(second.dir);
    await removeDir(dir);
  }
});

Deno.test("Replication: a wrong auth token is refused on both ends", async () => {
  const leader = await startTestLeader({ authToken: "s3cret" });
  const replica = await startTestReplica(leader.port, { authToken: "guess" });
  try {
    await leader.db.put("a", "1");
    await eventually(() => replica.replica.state === "refused", "replica refused");
    assert(
      leader.log.lines.some((l) => l.includes("refusing replica: wrong auth token")),
      "leader log",
    );
    assert(replica.log.lines.some((l) => l.includes("Wrong auth token")), "replica log");
    assertEquals(replica.db.lastSeq, 0);
    assertEquals(leader.leader.registry.size, 0);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replication: the right auth token is accepted", async () => {
  const leader = await startTestLeader({ authToken: "s3cret" });
  const replica = await startTestReplica(leader.port, { authToken: "s3cret" });
  try {
    await leader.db.put("a", "1");
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(replica.db.lastSeq, 1);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

/** A fake leader that answers HELLO with WELCOME, then one DATA frame `mangle` spoils. */
function fakeLeader(mangle: (frame: Uint8Array) => void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const records = [
    encodeRecord(
      1,
      WAL_RECORD_TYPE_BATCH,
      encodeBatch([{
        kind: KIND_PUT,
        key: new TextEncoder().encode("x"),
        value: new Uint8Array(100),
      }]),
    ),
    encodeRecord(
      2,
      WAL_RECORD_TYPE_BATCH,
      encodeBatch([{
        kind: KIND_PUT,
        key: new TextEncoder().encode("y"),
        value: new Uint8Array(100),
      }]),
    ),
  ];
  const all = new Uint8Array(records[0]!.length + records[1]!.length);
  all.set(records[0]!, 0);
  all.set(records[1]!, records[0]!.length);
  let connections = 0;
  const task = (async () => {
    for await (const conn of listener) {
      connections++;
      try {
        const reader = new FrameReader(conn, LEADER_BEFORE_HELLO);
        await reader.next(); // HELLO
        reader.policy = LEADER_FROM_REPLICA;
        await conn.write(encodeFrame(
          FRAME_WELCOME,
          encodeWelcome({
            leaderId: new Uint8Array(16).fill(7),
            durableSeq: 2,
            firstSeq: 1,
            heartbeatMs: 200,
            idleTimeoutMs: 5000,
            segments: [],
          }),
        ));
        await reader.next(); // FETCH
        const frame = encodeFrame(
          FRAME_DATA,
          encodeData({
            firstSeq: 1,
            lastSeq: 2,
            durableSeq: 2,
            segmentId: 1,
            recordCount: 2,
            records: all,
          }),
        );
        mangle(frame);
        await conn.write(frame);
        await reader.next().catch(() => {}); // the replica's ERROR, or its close
      } catch {
        // The replica hung up.
      }
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      await task.catch(() => {});
    },
  };
}

Deno.test("Replication: a frame with a bad checksum is refused and nothing in it is applied", async () => {
  const fake = fakeLeader((frame) => {
    frame[frame.length - 5]! ^= 0x01; // inside the second record's payload
  });
  const replica = await startTestReplica(fake.port);
  try {
    await eventually(() => fake.connections >= 2, "replica reconnected after the refusal");
    assert(
      replica.log.lines.some((l) =>
        l.includes("replication frame refused") && l.includes("checksum mismatch")
      ),
      "clear log line",
    );
    assertEquals(replica.db.lastSeq, 0);
    assertEquals(await replica.db.get("x"), undefined);
  } finally {
    await replica.close();
    await fake.close();
    await removeDir(replica.dir);
  }
});

Deno.test("Replication: a well-framed DATA with a corrupt record is refused whole", async () => {
  const fake = fakeLeader((frame) => {
    // Spoil the second record's payload, then re-seal the frame so only the record CRC fails.
    frame[frame.length - 5]! ^= 0x01;
    const body = frame.slice(FRAME_HEADER_BYTES);
    frame.set(encodeFrame(frame[0]!, body));
  });
  const replica = await startTestReplica(fake.port);
  try {
    await eventually(() => fake.connections >= 2, "replica reconnected after the refusal");
    assert(
      replica.log.lines.some((l) =>
        l.includes("replication frame refused") && l.includes("Cannot accept DATA frame")
      ),
      "clear log line",
    );
    // The first record was fine, but the frame is checked whole before anything is applied.
    assertEquals(replica.db.lastSeq, 0);
  } finally {
    await replica.close();
    await fake.close();
    await removeDir(replica.dir);
  }
});
