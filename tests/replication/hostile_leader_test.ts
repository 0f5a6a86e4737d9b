/**
 * A replica facing a hostile or broken leader: compressed or oversized frames before WELCOME,
 * a WELCOME trickled byte by byte, and the Snappy body that wedged leaders sent after WELCOME
 * (a real `cityhall replica` child process, whose RESP port must keep answering).
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  encodeData,
  encodeFrame,
  encodeWelcome,
  FRAME_DATA,
  FRAME_WELCOME,
} from "../../src/replication/frame.ts";
import { eventually, removeDir, startTestReplica } from "./_helpers.ts";
import {
  fakeLeader,
  pingWithin,
  rawFrame,
  skipFrame,
  startCityhallChild,
  writeAll,
} from "./_raw.ts";

const LEADER_ID = new Uint8Array(16).fill(0x42);

function welcome(durableSeq = 0): Uint8Array {
  return encodeWelcome({
    leaderId: LEADER_ID,
    durableSeq,
    firstSeq: 1,
    heartbeatMs: 200,
    idleTimeoutMs: 5000,
    segments: [],
  });
}

Deno.test("Replica: a Snappy-flagged WELCOME is refused before anything is decompressed", async () => {
  const fake = fakeLeader(async (conn) => {
    await skipFrame(conn);
    // A hostile Snappy body behind a correct CRC, flagged compressed.
    await writeAll(
      conn,
      rawFrame(FRAME_WELCOME, new Uint8Array([1, 0xfc, 0, 0, 0, 0x80]), { flags: 1 }),
    );
    await skipFrame(conn);
  });
  const replica = await startTestReplica(fake.port, { backoff: { baseMs: 10, maxMs: 50 } });
  try {
    await eventually(
      () => /compressed body before WELCOME/.test(replica.replica.status().lastError ?? ""),
      "the replica refused the compressed WELCOME",
    );
    assert(replica.replica.state !== "connected");
    assertEquals(replica.db.lastSeq, 0);
  } finally {
    await replica.close();
    await fake.close();
    await removeDir(replica.dir);
  }
});

Deno.test("Replica: a WELCOME declared over its limit is refused from the header", async () => {
  const fake = fakeLeader(async (conn) => {
    await skipFrame(conn);
    await writeAll(conn, rawFrame(FRAME_WELCOME, new Uint8Array(0), { length: 75 * 1024 * 1024 }));
    await skipFrame(conn);
  });
  const replica = await startTestReplica(fake.port, { backoff: { baseMs: 10, maxMs: 50 } });
  try {
    await eventually(
      () =>
        /WELCOME body length 78643200 over the limit 524332 before WELCOME/.test(
          replica.replica.status().lastError ?? "",
        ),
      "refused from the header",
    );
  } finally {
    await replica.close();
    await fake.close();
    await removeDir(replica.dir);
  }
});

Deno.test("Replica: a WELCOME trickled byte by byte hits the absolute handshake deadline", async () => {
  const fake = fakeLeader(async (conn) => {
    await skipFrame(conn);
    const bytes = encodeFrame(FRAME_WELCOME, welcome());
    for (let i = 0; i < bytes.length; i++) {
      if (!(await writeAll(conn, bytes.subarray(i, i + 1)))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  const replica = await startTestReplica(fake.port, {
    handshakeTimeoutMs: 500,
    idleTimeoutMs: 5000,
    backoff: { baseMs: 10, maxMs: 50 },
  });
  try {
    await eventually(
      () => replica.replica.status().lastError === "Leader sent no WELCOME within 500 ms",
      "the replica gave up on the trickling leader",
      500,
    );
    assert(replica.replica.state !== "connected");
  } finally {
    await replica.close();
    await fake.close();
    await removeDir(replica.dir);
  }
});

Deno.test("cityhall replica: the wedging Snappy DATA body from its leader is refused; RESP keeps answering", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-hostile-replica-" });
  let hostileSent = 0;
  const fake = fakeLeader(async (conn) => {
    await skipFrame(conn); // HELLO
    await writeAll(conn, encodeFrame(FRAME_WELCOME, welcome(2)));
    await skipFrame(conn); // FETCH
    const header = encodeData({
      firstSeq: 1,
      lastSeq: 2,
      durableSeq: 2,
      segmentId: 1,
      recordCount: 1,
      records: new Uint8Array(0),
    });
    // A DATA body whose Snappy stream declares 64 bytes, then a literal of 0x80000000 bytes.
    const hostile = new Uint8Array([0x40, 0xfc, 0x00, 0x00, 0x00, 0x80, ...header]);
    await writeAll(conn, rawFrame(FRAME_DATA, hostile, { flags: 1 }));
    hostileSent++;
    await skipFrame(conn);
  });
  const replica = await startCityhallChild([
    "replica",
    "--leader",
    `127.0.0.1:${fake.port}`,
    "--data-dir",
    dir,
    "--port",
    "0",
    "--no-http",
  ]);
  try {
    await eventually(() => hostileSent > 0, "the fake leader sent its DATA", 1000);
    await new Promise((r) => setTimeout(r, 200));
    await pingWithin(replica.port("resp"), 2000);
    await eventually(
      () => replica.lines.some((l) => l.includes("bad Snappy body")),
      "the replica logged the refused frame",
      1000,
    );
    await pingWithin(replica.port("resp"), 2000);
    assertMatch(replica.lines.join("\n"), /nothing from it was applied/);
  } finally {
    await replica.stop("SIGKILL");
    await fake.close();
    await removeDir(dir);
  }
});
