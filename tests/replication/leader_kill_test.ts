/**
 * `kill -9` the leader process mid-stream, several times: every write the leader acknowledged
 * ends up on the replica, the replica never holds anything the leader does not, and at the
 * end both hold the same content.
 */

import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { Database } from "../../src/mod.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import type { Redis } from "../server/_helpers.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";
import { digest, removeDir, startTestReplica } from "./_helpers.ts";
import { freePort } from "../_helpers/net.ts";
import { spawnCityhall } from "../_helpers/child.ts";

const ROUNDS = 3;

async function startLeader(dir: string, port: number, replicationPort: number) {
  const child = spawnCityhall(
    [
      "leader",
      "--data-dir",
      dir,
      "--port",
      String(port),
      "--no-http",
      "--replication-port",
      String(replicationPort),
      "--log-level",
      "warn",
    ],
    { stdout: "null", stderr: "null" },
  );
  // Wait for the port with a plain socket (ioredis logs every refused attempt).
  let up = false;
  for (let i = 0; i < 500 && !up; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      up = true;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  assert(up, "leader did not start");
  const client: Redis = await connectRedis(port);
  return { child, client };
}

Deno.test("Replication: the leader kill -9'd mid-stream loses nothing it acknowledged", async () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const leaderDir = await Deno.makeTempDir({ prefix: "cityhall-leader-kill-" });
  const port = freePort();
  const replicationPort = freePort();
  const replica = await startTestReplica(replicationPort, { backoff: { baseMs: 10, maxMs: 100 } });
  const acked: string[] = [];
  let n = 0;
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      const { child, client } = await startLeader(leaderDir, port, replicationPort);
      const last = round === ROUNDS;
      const killAt = Date.now() + 50 + rng.int(250);
      // Write until the kill (or a fixed amount in the last round).
      for (let i = 0; i < 10_000 && (last ? i < 20 : Date.now() < killAt); i++) {
        const pipe = client.pipeline();
        const keys: string[] = [];
        for (let j = 0; j < 20; j++, n++) {
          keys.push(`c.${n}`);
          pipe.set(`c.${n}`, `v${n}`);
        }
        const results = await pipe.exec().catch(() => null);
        if (results === null) break;
        results.forEach(([err], j) => {
          if (err === null) acked.push(keys[j]!);
        });
      }
      if (!last) {
        await child.kill("SIGKILL");
        client.disconnect();
      } else {
        // Every write so far is acknowledged by the replica before the leader stops.
        assertEquals(await client.wait(1, 30_000), 1);
        await closeRedis(client);
        await child.kill("SIGTERM");
      }
    }
    const leader = await Database.open(leaderDir);
    try {
      assertEquals(replica.replica.ackedSeq, leader.lastSeq);
      for (const key of acked) {
        const got = await replica.db.get(key);
        assert(got !== undefined, `acknowledged ${key} missing on the replica (seed ${seed})`);
      }
      assertEquals(await digest(replica.db), await digest(leader));
      assertEquals(replica.db.lastSeq, leader.lastSeq);
      assert(acked.length > 100, `too few acknowledged writes: ${acked.length}`);
    } finally {
      await leader.close();
    }
  } catch (err) {
    console.error(`leader kill test failed: CITYHALL_SEED=${seed} dir=${leaderDir}`);
    throw err;
  } finally {
    await replica.close();
    await removeDir(leaderDir);
    await removeDir(replica.dir);
  }
});
