/**
 * A process that stalls (CPU starvation, a long synchronous task, a paused VM) past a link's
 * idle timeout keeps a healthy link: neither end's watchdog, running late, takes its own stall
 * for the peer's silence (src/replication/late_tick.ts).
 */

import { assert } from "../../src/util/assert.ts";
import { assertEquals } from "@std/assert";
import { LateTicks } from "../../src/replication/late_tick.ts";
import { eventually, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";

/**
 * Leader and replica in this process, both with an 800 ms idle timeout, stalled 3 × 1.5 s: the
 * margin after each stall lets a loaded machine run the reads before the next tick judges.
 */
async function stallBothEnds(): Promise<{ leaderDrops: string[]; replicaDrops: string[] }> {
  const leader = await startTestLeader({ heartbeatMs: 100, idleTimeoutMs: 800 });
  const replica = await startTestReplica(leader.port, {
    idleTimeoutMs: 800,
    heartbeatMs: 100,
    fetchWaitMs: 100,
  });
  try {
    await leader.db.put("k", "v");
    await replica.replica.waitForAck(leader.db.lastSeq);
    await eventually(() => replica.replica.state === "connected", "connected");
    for (let i = 0; i < 3; i++) {
      // The whole process is stalled: nothing is sent or read meanwhile.
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        // Busy.
      }
      await new Promise((r) => setTimeout(r, 400));
    }
    assert(replica.replica.state === "connected", `state ${replica.replica.state}`);
    return {
      leaderDrops: leader.log.lines.filter((l) => l.includes("idle timeout")),
      replicaDrops: replica.log.lines.filter((l) => l.includes("Leader silent")),
    };
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
}

Deno.test("Replication: a process that stalls past the idle timeout keeps its link, at both ends", async () => {
  const { leaderDrops, replicaDrops } = await stallBothEnds();
  assert(replicaDrops.length === 0, `replica dropped the link:\n${replicaDrops.join("\n")}`);
  assert(leaderDrops.length === 0, `leader dropped the link:\n${leaderDrops.join("\n")}`);
});

Deno.test("LateTicks: a late tick skips judgement, but never two in a row", () => {
  const ticks = new LateTicks(100, 0);
  assertEquals(ticks.late(100), false);
  assertEquals(ticks.late(250), false); // 150 ms: not over two intervals
  assertEquals(ticks.late(1000), true); // stalled 750 ms
  assertEquals(ticks.late(2000), false); // late again, but the previous tick was skipped
  assertEquals(ticks.late(3000), true);
  assertEquals(ticks.late(3100), false);
});
