/**
 * Histories (issue 7.2): a leader whose WAL is damaged refuses to open; an operator's recovery
 * past the damage forks a new history, and replicas of the old one — ahead of the fork or not —
 * replace their data with a snapshot of the new one and end equal to the leader. No sequence
 * number is used for two different writes.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { openLeaderDatabase } from "../../src/replication/mod.ts";
import { judgeHistory } from "../../src/replication/history.ts";
import { readSegmentRecords } from "../../src/wal/mod.ts";
import {
  digest,
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "./_helpers.ts";

const id = (n: number) => new Uint8Array(16).fill(n);

Deno.test("judgeHistory: same, new, forked (diverged or not) and unknown histories", () => {
  const history = {
    historyId: id(3),
    ancestors: [{ historyId: id(1), forkSeq: 500 }, { historyId: id(2), forkSeq: 800 }],
  };
  assertEquals(judgeHistory(history, id(3), 10_000), { kind: "same" });
  assertEquals(judgeHistory(history, id(0), 0), { kind: "new" });
  assertEquals(judgeHistory(history, id(9), 1), { kind: "unknown" });
  assertEquals(judgeHistory(history, id(2), 800), {
    kind: "forked",
    sharedSeq: 800,
    diverged: false,
  });
  // History 1 shares with history 3 only what history 2 kept of it: up to 500.
  assertEquals(judgeHistory(history, id(1), 700), {
    kind: "forked",
    sharedSeq: 500,
    diverged: true,
  });
});

Deno.test("Replication: after the leader recovers past WAL damage, replicas of the old history re-bootstrap and end equal; no sequence is reused", async () => {
  const dbOptions = { memtableSizeBytesMax: 64 << 20 };
  const leaderDir = await Deno.makeTempDir({ prefix: "cityhall-history-" });
  let leader = await startTestLeader({ dir: leaderDir, db: dbOptions });
  let ahead = await startTestReplica(leader.port);
  let behind = await startTestReplica(leader.port);
  try {
    await writeSensors(leader.db, 1000, "a.");
    await behind.replica.waitForAck(leader.db.lastSeq);
    const behindSeq = behind.db.lastSeq;
    await behind.close();
    await writeSensors(leader.db, 4000, "b.");
    await ahead.replica.waitForAck(leader.db.lastSeq);
    const oldLast = leader.db.lastSeq;
    assertEquals(ahead.db.lastSeq, oldLast);
    await ahead.close();
    await leader.close();

    // A flipped byte in a record the leader had acknowledged and shipped, past `behind`.
    const wal = `${leaderDir}/wal`;
    const path = `${wal}/${[...Deno.readDirSync(wal)].map((e) => e.name).sort().at(-1)}`;
    const records = [...readSegmentRecords(new RealFs(), path)];
    const bad = records.find((r) => r.seq === 3000)!;
    const bytes = await Deno.readFile(path);
    bytes[bad.offset + 19]! ^= 0x40;
    await Deno.writeFile(path, bytes);

    // With replicas attached, the leader refuses to open rather than cut acknowledged writes.
    const err = await assertRejects(
      () => openLeaderDatabase(leaderDir, dbOptions),
      CorruptionError,
    );
    assert(err.message.includes(`at offset ${bad.offset} in ${path}`), err.message);

    // The operator's choice: recover past the damage.
    leader = await startTestLeader({
      dir: leaderDir,
      db: { ...dbOptions, recoverWalPastDamage: true },
    });
    assertEquals(leader.db.lastSeq, oldLast, "the new history starts after the old one's last");
    assertEquals(leader.db.history.ancestors.map((a) => a.forkSeq), [2999]);
    await writeSensors(leader.db, 500, "c.");
    assertEquals(leader.db.getEntry("c.0")?.seq, oldLast + 1, "no sequence is reused");

    ahead = await startTestReplica(leader.port, { dir: ahead.dir });
    behind = await startTestReplica(leader.port, { dir: behind.dir });
    for (const r of [ahead, behind]) {
      await r.replica.waitForAck(leader.db.lastSeq);
      assertEquals(r.db.lastSeq, leader.db.lastSeq);
      assertEquals(await digest(r.db), await digest(leader.db));
      assert(
        r.log.lines.some((l) => l.includes("the leader forked a new history")),
        "the replica says why it replaced its data",
      );
    }
    assert(behindSeq < 2999, "one replica was behind the fork");
    assertEquals(
      await ahead.db.get("b.3999"),
      undefined,
      "writes of the abandoned history are gone",
    );
    assert((await ahead.db.get("a.999")) !== undefined);
    assert(
      leader.log.lines.some((l) => l.includes("replica follows a history this leader forked from")),
      "the leader logs the re-bootstrap",
    );

    // The replicas now follow the new history: a restart streams on, no second bootstrap.
    await ahead.close();
    await writeSensors(leader.db, 100, "d.");
    ahead = await startTestReplica(leader.port, { dir: ahead.dir });
    await ahead.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(ahead.db), await digest(leader.db));
    assert(!ahead.log.lines.some((l) => l.includes("forked")), ahead.log.lines.join("\n"));
    await eventually(() => behind.replica.ackedSeq === leader.db.lastSeq, "behind caught up");
  } finally {
    await ahead.close().catch(() => {});
    await behind.close().catch(() => {});
    await leader.close().catch(() => {});
    await removeDir(leaderDir);
    await removeDir(ahead.dir);
    await removeDir(behind.dir);
  }
});

Deno.test("Replication: a replica positioned before WAL damage the leader skipped (all in tables) bootstraps instead of waiting forever", async () => {
  const dbOptions = { walSegmentSizeBytes: 16 * 1024, memtableSizeBytesMax: 64 << 20 };
  const leaderDir = await Deno.makeTempDir({ prefix: "cityhall-skipped-" });
  let leader = await startTestLeader({ dir: leaderDir, db: dbOptions });
  let replica = await startTestReplica(leader.port);
  try {
    await writeSensors(leader.db, 100, "a.");
    await replica.replica.waitForAck(leader.db.lastSeq);
    await replica.close();
    await writeSensors(leader.db, 2000, "b.");
    await leader.db.flush();
    await leader.close();
    // Damage in a middle segment, every record of it in tables now.
    const wal = `${leaderDir}/wal`;
    const names = [...Deno.readDirSync(wal)].map((e) => e.name).sort();
    assert(names.length > 4, `only ${names.length} segments`);
    const path = `${wal}/${names[Math.floor(names.length / 2)]}`;
    const bad = [...readSegmentRecords(new RealFs(), path)][1]!;
    assert(bad.seq > 100, "the damage is past the replica's position");
    const bytes = await Deno.readFile(path);
    bytes[bad.offset + 18]! ^= 0x10;
    await Deno.writeFile(path, bytes);
    leader = await startTestLeader({ dir: leaderDir, db: dbOptions });
    assertEquals(leader.db.lastSeq, 2100, "the leader opened past the damage");
    replica = await startTestReplica(leader.port, { dir: replica.dir });
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(await digest(replica.db), await digest(leader.db));
  } finally {
    await replica.close().catch(() => {});
    await leader.close().catch(() => {});
    await removeDir(leaderDir);
    await removeDir(replica.dir);
  }
});
