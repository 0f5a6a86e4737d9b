/**
 * Replica honesty (issue 7.6): a replica the leader refuses says so once in its log and keeps
 * saying it in its status, INFO replication and `/healthz` (503); `cityhall replica status`
 * after a kill -9 does not claim `connected`, and shows the last contact and how stale the data
 * may be.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { replicationRoleOf } from "../../src/replication/mod.ts";
import { eventually, removeDir, startTestLeader, startTestReplica } from "./_helpers.ts";
import { startCityhallChild, startLeaderChild } from "./_raw.ts";
import { runCityhall } from "../_helpers/child.ts";

const cityhall = runCityhall;

Deno.test("Replica refused for a wrong token: logged once, shown in status, INFO and health", async () => {
  const leader = await startTestLeader({ authToken: "right" });
  const replica = await startTestReplica(leader.port, {
    authToken: "wrong",
    backoff: { baseMs: 10, maxMs: 50 },
  });
  try {
    await eventually(() => replica.replica.status().state === "refused", "refused");
    // Several refused attempts later, still one log line.
    const attempts = () => leader.log.lines.filter((l) => l.includes("wrong auth token")).length;
    await eventually(() => attempts() >= 4, "the replica keeps trying");
    const refusedLines = replica.log.lines.filter((l) => l.includes("replication link refused"));
    assertEquals(refusedLines.length, 1, refusedLines.join("\n"));
    const status = replica.replica.status();
    assertEquals(status.refusal, "Leader refused: Wrong auth token (code 2)");
    const info = Object.fromEntries(replicationRoleOf(replica.db)!.infoLines());
    assertEquals(info.cityhall_link_state, "refused");
    assertEquals(info.cityhall_refusal, "Leader refused: Wrong auth token (code 2)");
    assertEquals(info.master_link_status, "down");
    assertEquals(replica.replica.healthProblems(), [
      "replication refused: Leader refused: Wrong auth token (code 2)",
    ]);
    const file = JSON.parse(
      await Deno.readTextFile(`${replica.dir}/replication/status.json`),
    );
    assertEquals(file.state, "refused");
    assertEquals(file.refusal, "Leader refused: Wrong auth token (code 2)");
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("Replica forgotten by the leader is refused (not silently retrying) and unhealthy", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port, { backoff: { baseMs: 10, maxMs: 50 } });
  try {
    await leader.db.put("a", "1");
    await replica.replica.waitForAck(leader.db.lastSeq);
    await eventually(() => leader.leader.registry.size === 1, "known");
    leader.leader.forget(replica.replica.replicaId);
    await eventually(() => replica.replica.state === "refused", "refused after forget");
    assertMatch(
      replica.replica.status().refusal!,
      /Replica was forgotten by the leader \(code 8\)/,
    );
    assertEquals(replica.replica.healthProblems().length, 1);
  } finally {
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("cityhall replica: refused → /healthz 503 (GET and HEAD); kill -9 → status says not running", async () => {
  const leaderDir = await Deno.makeTempDir({ prefix: "cityhall-honest-leader-" });
  const replicaDir = await Deno.makeTempDir({ prefix: "cityhall-honest-replica-" });
  const leader = await startLeaderChild(leaderDir, { token: "right" });
  await Deno.writeTextFile(`${replicaDir}.token`, "wrong");
  const replica = await startCityhallChild([
    "replica",
    "--leader",
    `127.0.0.1:${leader.port("replication")}`,
    "--data-dir",
    replicaDir,
    "--port",
    "0",
    "--http-port",
    "0",
    "--auth-token-file",
    `${replicaDir}.token`,
  ]);
  try {
    const healthz = `http://127.0.0.1:${replica.port("http")}/healthz`;
    let status = 0;
    await eventually(async () => {
      const res = await fetch(healthz);
      status = res.status;
      await res.body?.cancel();
      return status === 503;
    }, "the refused replica's /healthz answers 503");
    const get = await fetch(healthz);
    assertMatch(
      await get.text(),
      /^unhealthy: replication refused: Leader refused: Wrong auth token/,
    );
    const head = await fetch(healthz, { method: "HEAD" });
    assertEquals(head.status, 503);
    await head.body?.cancel();
    const text = await cityhall(["replica", "status", "--data-dir", replicaDir]);
    assertEquals(text.code, 0, text.stderr);
    assertMatch(text.stdout, /link state:\s+refused/);
    assertMatch(text.stdout, /process:\s+running/);
    assertMatch(text.stdout, /refused:\s+Leader refused: Wrong auth token \(code 2\)/);
    await replica.stop("SIGKILL");
    const after = await cityhall(["replica", "status", "--data-dir", replicaDir, "--json"]);
    assertEquals(after.code, 0, after.stderr);
    const parsed = JSON.parse(after.stdout);
    assertEquals(parsed.running, false);
    assertEquals(parsed.state, "not running");
    assertEquals(parsed.recordedState, "refused");
  } finally {
    await replica.stop("SIGKILL");
    await leader.stop();
    await removeDir(leaderDir);
    await removeDir(replicaDir);
    await Deno.remove(`${leaderDir}.token`).catch(() => {});
    await Deno.remove(`${replicaDir}.token`).catch(() => {});
  }
});

Deno.test("cityhall replica status after kill -9 of a connected replica: not running, last contact, staleness", async () => {
  const leaderDir = await Deno.makeTempDir({ prefix: "cityhall-honest-leader-" });
  const replicaDir = await Deno.makeTempDir({ prefix: "cityhall-honest-replica-" });
  const leader = await startLeaderChild(leaderDir);
  const replica = await startCityhallChild([
    "replica",
    "--leader",
    `127.0.0.1:${leader.port("replication")}`,
    "--data-dir",
    replicaDir,
    "--port",
    "0",
    "--no-http",
  ]);
  try {
    const put = await cityhall(["client", "--port", String(leader.port("resp")), "put", "k", "v"]);
    assertEquals(put.code, 0, put.stderr);
    await eventually(
      async () => {
        const r = await cityhall(["replica", "status", "--data-dir", replicaDir, "--json"]);
        const s = r.code === 0 ? JSON.parse(r.stdout) : {};
        return s.lastAppliedSeq === 1 && s.state === "connected" && s.running === true;
      },
      "the replica applied the write",
      1000,
    );
    const live = JSON.parse(
      (await cityhall(["replica", "status", "--data-dir", replicaDir, "--json"])).stdout,
    );
    assertEquals(live.stalenessSeconds, 0);
    await replica.stop("SIGKILL");
    const text = await cityhall(["replica", "status", "--data-dir", replicaDir]);
    assertEquals(text.code, 0, text.stderr);
    // Before the fix: "link state: connected" from a dead process.
    assertMatch(text.stdout, /link state:\s+not running \(as of .*; the file says connected\)/);
    assertMatch(text.stdout, /process:\s+not running/);
    assertMatch(text.stdout, /last contact:\s+\d{4}-\d\d-\d\dT.* \(\d+ s ago\)/);
    assertMatch(text.stdout, /staleness:\s+up to \d+ s \(last caught up /);
    const parsed = JSON.parse(
      (await cityhall(["replica", "status", "--data-dir", replicaDir, "--json"])).stdout,
    );
    assertEquals(parsed.running, false);
    assertEquals(parsed.recordedState, "connected");
    assert(parsed.lastCaughtUpMs > 0);
  } finally {
    await replica.stop("SIGKILL");
    await leader.stop();
    await removeDir(leaderDir);
    await removeDir(replicaDir);
  }
});
