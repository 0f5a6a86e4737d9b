/**
 * `kill -9` a replica process again and again while it applies a stream of writes: after every
 * kill its records are a prefix of the leader's (no gap, no duplicate, nothing foreign), and
 * restarted it catches up to equal content. CITYHALL_REPLICA_KILL_ROUNDS sets the rounds.
 */

import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { Database } from "../../src/mod.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { digest, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";
import { spawnScript } from "../_helpers/child.ts";

const ROUNDS = intFromEnv("CITYHALL_REPLICA_KILL_ROUNDS", 20);
const CHILD = new URL("./_replica_child.ts", import.meta.url).pathname;

Deno.test(`Replication: a replica kill -9'd ${ROUNDS} times mid-apply holds a prefix of the leader`, async () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const leader = await startTestLeader();
  const replicaDir = await Deno.makeTempDir({ prefix: "cityhall-replica-kill-" });
  let writing = true;
  let n = 0;
  // One put per sequence number, each key once: the leader's record i holds key c.<i>.
  const writer = (async () => {
    while (writing) {
      const batch: Promise<void>[] = [];
      for (let j = 0; j < 50; j++, n++) batch.push(leader.db.put(`c.${n}`, `v${n}`));
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  try {
    let lastSeen = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const child = spawnScript(CHILD, [replicaDir, String(leader.port)], { stderr: "inherit" });
      const started = await child.waitForLine("ready", { stream: "stdout" }).then(
        () => true,
        () => false,
      );
      assert(started, `round ${round}: child did not start`);
      await new Promise((r) => setTimeout(r, 20 + rng.int(200)));
      await child.kill("SIGKILL");
      const db = await Database.open(replicaDir);
      try {
        const last = db.lastSeq;
        assert(last >= lastSeen, `round ${round}: position went back from ${lastSeen} to ${last}`);
        lastSeen = last;
        let keys = 0;
        for await (const [k, v] of db.scan({})) {
          const key = new TextDecoder().decode(k);
          const mine = db.getEntry(key)!;
          const theirs = leader.db.getEntry(key);
          assert(theirs !== undefined, `round ${round}: ${key} is not on the leader`);
          assertEquals(mine.seq, theirs.seq, `round ${round}: ${key} has another sequence`);
          assertEquals(v, theirs.value, `round ${round}: ${key} has another value`);
          assert(mine.seq <= last, `round ${round}: ${key} beyond the position`);
          keys++;
        }
        // Distinct keys with distinct sequences, all ≤ last, and exactly `last` of them:
        // the replica holds the leader's records 1..last, no gap and no duplicate.
        assertEquals(keys, last, `round ${round}: ${keys} keys at position ${last}`);
      } finally {
        await db.close();
      }
    }
    assert(lastSeen > 0, "the replica applied something");
    writing = false;
    await writer;
    const replica = await startTestReplica(leader.port, { dir: replicaDir });
    try {
      await replica.replica.waitForAck(leader.db.lastSeq);
      assertEquals(await digest(replica.db), await digest(leader.db));
    } finally {
      await replica.close();
    }
  } catch (err) {
    console.error(`replica kill test failed: CITYHALL_SEED=${seed} dir=${replicaDir}`);
    throw err;
  } finally {
    writing = false;
    await writer;
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replicaDir);
  }
});
