/**
 * A replica whose own process stalls (CPU starvation, a long synchronous task, a paused VM)
 * past its idle timeout keeps a healthy link: its watchdog, running late, does not take its
 * own stall for the leader's silence.
 */

import { assert } from "../../src/util/assert.ts";
import { eventually, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";

Deno.test("Replication: a replica whose own process stalls past the idle timeout keeps its link", async () => {
  const leader = await startTestLeader({ heartbeatMs: 100 });
  const replica = await startTestReplica(leader.port, {
    idleTimeoutMs: 300,
    heartbeatMs: 100,
    fetchWaitMs: 100,
  });
  try {
    await leader.db.put("k", "v");
    await replica.replica.waitForAck(leader.db.lastSeq);
    await eventually(() => replica.replica.state === "connected", "connected");
    for (let i = 0; i < 3; i++) {
      // The whole process (leader included) is stalled: nothing is sent or read meanwhile.
      const end = Date.now() + 1000;
      while (Date.now() < end) {
        // Busy.
      }
      await new Promise((r) => setTimeout(r, 400));
    }
    const silent = replica.log.lines.filter((l) => l.includes("Leader silent"));
    assert(
      silent.length === 0,
      `link dropped after the replica's own stall:\n${silent.join("\n")}`,
    );
    assert(replica.replica.state === "connected", `state ${replica.replica.state}`);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});
