/**
 * A process that stalls (CPU starvation, a long synchronous task, a paused VM) past a link's
 * idle timeout keeps a healthy link: its watchdog, running late, does not take its own stall for
 * the peer's silence (src/replication/late_tick.ts). The peer runs in a worker thread
 * (`_stall_peer.ts`), so it keeps sending while this thread is stalled, as a peer process does:
 * what it sent waits in the socket, the first tick after the stall may run before those reads
 * (the late tick the rule skips), and the next tick runs after them. The leader's test fails
 * without the rule. (Both ends used to run in this thread: then neither sent anything during the
 * stall, and whether the peer's first heartbeat after it was read within one tick, or a tick ran
 * on time between two stalls 400 ms apart, depended on how busy the machine was.)
 */

import { assert } from "../../src/util/assert.ts";
import { assertEquals } from "@std/assert";
import { LateTicks } from "../../src/replication/late_tick.ts";
import { eventually, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";

/** The stalled end's idle timeout; each stall is longer. */
const IDLE_TIMEOUT_MS = 800;
const STALL_MS = 1500;
const STALLS = 3;

/** The peer in a worker thread; `ask` sends a message and resolves with its one answer. */
function startPeer(): { ask(message: unknown): Promise<Record<string, unknown>>; stop(): void } {
  const worker = new Worker(new URL("./_stall_peer.ts", import.meta.url).href, { type: "module" });
  let answered: ((m: Record<string, unknown>) => void) | undefined;
  worker.onmessage = (e) => answered?.(e.data);
  return {
    ask(message) {
      return new Promise((resolve) => {
        answered = resolve;
        worker.postMessage(message);
      });
    },
    stop: () => worker.terminate(),
  };
}

/** Both ends' heartbeat; their watchdogs tick every half of it (`LateTicks`). */
const HEARTBEAT_MS = 100;
const TICK_MS = HEARTBEAT_MS / 2;
/** The test's own timer, which watches this thread's event loop run. */
const WATCH_MS = 10;

/**
 * Stalls this thread (nothing is sent, read or timed meanwhile) once its event loop has run on
 * time for three watchdog ticks: a `WATCH_MS` timer fired with no gap over `TICK_MS - WATCH_MS`,
 * so the watchdogs' last two ticks came at most `2 * TICK_MS - WATCH_MS` apart, on time. The
 * test means the stall of a process that otherwise runs on time: one that also ran late just
 * before the stall (or between two stalls) may rightly drop a silent link (`late_tick.ts`: never
 * two skipped ticks in a row), and a loaded machine makes that happen by chance.
 */
function stallWhenOnTime(): Promise<void> {
  return new Promise((resolve) => {
    let last = Date.now();
    let onTimeSince = last;
    const timer = setInterval(() => {
      const now = Date.now();
      if (now - last > TICK_MS - WATCH_MS) onTimeSince = now;
      last = now;
      if (now - onTimeSince < 3 * TICK_MS) return;
      clearInterval(timer);
      const end = Date.now() + STALL_MS;
      while (Date.now() < end) {
        // Busy.
      }
      resolve();
    }, WATCH_MS);
  });
}

Deno.test("Replication: a leader whose process stalls past the idle timeout keeps its replica", async () => {
  const leader = await startTestLeader({
    heartbeatMs: HEARTBEAT_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
  });
  const peer = startPeer();
  try {
    await leader.db.put("k", "v");
    await peer.ask({ start: "replica", port: leader.port });
    await peer.ask({ acked: leader.db.lastSeq });
    for (let i = 0; i < STALLS; i++) {
      await stallWhenOnTime();
      // The link still carries data: a write made after the stall is acknowledged.
      await leader.db.put(`after-${i}`, "v");
      await peer.ask({ acked: leader.db.lastSeq });
    }
    const drops = leader.log.lines.filter((l) => l.includes("idle timeout"));
    assert(drops.length === 0, `leader dropped the link:\n${drops.join("\n")}`);
    assertEquals(await peer.ask({ report: true }), { drops: [], retries: 0 });
  } finally {
    await peer.ask({ close: true });
    peer.stop();
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("Replication: a replica whose process stalls past the idle timeout keeps its leader", async () => {
  const peer = startPeer();
  const { port } = await peer.ask({ start: "leader" }) as { port: number };
  const replica = await startTestReplica(port, {
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    heartbeatMs: HEARTBEAT_MS,
    fetchWaitMs: 100,
  });
  try {
    await eventually(() => replica.replica.state === "connected", "connected");
    for (let i = 0; i < STALLS; i++) {
      await stallWhenOnTime();
      // The link still carries data: a write the leader makes after the stall arrives.
      const { seq } = await peer.ask({ put: `after-${i}` }) as { seq: number };
      await replica.replica.waitForAck(seq);
    }
    const drops = replica.log.lines.filter((l) => l.includes("Leader silent"));
    assert(drops.length === 0, `replica dropped the link:\n${drops.join("\n")}`);
    assertEquals(replica.replica.retries, 0);
    assertEquals(replica.replica.state, "connected");
    assertEquals(await peer.ask({ report: true }), { drops: [], retries: 0 });
  } finally {
    await replica.close();
    await removeDir(replica.dir);
    await peer.ask({ close: true });
    peer.stop();
  }
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
