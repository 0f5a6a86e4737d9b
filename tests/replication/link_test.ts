/**
 * CityHall Sync over a bad link: a proxy cuts the connection mid-frame again and again while
 * the leader writes; the replica reconnects with backoff, never applies a partial frame, and
 * ends equal. Retention keeps WAL for an offline replica and lets it go after catch-up.
 */

import { replicationPort } from "../../src/engine/mod.ts";
import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import {
  digest,
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "./_helpers.ts";
import { cutsAndStalls, startCuttingProxy } from "./_proxy.ts";

const CUTS = intFromEnv("CITYHALL_REPL_CUTS", 50);

Deno.test(`Replication: a link cut or stalled mid-frame ${CUTS} times ends equal with no partial frame applied`, async () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const leader = await startTestLeader();
  // Small FETCHes make many frames; each connection is cut at a random byte. Every fifth
  // fault stalls the link (held open, silent) instead of cutting it.
  const proxy = startCuttingProxy(leader.port, cutsAndStalls(CUTS, rng));
  const replica = await startTestReplica(proxy.port, {
    fetchBytes: 4096,
    backoff: { baseMs: 1, maxMs: 20 },
    idleTimeoutMs: 300,
    heartbeatMs: 100,
    fetchWaitMs: 100,
  });
  try {
    let written = 0;
    // Bounded by time, not rounds: on a loaded machine a round moves fewer bytes through the
    // link, so a fixed number of rounds sometimes ended before the last cuts. The loop ends as
    // soon as the cuts happened (~7 s idle); the bound only guards a link that stopped moving.
    // (The 47 and 48 of 50 cuts seen at load ~20 were not that: faults were handed out by
    // connection index, and connections that ended before their fault used them up.)
    const deadline = Date.now() + 600_000;
    for (let round = 0; Date.now() < deadline && proxy.cuts < CUTS; round++) {
      await writeSensors(leader.db, 200, `r${round}.`);
      written += 200;
      await new Promise((r) => setTimeout(r, 5));
    }
    proxy.stopCutting();
    await leader.db.put("last", "write");
    await replica.replica.waitForAck(leader.db.lastSeq);
    assert(
      proxy.cuts >= CUTS,
      `only ${proxy.cuts} cuts in ${proxy.connections} connections happened (seed ${seed})`,
    );
    assertEquals(await digest(replica.db), await digest(leader.db));
    assertEquals(replica.db.lastSeq, leader.db.lastSeq);
    assert(written > 0, "wrote");
    // Cut frames were refused whole: the log says so, and the content is exactly equal.
    const retrying = replica.log.lines.filter((l) => l.includes("replication link retrying"));
    assert(retrying.length <= proxy.connections, "each state change logged once");
    assert(
      replica.log.lines.some((l) => l.includes("Leader silent past the idle timeout")),
      "a stalled link was dropped by the idle timeout",
    );
  } catch (err) {
    console.error(`link test failed: CITYHALL_SEED=${seed}`);
    throw err;
  } finally {
    await replica.close();
    await proxy.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

const SMALL = {
  walSegmentSizeBytes: 64 * 1024,
  memtableSizeBytesMax: 32 * 1024,
};

Deno.test("Replication retention: segments an offline replica needs are kept, then deleted after catch-up", async () => {
  const leader = await startTestLeader({ db: SMALL });
  let replica = await startTestReplica(leader.port);
  const replicaDir = replica.dir;
  try {
    await writeSensors(leader.db, 100);
    await replica.replica.waitForAck(leader.db.lastSeq);
    await replica.close();
    const pinnedAt = leader.db.lastSeq;
    await writeSensors(leader.db, 10_000, "offline.");
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    const segments = leader.db.walSegments();
    assert(segments.length > 4, `expected several segments, got ${segments.length}`);
    // Every record the replica needs is still in the WAL.
    const first = segments.find((s) => s.firstSeq > 0)!;
    assert(
      first.firstSeq <= pinnedAt + 1,
      `WAL starts at ${first.firstSeq}, replica needs ${pinnedAt + 1}`,
    );
    replica = await startTestReplica(leader.port, { dir: replicaDir });
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
    await leader.db.flush();
    await eventually(() => {
      replicationPort(leader.db).applyRetention();
      return leader.db.walSegments().length <= 2;
    }, "segments deleted after catch-up");
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replicaDir);
  }
});

Deno.test("Replication retention: pins survive a leader restart", async () => {
  const leader = await startTestLeader({ db: SMALL });
  const leaderDir = leader.dir;
  const replica = await startTestReplica(leader.port);
  await writeSensors(leader.db, 50);
  await replica.replica.waitForAck(leader.db.lastSeq);
  await replica.close();
  const needed = leader.db.lastSeq + 1;
  await writeSensors(leader.db, 3000, "offline.");
  await leader.db.flush();
  await leader.close();
  const again = await startTestLeader({ dir: leaderDir, db: SMALL });
  try {
    const first = again.db.walSegments().find((s) => s.firstSeq > 0)!;
    assert(
      first.firstSeq <= needed,
      `WAL starts at ${first.firstSeq} after restart, replica needs ${needed}`,
    );
    const back = await startTestReplica(again.port, { dir: replica.dir });
    await back.replica.waitForAck(again.db.lastSeq);
    assertEquals(await digest(back.db), await digest(again.db));
    await back.close();
  } finally {
    await again.close();
    await removeDir(leaderDir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replication retention: past the disk cap old segments go and the replica is told and re-bootstrapped", async () => {
  const leader = await startTestLeader({ db: SMALL, retentionMaxBytes: 128 * 1024 });
  const replica = await startTestReplica(leader.port);
  const replicaDir = replica.dir;
  await writeSensors(leader.db, 50);
  await replica.replica.waitForAck(leader.db.lastSeq);
  await replica.close();
  try {
    await writeSensors(leader.db, 8000, "offline.");
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    const bytes = leader.db.walSegments().slice(0, -1).reduce((s, x) => s + x.sizeBytes, 0);
    assert(bytes <= 128 * 1024 + 64 * 1024, `WAL kept ${bytes} bytes past the cap`);
    const back = await startTestReplica(leader.port, { dir: replicaDir });
    await back.replica.waitForAck(leader.db.lastSeq);
    assert(
      leader.log.lines.some((l) => l.includes("replica needs writes no longer in the WAL")),
      "clear log line on the leader",
    );
    assert(
      back.log.lines.some((l) => l.includes("position no longer in the leader's WAL")),
      "clear log line on the replica",
    );
    assertEquals(await digest(back.db), await digest(leader.db));
    await back.close();
  } finally {
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replicaDir);
  }
});
