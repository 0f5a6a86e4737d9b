/**
 * `cityhall leader`, `cityhall replica` and `cityhall replica status` as real processes on
 * loopback with ephemeral ports: the seed's 3-terminal demo, reads and READONLY on the
 * replica, and a status that is right with the replica stopped (gracefully or kill -9).
 */

import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";
import { runCityhall } from "../_helpers/child.ts";
import { removeDir } from "./_helpers.ts";
import { type CityhallChild, startCityhallChild as startCityhall } from "./_raw.ts";

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
}

const cityhall = runCityhall;

async function stop(p: CityhallChild, signal: Deno.Signal): Promise<void> {
  await p.stop(signal);
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  Deno.test(`cityhall leader/replica: 100 puts reach the replica; status right after ${signal}`, async () => {
    const leaderDir = await Deno.makeTempDir({ prefix: "cityhall-cli-leader-" });
    const replicaDir = await Deno.makeTempDir({ prefix: "cityhall-cli-replica-" });
    const leader = await startCityhall([
      "leader",
      "--data-dir",
      leaderDir,
      "--port",
      "0",
      "--http-port",
      "0",
      "--replication-port",
      "0",
    ]);
    const replicationPort = portOf(leader.fields.replication!);
    const replica = await startCityhall([
      "replica",
      "--leader",
      `127.0.0.1:${replicationPort}`,
      "--data-dir",
      replicaDir,
      "--port",
      "0",
      "--no-http",
    ]);
    const lc = await connectRedis(portOf(leader.fields.resp!));
    const rc = await connectRedis(portOf(replica.fields.resp!));
    try {
      for (let i = 1; i <= 100; i++) await lc.set(`sensor.temp.line_${i}`, `21.${i}`);
      assertEquals(await lc.wait(1, 10_000), 1);
      assertEquals(await rc.get("sensor.temp.line_42"), "21.42");
      await assertRejects(() => rc.set("x", "1"), Error, "READONLY");
      const live = await cityhall([
        "replica",
        "status",
        "--data-dir",
        replicaDir,
        "--port",
        String(portOf(replica.fields.resp!)),
      ]);
      assertEquals(live.code, 0, live.stderr);
      assertMatch(live.stdout, /live lag entries:\s+0/);
      await closeRedis(rc);
      await stop(replica, signal);
      const status = await cityhall(["replica", "status", "--data-dir", replicaDir, "--json"]);
      assertEquals(status.code, 0, status.stderr);
      const parsed = JSON.parse(status.stdout);
      assertEquals(parsed.lastAppliedSeq, 100);
      assertEquals(parsed.totalEntries, 100);
      assertEquals(parsed.leaderAddress, `127.0.0.1:${replicationPort}`);
      assertMatch(parsed.leaderId, /^[0-9a-f]{32}$/);
      assert(parsed.lastContactMs > 0, "last contact recorded");
      if (signal === "SIGTERM") assertEquals(parsed.state, "stopped");
      const text = await cityhall(["replica", "status", "--data-dir", replicaDir]);
      assertMatch(text.stdout, /total entries:\s+100/);
    } finally {
      await closeRedis(lc);
      await closeRedis(rc).catch(() => {});
      if ((await Promise.race([replica.child.status, Promise.resolve(undefined)])) === undefined) {
        await stop(replica, "SIGKILL").catch(() => {});
      }
      await stop(leader, "SIGTERM");
      await removeDir(leaderDir);
      await removeDir(replicaDir);
    }
  });
}

Deno.test("cityhall replica status: a directory with no replica exits 1 with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-cli-empty-" });
  try {
    const r = await cityhall(["replica", "status", "--data-dir", dir]);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /holds no replica status/);
    const usage = await cityhall(["replica", "--data-dir", dir]);
    assertEquals(usage.code, 2);
    assertMatch(usage.stderr, /--leader HOST:PORT is required/);
  } finally {
    await removeDir(dir);
  }
});
