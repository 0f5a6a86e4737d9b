/**
 * The issue 7.2 scenario end to end, with real processes: a `cityhall leader` with a replica
 * attached takes 20,000 acknowledged SETs (surviving `kill -9` twice on the way: every restart
 * opens, no CorruptionError), then one byte of the WAL's last 4 MiB flips. The leader refuses to
 * start, naming file and offset. Started with --recover-wal-past-damage it forks a new history
 * past every sequence the old one used; the replica, which held the lost writes, re-bootstraps
 * from a snapshot and ends equal to the leader.
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { decodeBatch, readSegmentRecords } from "../../src/wal/mod.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { spawnCityhall } from "../_helpers/child.ts";
import { closeRedis, connectRedis, type Redis } from "../server/_helpers.ts";
import { digest, removeDir, startTestReplica } from "./_helpers.ts";
import { freePort } from "../_helpers/net.ts";

const WRITES = 20_000;

interface LeaderProcess {
  child: Deno.ChildProcess;
  log(): string;
  /** Resolves with the exit code. */
  exited: Promise<number>;
}

/** Spawns `cityhall leader`; resolves once it listens, or once it exited (check `exited`). */
async function spawnLeader(dir: string, port: number, replPort: number, extra: string[] = []) {
  const proc = spawnCityhall(
    [
      "leader",
      "--data-dir",
      dir,
      "--port",
      String(port),
      "--no-http",
      "--replication-port",
      String(replPort),
      ...extra,
    ],
    { stdout: "null" },
  );
  await proc.waitForListening().catch(() => {});
  const leader: LeaderProcess = {
    child: proc.process,
    log: () => proc.stderr,
    exited: proc.exited.then((r) => r.code),
  };
  return leader;
}

/** kill -9, unless it is gone already. */
function kill(leader: LeaderProcess): void {
  try {
    leader.child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Pipelined SETs `prefix{i}` for i in [from, to); returns the acknowledged keys. */
async function setRange(client: Redis, prefix: string, from: number, to: number) {
  const acked: string[] = [];
  for (let i = from; i < to; i += 100) {
    const pipe = client.pipeline();
    const keys: string[] = [];
    for (let j = i; j < Math.min(to, i + 100); j++) {
      keys.push(`${prefix}${j}`);
      pipe.set(`${prefix}${j}`, `value-${j}-${"x".repeat(j % 50)}`);
    }
    const results = await pipe.exec().catch(() => null);
    if (results === null) break;
    results.forEach(([err], k) => {
      if (err === null) acked.push(keys[k]!);
    });
  }
  return acked;
}

Deno.test({
  name:
    "WAL damage, end to end: 20,000 acknowledged SETs, kill -9 with a replica attached, a flipped byte; the leader refuses to start, recovers past it only with the flag, and the replica re-bootstraps equal",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const seed = seedFromEnv();
    const rng = new Rng(seed);
    const dir = await Deno.makeTempDir({ prefix: "cityhall-wal-damage-cli-" });
    const port = freePort();
    const replPort = freePort();
    const replica = await startTestReplica(replPort, { backoff: { baseMs: 10, maxMs: 100 } });
    let leader: LeaderProcess | undefined;
    let client: Redis | undefined;
    try {
      let acked = 0;
      // Two lives end in kill -9 mid-stream; each restart must open (a torn tail is cut).
      for (let life = 0; life < 3; life++) {
        leader = await spawnLeader(dir, port, replPort);
        assert(leader.log().includes('msg="listening"'), leader.log());
        client = await connectRedis(port);
        if (life < 2) {
          const killer = setTimeout(() => kill(leader!), 100 + rng.int(200));
          acked += (await setRange(client, `l${life}.`, 0, WRITES)).length;
          clearTimeout(killer);
          kill(leader);
          await leader.exited;
          client.disconnect();
        }
      }
      acked += (await setRange(client!, "k", 0, WRITES - acked)).length;
      assert(acked >= WRITES - 100, `${acked} acknowledged`);
      assertEquals(await client!.wait(1, 60_000), 1, "the replica holds every write");
      const info = await client!.info("replication");
      const oldOffset = Number(/master_repl_offset:(\d+)/.exec(info)![1]);
      const oldId = /cityhall_leader_id:(\w+)/.exec(info)![1];
      await closeRedis(client!);
      leader!.child.kill("SIGTERM");
      assertEquals(await leader!.exited, 0);

      // One byte of the last 4 MiB of the WAL flips.
      const wal = `${dir}/wal`;
      const path = `${wal}/${[...Deno.readDirSync(wal)].map((e) => e.name).sort().at(-1)}`;
      const records = [...readSegmentRecords(new RealFs(), path)];
      const end = records.at(-1)!.endOffset;
      const start = Math.max(records[0]!.offset, end - 4 * 1024 * 1024);
      const at = start + rng.int(end - start);
      const record = records.find((r) => r.offset <= at && at < r.endOffset)!;
      const lostKey = new TextDecoder().decode(decodeBatch(record.payload, record.seq)[0]!.key);
      const bytes = await Deno.readFile(path);
      bytes[at]! ^= 1 << rng.int(8);
      await Deno.writeFile(path, bytes);

      // The leader refuses to start, saying where the damage is.
      leader = await spawnLeader(dir, port, replPort);
      assertEquals(await leader.exited, 1, leader.log());
      const name = path.slice(path.lastIndexOf("/") + 1);
      assert(leader.log().includes(`at offset ${record.offset} in`), leader.log());
      assert(leader.log().includes(name), leader.log());

      // The operator recovers past it: a new history, after every sequence the old one used.
      leader = await spawnLeader(dir, port, replPort, ["--recover-wal-past-damage"]);
      assert(leader.log().includes('msg="listening"'), leader.log());
      const lines = leader.log().split("\n");
      const forkLine = lines.find((l) => l.includes("recovered past WAL damage")) ?? "";
      assert(forkLine !== "", leader.log());
      client = await connectRedis(port);
      const after = await setRange(client, "after.", 0, 100);
      assertEquals(after.length, 100);
      const info2 = await client.info("replication");
      const newId = /cityhall_leader_id:(\w+)/.exec(info2)![1];
      const offset = Number(/master_repl_offset:(\d+)/.exec(info2)![1]);
      assert(newId !== oldId, "a new history id");
      assertEquals(offset, oldOffset + 100, "the new writes follow every old sequence");
      await replica.replica.waitForAck(offset);
      assert(
        replica.log.lines.some((l) => l.includes("the leader forked a new history")),
        "the replica re-bootstrapped",
      );
      await closeRedis(client);
      leader.child.kill("SIGTERM");
      assertEquals(await leader.exited, 0);
      const db = await Database.open(dir);
      try {
        assertEquals(await digest(replica.db), await digest(db));
        assertEquals(replica.db.lastSeq, db.lastSeq);
        // The damaged write is lost on both, as the log line says; the one before it is kept.
        assertEquals(await db.get(lostKey), undefined);
        assertEquals(await replica.db.get(lostKey), undefined);
        console.log(
          `${acked} acknowledged SETs, 2 kill -9; flipped byte ${at} of ${name} (record at ` +
            `${record.offset}, sequence ${record.seq}); leader refused to start; with the flag: ` +
            `${/lostSeqs=(\S+)/.exec(forkLine)?.[1]} lost, offsets ${oldOffset} -> ${offset}; ` +
            `replica re-bootstrapped equal at ${replica.db.lastSeq}`,
        );
      } finally {
        await db.close();
      }
    } catch (err) {
      console.error(`WAL damage end-to-end test failed: CITYHALL_SEED=${seed} dir=${dir}`);
      throw err;
    } finally {
      await client?.quit().catch(() => {});
      if (leader) kill(leader);
      await leader?.exited;
      await replica.close();
      await removeDir(dir);
      await removeDir(replica.dir);
    }
  },
});
