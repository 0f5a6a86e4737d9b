/**
 * Operator commands beyond the byte-for-byte comparison: CLIENT PAUSE holds exactly what it
 * should (checked by sequencing, not timing), CLIENT KILL by every filter, the slow log's
 * contents and trimming, latency events, INFO's instantaneous ops and counted expires, MONITOR
 * from another client.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { withDeadline } from "../_helpers/fuzz.ts";
import { publishSeriesSamples } from "../../src/server/mod.ts";
import {
  closeRedis,
  connectRedis,
  RawClient,
  type Redis,
  sleep,
  startTestServer,
} from "./_helpers.ts";

/** Whether `p` has settled by now (after letting pending callbacks run). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => done = true, () => done = true);
  await sleep(0);
  return done;
}

async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 60_000,
  what = "condition",
) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

Deno.test("CLIENT PAUSE WRITE holds writes and PUBLISH, not reads; UNPAUSE releases them in order", async () => {
  const t = await startTestServer();
  const admin = await connectRedis(t.port, { protocol: 2 });
  const writer = await connectRedis(t.port, { protocol: 2 });
  const reader = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await admin.call("client", "pause", "100000", "write"), "OK");
    const set = writer.set("k", "v");
    const publish = writer.publish("c", "m");
    // The reader is answered while the writer still waits.
    assertEquals(await reader.get("k"), null);
    assertEquals(await reader.call("client", "list", "type", "normal") !== "", true);
    assertEquals(await settled(set), false);
    // A held client counts as blocked in INFO, as in Redis (tools wait on that figure).
    await eventually(async () => /^blocked_clients:1\r?$/m.test(await reader.info("clients")));
    // Errors are answered at once, even for a held client's commands.
    await assertRejects(() => reader.call("set"), Error, "wrong number of arguments");
    assertEquals(await admin.call("client", "unpause"), "OK");
    assertEquals(await set, "OK");
    assertEquals(await publish, 0);
    assertEquals(await reader.get("k"), "v");
    assert(/^blocked_clients:0\r?$/m.test(await reader.info("clients")));
  } finally {
    await closeRedis(admin);
    await closeRedis(writer);
    await closeRedis(reader);
    await t.close();
  }
});

Deno.test("CLIENT PAUSE ALL holds everyone, the caller too, until it times out; MONITOR is exempt", async () => {
  const t = await startTestServer();
  const admin = await connectRedis(t.port, { protocol: 2 });
  const other = await connectRedis(t.port, { protocol: 2 });
  const monitor = await RawClient.connect(t.port);
  try {
    await monitor.send("MONITOR\r\n");
    await monitor.readUntil((s) => s.endsWith("+OK\r\n"));
    assertEquals(await admin.call("client", "pause", "400", "all"), "OK");
    const ping = other.ping();
    const own = admin.ping();
    // The monitor still runs commands while everyone else waits.
    await monitor.send("PING\r\n");
    const seen = await monitor.readUntil((s) => s.includes('"PING"\r\n'));
    assert(seen.startsWith("+PONG\r\n"), seen);
    assertEquals(await settled(ping), false);
    // The pause ends on its own.
    assertEquals(await withDeadline(ping, 60_000, "PING after the pause"), "PONG");
    assertEquals(await own, "PONG");
  } finally {
    monitor.close();
    await closeRedis(admin);
    await closeRedis(other);
    await t.close();
  }
});

Deno.test("a held subscriber still receives messages published meanwhile", async () => {
  const t = await startTestServer();
  const admin = await connectRedis(t.port, { protocol: 2 });
  const sub = await RawClient.connect(t.port);
  try {
    // A RESP3 subscriber may write; a WRITE pause holds its SET.
    await sub.send("HELLO 3\r\nSUBSCRIBE __ts__:s\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    await admin.call("client", "pause", "100000", "write");
    await sub.send("SET k v\r\n");
    await sleep(50);
    // Published by another layer (the series feed) while the subscriber's SET is held.
    publishSeriesSamples(t.server.pubsub, new TextEncoder().encode("s"), [
      { timestampMs: 1, value: 2 },
    ]);
    assertEquals(
      await sub.readUntil((s) => s.endsWith("1 2\r\n")),
      ">3\r\n$7\r\nmessage\r\n$8\r\n__ts__:s\r\n$3\r\n1 2\r\n",
    );
    await admin.call("client", "unpause");
    assertEquals(await sub.readUntil((s) => s.endsWith("+OK\r\n")), "+OK\r\n");
  } finally {
    sub.close();
    await closeRedis(admin);
    await t.close();
  }
});

Deno.test("CLIENT KILL by ID, ADDR, LADDR, TYPE, USER, SKIPME, and the old address form", async () => {
  const t = await startTestServer();
  const admin = await connectRedis(t.port, { protocol: 2 });
  const clients: Redis[] = [];
  try {
    const victim = async () => {
      const r = await connectRedis(t.port, { protocol: 2 });
      clients.push(r);
      return { r, id: Number(await r.call("client", "id")) };
    };
    const addrOf = async (r: Redis) =>
      /addr=(\S+)/.exec(String(await r.call("client", "info")))![1]!;
    const a = await victim();
    assertEquals(await admin.call("client", "kill", "id", String(a.id)), 1);
    const b = await victim();
    assertEquals(await admin.call("client", "kill", "addr", await addrOf(b.r)), 1);
    const c = await victim();
    assertEquals(await admin.call("client", "kill", await addrOf(c.r)), "OK");
    const sub = await RawClient.connect(t.port);
    await sub.send("SUBSCRIBE x\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    assertEquals(await admin.call("client", "kill", "type", "pubsub"), 1);
    sub.close();
    await victim();
    await victim();
    const laddr = /laddr=(\S+)/.exec(String(await admin.call("client", "info")))![1]!;
    // Everyone else on this listener and user, not the caller (SKIPME yes by default).
    assertEquals(
      await admin.call("client", "kill", "laddr", laddr, "user", "default", "type", "normal"),
      2,
    );
    await eventually(() => t.server.connectedClients === 1, 60_000, "the kills");
    // SKIPME no kills the caller after its reply.
    assertEquals(
      await admin.call(
        "client",
        "kill",
        "id",
        String(await admin.call("client", "id")),
        "skipme",
        "no",
      ),
      1,
    );
    await eventually(() => t.server.connectedClients === 0, 60_000, "the caller's close");
  } finally {
    for (const r of clients) r.disconnect();
    admin.disconnect();
    await t.close();
  }
});

Deno.test("SLOWLOG keeps entries newest first, cut to 32 args of 128 bytes, redacted, bounded by slowlog-max-len", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.call("client", "setname", "slowpoke");
    await r.config("SET", "slowlog-log-slower-than", "0");
    await r.set("k", "x".repeat(300));
    await r.call("mget", ...Array.from({ length: 40 }, (_, i) => `k${i}`));
    await r.call("auth", "default", "secret").catch(() => {});
    await r.config("SET", "slowlog-log-slower-than", "-1");
    const entries = await r.call("slowlog", "get", "3") as unknown[][];
    assertEquals(entries.map((e) => (e[3] as string[])[0]), ["auth", "mget", "set"]);
    assertEquals(entries[0]![3], ["auth", "(redacted)", "(redacted)"]);
    const mget = entries[1]![3] as string[];
    assertEquals(mget.length, 32);
    assertEquals(mget[31], "... (10 more arguments)");
    assertEquals((entries[2]![3] as string[])[2], "x".repeat(128) + "... (172 more bytes)");
    assertEquals(entries[0]![5], "slowpoke");
    assert(/^127\.0\.0\.1:\d+$/.test(String(entries[0]![4])));
    assert(Number(entries[0]![0]) > Number(entries[1]![0]), "ids increase");
    await r.config("SET", "slowlog-max-len", "2");
    await r.config("SET", "slowlog-log-slower-than", "0");
    await r.ping();
    assertEquals(await r.call("slowlog", "len"), 2);
    await assertRejects(
      () => r.config("SET", "slowlog-max-len", "10001"),
      Error,
      "argument must be between 0 and 10000 inclusive",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("LATENCY: a command over latency-monitor-threshold is a sample of `command`", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await r.call("latency", "latest"), []);
    await r.config("SET", "latency-monitor-threshold", "1");
    // LCS of two 1,500-byte strings fills a 2.25 M cell table: well over 1 ms anywhere.
    await r.mset("a", "ab".repeat(750), "b", "ba".repeat(750));
    await r.call("lcs", "a", "b", "len");
    const latest = await r.call("latency", "latest") as unknown[][];
    assertEquals(latest.length, 1);
    assertEquals(latest[0]![0], "command");
    assert(Number(latest[0]![2]) >= 1 && Number(latest[0]![3]) >= Number(latest[0]![2]));
    // One sample per second with a command over the threshold: the LCS's, and on a loaded
    // machine maybe one more (the MSET, or a LATENCY call itself, can take over 1 ms).
    const history = await r.call("latency", "history", "command") as number[][];
    assert(history.length >= 1, JSON.stringify(history));
    for (const [, ms] of history) assert(ms! >= 1, `a sample under the threshold: ${history}`);
    assert(String(await r.call("latency", "doctor")).includes("command"));
    assert(String(await r.call("latency", "graph", "command")).includes("#"));
    // Monitoring off first: a command is measured once it ran, so a LATENCY RESET that took
    // over 1 ms (any command can, on a loaded machine) would add a sample after emptying them.
    await r.config("SET", "latency-monitor-threshold", "0");
    assertEquals(await r.call("latency", "reset"), 1);
    assertEquals(await r.call("latency", "latest"), []);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("INFO: instantaneous_ops_per_sec follows the load; keyspace expires and avg_ttl are counted", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const field = async (section: string, name: string) => {
    const m = new RegExp(`^${name}:(.*)\\r?$`, "m").exec(await r.info(section));
    return m === null ? undefined : m[1]!.trim();
  };
  try {
    let stop = false;
    const load = (async () => {
      while (!stop) await Promise.all(Array.from({ length: 50 }, () => r.ping()));
    })();
    await eventually(async () => Number(await field("stats", "instantaneous_ops_per_sec")) > 0);
    assert(Number(await field("stats", "instantaneous_input_kbps")) > 0);
    assert(Number(await field("stats", "instantaneous_output_kbps")) > 0);
    stop = true;
    await load;
    // 16 samples of 100 ms: the figure falls back once the load is gone (to the INFO polls'
    // own ~20 per second).
    await eventually(async () => Number(await field("stats", "instantaneous_ops_per_sec")) < 50);
    await r.set("a", "1");
    await r.set("b", "1", "EX", 1000);
    await r.set("c", "1", "PX", 500_000);
    const db0 = await field("keyspace", "db0");
    const m = /^keys=3,expires=2,avg_ttl=(\d+)$/.exec(db0 ?? "");
    assert(m !== null, db0);
    // (1000 s + 500 s) / 2, less the few ms since.
    const avg = Number(m![1]);
    assert(avg <= 750_000 && avg > 740_000, String(avg));
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("the cron sleeps while no client is connected and wakes with the next; INFO's rates stay true across", async () => {
  const t = await startTestServer();
  const info = async (r: Redis) =>
    Number(/^instantaneous_ops_per_sec:(\d+)\r?$/m.exec(await r.info("stats"))?.[1]);
  try {
    // No client since start: past more idle samples than the rates keep, nothing is scheduled.
    await eventually(() => t.server.cronAsleep, 60_000, "the cron to sleep");
    const r = await connectRedis(t.port, { protocol: 2 });
    let stop = false;
    const load = (async () => {
      while (!stop) await Promise.all(Array.from({ length: 50 }, () => r.ping()));
    })();
    // The client woke it: the rates are sampled again.
    await eventually(async () => await info(r) > 200, 60_000, "the load's rate");
    stop = true;
    await load;
    await closeRedis(r);
    await eventually(() => t.server.cronAsleep, 60_000, "the cron to sleep again");
    // It slept only once every sample it keeps was taken with no client: a new client reads
    // no stale rate of the load (only its own few commands, as the test above).
    const r2 = await connectRedis(t.port, { protocol: 2 });
    try {
      assert(await info(r2) < 50);
      assert(!t.server.cronAsleep);
    } finally {
      await closeRedis(r2);
    }
  } finally {
    await t.close();
  }
});

Deno.test("MONITOR streams another client's commands, a transaction's at EXEC", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const monitor = await RawClient.connect(t.port);
  try {
    await monitor.send("MONITOR\r\n");
    await monitor.readUntil((s) => s.endsWith("+OK\r\n"));
    await r.set("k", "v w");
    await r.multi().incr("n").get("k").exec();
    const text = await monitor.readUntil((s) => s.includes('"exec"'));
    const lines = text.trim().split("\r\n").map((l) =>
      l.replace(/^\+\d+\.\d{6} \[0 [^\]]+\] /, "")
    );
    assertEquals(lines, ['"set" "k" "v w"', '"multi"', '"incr" "n"', '"get" "k"', '"exec"']);
    assert(/^\+\d{10}\.\d{6} \[0 127\.0\.0\.1:\d+\] "set"/.test(text), text);
  } finally {
    monitor.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("MEMORY STATS, MEMORY DOCTOR, LATENCY HISTOGRAM and INFO's pub/sub fields answer plausibly", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const sub = await RawClient.connect(t.port);
  try {
    await r.mset("a", "1", "b", "2");
    const stats = await r.call("memory", "stats") as unknown[];
    const map = new Map<string, unknown>();
    for (let i = 0; i < stats.length; i += 2) map.set(String(stats[i]), stats[i + 1]);
    assertEquals(map.get("keys.count"), 2);
    assert(Number(map.get("total.allocated")) > 0);
    assert(String(await r.call("memory", "doctor")).length > 0);
    assertEquals(
      await r.call("memory", "malloc-stats"),
      "Stats not supported for the current allocator\n",
    );
    const hist = await r.call("latency", "histogram", "mset", "nosuch") as unknown[];
    assertEquals(hist[0], "mset");
    const detail = hist[1] as unknown[];
    assertEquals(detail.slice(0, 2), ["calls", 1]);
    // As Redis 7: a container command is counted per subcommand, in INFO commandstats and in
    // LATENCY HISTOGRAM, where naming the container lists its subcommands.
    await r.call("config", "resetstat");
    await r.call("config", "get", "maxmemory");
    const byContainer = await r.call("latency", "histogram", "config") as unknown[];
    assertEquals(byContainer.filter((_, i) => i % 2 === 0).sort(), [
      "config|get",
      "config|resetstat",
    ]);
    const bySub = await r.call("latency", "histogram", "config|get") as unknown[];
    assertEquals([bySub[0], (bySub[1] as unknown[]).slice(0, 2)], ["config|get", ["calls", 1]]);
    assert((await r.info("commandstats")).includes("cmdstat_config|get:calls=1,"));
    await sub.send("SUBSCRIBE x y\r\nPSUBSCRIBE z*\r\n");
    await sub.readUntil((s) => s.endsWith(":3\r\n"));
    const info = await r.info("stats") + await r.info("clients");
    for (const line of ["pubsub_channels:2", "pubsub_patterns:1", "cityhall_pubsub_clients:1"]) {
      assert(info.includes(line + "\r\n"), `${line} in ${info}`);
    }
  } finally {
    sub.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("CLIENT LIST and CLIENT INFO count the running command in qbuf and argv-mem, as Redis", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const other = await connectRedis(t.port, { protocol: 2 });
  try {
    await other.ping();
    // "*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n": 26 bytes; its arguments 10.
    const list = String(await r.call("client", "list"));
    const mine = list.split("\n").find((l) => l.includes("cmd=client|list"))!;
    assert(/ qbuf=26 /.test(mine) && / argv-mem=10 /.test(mine), mine);
    const theirs = list.split("\n").find((l) => l.includes("cmd=ping"))!;
    assert(/ qbuf=0 /.test(theirs) && / argv-mem=0 /.test(theirs), theirs);
    assert(/ qbuf=26 /.test(String(await r.call("client", "info"))));
  } finally {
    await closeRedis(r);
    await closeRedis(other);
    await t.close();
  }
});
