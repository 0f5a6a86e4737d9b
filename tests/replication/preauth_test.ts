/**
 * Hostile bytes on the replication port before authentication (issue 8.1, 8.2): the 18-byte
 * Snappy packet that wedged the event loop, DATA frames declaring tens of MiB before HELLO,
 * peers that trickle bytes to hold the handshake open, and floods of silent connections. The
 * leader runs as a child process (`cityhall leader` with a token), so that a wedged leader fails
 * the test (its RESP port stops answering) instead of hanging it.
 */

import { assert, assertEquals } from "@std/assert";
import { HELLO_BODY_BYTES_MAX, REPLICATION_HANDSHAKES_MAX } from "../../src/limits.ts";
import { FRAME_DATA, FRAME_HELLO } from "../../src/replication/frame.ts";
import { rssBytes } from "../_helpers/fuzz.ts";
import {
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "./_helpers.ts";
import {
  connect,
  helloBody,
  pingWithin,
  rawFrame,
  readUntilClosed,
  startLeaderChild,
  WEDGE_PACKET,
  writeAll,
} from "./_raw.ts";

const TOKEN = "preauth-test-token";
const MiB = 1024 * 1024;

Deno.test("Replication leader: the 18-byte Snappy packet before HELLO is refused at once; RESP and HTTP keep answering", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-preauth-" });
  const leader = await startLeaderChild(dir, { token: TOKEN });
  try {
    const resp = leader.port("resp");
    await pingWithin(resp, 5000, TOKEN);
    const conn = await connect(leader.port("replication"));
    await writeAll(conn, WEDGE_PACKET);
    const answer = await readUntilClosed(conn, 5000);
    conn.close();
    assert(answer.closed, "the leader did not close the connection");
    assertEquals(answer.errors.length, 1);
    assertEquals(answer.errors[0]!.code, 5, "BAD_FRAME");
    assert(
      /compressed body before HELLO/.test(answer.errors[0]!.message),
      answer.errors[0]!.message,
    );
    // Before the fix the event loop spun ~2^31 times here: RESP and HTTP stopped answering.
    await pingWithin(resp, 2000, TOKEN);
    const health = await fetch(`http://127.0.0.1:${leader.port("http")}/healthz`, {
      signal: AbortSignal.timeout(2000),
    });
    assertEquals(health.status, 200);
    await health.body?.cancel();
  } finally {
    await leader.stop();
    await removeDir(dir);
    await Deno.remove(`${dir}.token`).catch(() => {});
  }
});

Deno.test("Replication leader: DATA headers declaring 75 MiB before HELLO are refused before their bodies are buffered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-preauth-" });
  const leader = await startLeaderChild(dir, { token: TOKEN });
  const conns: Deno.TcpConn[] = [];
  try {
    await pingWithin(leader.port("resp"), 5000, TOKEN);
    const rssBefore = rssBytes(leader.pid);
    // Six connections, each declaring the largest DATA body and sending 16 MiB of it: before
    // the fix the leader buffered them all (RSS 57 → 475 MB with whole bodies).
    const sent: number[] = [];
    await Promise.all(Array.from({ length: 6 }, async () => {
      const conn = await connect(leader.port("replication"));
      conns.push(conn);
      const header = rawFrame(FRAME_DATA, new Uint8Array(0), { length: 75 * MiB });
      let bytes = 0;
      if (await writeAll(conn, header)) {
        const chunk = new Uint8Array(MiB);
        for (let i = 0; i < 16; i++) {
          if (!(await writeAll(conn, chunk))) break;
          bytes += chunk.length;
        }
      }
      sent.push(bytes);
      const answer = await readUntilClosed(conn, 5000);
      assert(answer.closed, "the leader kept a pre-auth DATA connection open");
    }));
    const rssAfter = rssBytes(leader.pid);
    console.log(
      `pre-auth DATA x6: leader RSS ${(rssBefore / MiB).toFixed(1)} → ${
        (rssAfter / MiB).toFixed(1)
      } MiB; body bytes the peers got to write: ${sent.join(", ")}`,
    );
    assert(rssAfter - rssBefore < 32 * MiB, `RSS grew by ${(rssAfter - rssBefore) / MiB} MiB`);
    await pingWithin(leader.port("resp"), 2000, TOKEN);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Closed by the leader.
      }
    }
    await leader.stop();
    await removeDir(dir);
    await Deno.remove(`${dir}.token`).catch(() => {});
  }
});

Deno.test("Replication leader: a HELLO declared longer than HELLO_BODY_BYTES_MAX is refused from its header", async () => {
  const leader = await startTestLeader({ authToken: TOKEN });
  try {
    const conn = await connect(leader.port);
    await writeAll(
      conn,
      rawFrame(FRAME_HELLO, new Uint8Array(0), { length: HELLO_BODY_BYTES_MAX + 1 }),
    );
    const answer = await readUntilClosed(conn, 3000);
    conn.close();
    assert(answer.closed);
    assert(
      /HELLO body length 4151 over the limit 4150 before HELLO/.test(answer.errors[0]!.message),
    );
  } finally {
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication leader: the handshake deadline is absolute; trickled bytes do not extend it", async () => {
  const leader = await startTestLeader({ authToken: TOKEN, handshakeTimeoutMs: 600 });
  try {
    const conn = await connect(leader.port);
    const hello = rawFrame(FRAME_HELLO, helloBody({ token: TOKEN }));
    const started = Date.now();
    let closedAt = 0;
    // One byte every 100 ms: before the fix every byte restarted the 10 s timeout.
    for (let i = 0; i < hello.length - 1 && closedAt === 0; i++) {
      if (!(await writeAll(conn, hello.subarray(i, i + 1)))) closedAt = Date.now();
      await new Promise((r) => setTimeout(r, 100));
    }
    const answer = await readUntilClosed(conn, 3000);
    conn.close();
    assert(answer.closed, "still open after the trickle");
    const elapsed = (closedAt || Date.now()) - started;
    assert(elapsed < hello.length * 100, `closed after ${elapsed} ms`);
    assertEquals(leader.leader.connectedReplicas, 0);
  } finally {
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication leader: silent connections past REPLICATION_HANDSHAKES_MAX close the oldest; a real replica still syncs", async () => {
  const leader = await startTestLeader({ authToken: TOKEN });
  const silent: Deno.TcpConn[] = [];
  let replica;
  try {
    for (let i = 0; i < 3 * REPLICATION_HANDSHAKES_MAX; i++) {
      silent.push(await connect(leader.port));
    }
    await eventually(
      () => leader.leader.handshakes <= REPLICATION_HANDSHAKES_MAX,
      "handshakes capped",
      500,
    );
    // The oldest were closed by the leader.
    const first = await readUntilClosed(silent[0]!, 3000);
    assert(first.closed, "the oldest silent connection is still open");
    await writeSensors(leader.db, 100);
    replica = await startTestReplica(leader.port, { authToken: TOKEN });
    await replica.replica.waitForAck(leader.db.lastSeq);
    assert(leader.leader.handshakes <= REPLICATION_HANDSHAKES_MAX);
  } finally {
    for (const c of silent) {
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
