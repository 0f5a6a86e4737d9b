/**
 * Replication (CityHall Sync) benchmarks on loopback, against the seeds' published figures
 * (the "peer" column): catch-up speed, write-to-replica latency, bytes on the wire per entry,
 * 10,000 entries end to end, and the leader's write throughput with 10 replicas attached.
 * Sizes scale with BENCH_SCALE (default 1).
 */

import { replicationPort } from "../src/engine/mod.ts";
import type { Database } from "../src/mod.ts";
import {
  openLeaderDatabase,
  openReplicaDatabase,
  type ReplicationLeader,
  startReplica,
  startReplicationLeader,
} from "../src/replication/mod.ts";
import { type Row, scaled } from "./harness.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

function sensorKey(i: number): string {
  const metric = ["temp", "hum", "pres", "vib"][i % 4];
  return `sensor.site${i % 8}.${metric}.${String(1_700_000_000_000 + i * 1000)}`;
}

function sensorValue(i: number): string {
  return (20 + Math.sin(i / 50) * 5).toFixed(2);
}

/** Writes `n` sensor entries from `start` as concurrent single puts (group commit). */
async function writeSensors(db: Database, start: number, n: number): Promise<void> {
  const wave = 1000;
  for (let i = start; i < start + n; i += wave) {
    const pending: Promise<void>[] = [];
    for (let j = i; j < Math.min(start + n, i + wave); j++) {
      pending.push(db.put(sensorKey(j), sensorValue(j)));
    }
    await Promise.all(pending);
  }
}

async function leaderIn(dir: string): Promise<{ db: Database; leader: ReplicationLeader }> {
  const { db, registry } = await openLeaderDatabase(dir);
  const leader = await startReplicationLeader(db, { hostname: "127.0.0.1", port: 0, registry });
  return { db, leader };
}

/** A TCP proxy that counts the bytes the leader sends. */
export function countingProxy(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let bytes = 0;
  const conns: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn, count: boolean) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        if (count) bytes += n;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      // Closed.
    }
  };
  const done = (async () => {
    for await (const conn of listener) {
      const up = await Deno.connect({ hostname: "127.0.0.1", port: target });
      conns.push(conn, up);
      void pipe(up, conn, true);
      void pipe(conn, up, false);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get bytes() {
      return bytes;
    },
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
      await done.catch(() => {});
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Runs the replication rows. */
export async function replicationBench(log: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    log(row);
  };
  const dirs: string[] = [];
  const tmp = async (name: string) => {
    const d = await Deno.makeTempDir({ prefix: `cityhall-bench-repl-${name}-` });
    dirs.push(d);
    return d;
  };
  try {
    // 1. Catch-up after the replica was offline while the leader took N writes.
    {
      const n = scaled(1_000_000);
      const { db, leader } = await leaderIn(await tmp("catchup-leader"));
      const rdb = await openReplicaDatabase(await tmp("catchup-replica"));
      let replica = startReplica(rdb, { leader: `127.0.0.1:${leader.addr.port}` });
      await db.put("hello", "world");
      await replica.waitForAck(db.lastSeq);
      await replica.close();
      await writeSensors(db, 0, n);
      const walBytes = db.walSegments().reduce((s, x) => s + x.sizeBytes, 0);
      const t0 = performance.now();
      replica = startReplica(rdb, { leader: `127.0.0.1:${leader.addr.port}` });
      await replica.waitForAck(db.lastSeq);
      const s = (performance.now() - t0) / 1000;
      add({
        name: `replication catch-up (${n.toLocaleString("en-US")} sensor writes)`,
        unit: "entries/s",
        cityhall: n / s,
        denoKv: 3000,
        peer: "seed",
        note: `${(walBytes / 1e6 / s).toFixed(1)} MB/s of WAL; target >= 200,000 entries/s`,
      });
      await replica.close();
      await rdb.close();
      await leader.close();
      await db.close();
    }
    // 2. Latency from a leader write to its durability on the replica, steady rate.
    // 3. Bytes on the wire per entry (same run, through a counting proxy).
    {
      const n = scaled(10_000);
      const { db, leader } = await leaderIn(await tmp("latency-leader"));
      const proxy = countingProxy(leader.addr.port);
      const rdb = await openReplicaDatabase(await tmp("latency-replica"));
      const replica = startReplica(rdb, { leader: `127.0.0.1:${proxy.port}` });
      await db.put("hello", "world");
      await replica.waitForAck(db.lastSeq);
      const before = proxy.bytes;
      const latencies: number[] = [];
      let rawBytes = 0;
      let jsonBytes = 0;
      const waiters = new Map<number, (t: number) => void>();
      const off = replicationPort(rdb).onDurable((seq) => {
        const now = performance.now();
        for (const [s, resolve] of waiters) {
          if (s <= seq) {
            waiters.delete(s);
            resolve(now);
          }
        }
      });
      for (let i = 0; i < n; i++) {
        const key = sensorKey(i);
        const value = sensorValue(i);
        rawBytes += key.length + value.length;
        jsonBytes += JSON.stringify({ key, value }).length + 1;
        const t0 = performance.now();
        const seen = new Promise<number>((resolve) => waiters.set(db.lastSeq + 1, resolve));
        await db.put(key, value);
        latencies.push((await seen) - t0);
        // A steady rate: about one write per millisecond.
        await new Promise((r) => setTimeout(r, 1));
      }
      off();
      await replica.waitForAck(db.lastSeq);
      const wire = proxy.bytes - before;
      latencies.sort((a, b) => a - b);
      add({
        name: `write → replica durable latency p50 (${n.toLocaleString("en-US")} writes, ~1/ms)`,
        unit: "ms",
        cityhall: percentile(latencies, 0.5),
        denoKv: 70,
        peer: "seed (average)",
        lowerIsBetter: true,
        note: `p99 ${percentile(latencies, 0.99).toFixed(2)} ms; target p50 <= 2 ms, p99 <= 10 ms`,
      });
      add({
        name: "bytes on the wire per sensor entry (one write per frame)",
        unit: "B",
        cityhall: wire / n,
        denoKv: 1800,
        peer: "seed",
        lowerIsBetter: true,
        note: `raw key+value ${(rawBytes / n).toFixed(1)} B, JSON ${
          (jsonBytes / n).toFixed(1)
        } B; target <= 30 B`,
      });
      await replica.close();
      await rdb.close();
      await proxy.close();
      await leader.close();
      await db.close();
    }
    // 3b. Bytes on the wire per entry in bulk (catch-up frames, Snappy across records).
    {
      const n = scaled(100_000);
      const { db, leader } = await leaderIn(await tmp("wire-leader"));
      await writeSensors(db, 0, n);
      const proxy = countingProxy(leader.addr.port);
      const rdb = await openReplicaDatabase(await tmp("wire-replica"));
      const replica = startReplica(rdb, { leader: `127.0.0.1:${proxy.port}` });
      await replica.waitForAck(db.lastSeq);
      add({
        name: "bytes on the wire per sensor entry (catch-up)",
        unit: "B",
        cityhall: proxy.bytes / n,
        denoKv: 1800,
        peer: "seed",
        lowerIsBetter: true,
        note: "target <= 30 B",
      });
      await replica.close();
      await rdb.close();
      await proxy.close();
      await leader.close();
      await db.close();
    }
    // 4. 10,000 entries end to end: from the first write to the replica's last ack.
    {
      const n = scaled(10_000);
      const { db, leader } = await leaderIn(await tmp("e2e-leader"));
      const rdb = await openReplicaDatabase(await tmp("e2e-replica"));
      const replica = startReplica(rdb, { leader: `127.0.0.1:${leader.addr.port}` });
      await db.put("hello", "world");
      await replica.waitForAck(db.lastSeq);
      const t0 = performance.now();
      await writeSensors(db, 0, n);
      await replica.waitForAck(db.lastSeq);
      add({
        name: `${n.toLocaleString("en-US")} entries replicated end to end`,
        unit: "ms",
        cityhall: performance.now() - t0,
        denoKv: 2000,
        peer: "seed",
        lowerIsBetter: true,
        note: "target < 150 ms",
      });
      await replica.close();
      await rdb.close();
      await leader.close();
      await db.close();
    }
    // 5. Leader write throughput with 10 replica processes attached vs none.
    {
      const n = scaled(200_000);
      const { db, leader } = await leaderIn(await tmp("fanout-leader"));
      await writeSensors(db, 0, 1000);
      let t0 = performance.now();
      await writeSensors(db, 1000, n);
      const alone = n / ((performance.now() - t0) / 1000);
      const children: Deno.ChildProcess[] = [];
      for (let i = 0; i < 10; i++) {
        children.push(
          new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              "--unstable-kv",
              MAIN,
              "replica",
              "--leader",
              `127.0.0.1:${leader.addr.port}`,
              "--data-dir",
              await tmp(`fanout-replica-${i}`),
              "--port",
              "0",
              "--no-http",
              "--log-level",
              "error",
            ],
            stdout: "null",
            stderr: "null",
          }).spawn(),
        );
      }
      for (let i = 0; i < 3000 && leader.connectedReplicas < 10; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      // A replica is in the registry once it acknowledged data it was sent (verified).
      const caughtUp = () =>
        leader.registry.size >= 10 &&
        leader.registry.list().every((r) => r.ackedSeq >= db.lastSeq);
      for (let i = 0; i < 6000 && !caughtUp(); i++) await new Promise((r) => setTimeout(r, 10));
      t0 = performance.now();
      await writeSensors(db, 1000 + n, n);
      const withReplicas = n / ((performance.now() - t0) / 1000);
      add({
        name: "leader write throughput with 10 replicas attached",
        unit: "writes/s",
        cityhall: withReplicas,
        denoKv: alone,
        peer: "same leader, no replicas",
        note: `${leader.connectedReplicas} replicas connected; target: no more than 10% lower`,
      });
      for (const c of children) c.kill("SIGTERM");
      for (const c of children) await c.status;
      await leader.close();
      await db.close();
    }
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
  return rows;
}

if (import.meta.main) {
  const { formatRow, TABLE_HEADER } = await import("./harness.ts");
  console.log(TABLE_HEADER);
  await replicationBench((row) => console.log(formatRow(row)));
}
