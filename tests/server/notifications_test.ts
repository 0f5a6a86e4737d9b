/**
 * Keyspace notifications beyond the byte-for-byte comparison: `expired` events found by the
 * expiry tracker without any access and by its sweep for keys given a TTL outside RESP; events
 * of a transaction published only once EXEC wrote them; nothing published while off.
 */
import { assert, assertEquals } from "@std/assert";
import { withDeadline } from "../_helpers/fuzz.ts";
import {
  closeRedis,
  connectRedis,
  RawClient,
  type Redis,
  sleep,
  startTestServer,
} from "./_helpers.ts";

/** Reads `client` until `done(text)`; fails after `ms`. */
function readFor(client: RawClient, done: (s: string) => boolean, ms = 60_000): Promise<string> {
  return withDeadline(client.readUntil(done), ms, "the expected messages");
}

/** A server, a client and a subscriber to `expired` events (notifications on): `fn` runs with them. */
async function withExpiredFeed(fn: (r: Redis, sub: RawClient) => Promise<void>): Promise<void> {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const sub = await RawClient.connect(t.port);
  try {
    await r.config("SET", "notify-keyspace-events", "Ex");
    await sub.send("SUBSCRIBE __keyevent@0__:expired\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    await fn(r, sub);
  } finally {
    sub.close();
    await closeRedis(r);
    await t.close();
  }
}

Deno.test("expired events: a key whose TTL passes is announced without being read", async () => {
  await withExpiredFeed(async (r, sub) => {
    await r.set("session:1", "v", "PX", 150);
    await r.set("session:2", "v", "PX", 100_000);
    const text = await readFor(sub, (s) => s.includes("session:1"));
    assertEquals(
      text,
      "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$9\r\nsession:1\r\n",
    );
    const info = await r.info("stats");
    assert(/^expired_keys:1\r?$/m.test(info), info);
    // A key given a new TTL or persisted before its time is not announced.
    await r.set("p", "v", "PX", 200);
    await r.persist("p");
    await r.set("q", "v", "PX", 200);
    await r.set("q", "v");
    await sleep(600);
    await r.set("marker", "v", "PX", 1);
    // Nothing reads the key: the server's cron must find it (see the test below for why it
    // once missed it).
    assertEquals(
      await readFor(sub, (s) => s.includes("marker")),
      "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$6\r\nmarker\r\n",
    );
  });
});

Deno.test("expired events: every SET … PX 1 and PEXPIRE … 1 is written, expires and is announced", async () => {
  // SET computed its expiry from one clock reading and checked "already past?" against a
  // later one: whenever a millisecond passed in between (often, on a loaded machine) the SET
  // became a silent delete, and no `expired` event ever came. PEXPIRE had the same race.
  await withExpiredFeed(async (r, sub) => {
    const n = 2000;
    const p = r.pipeline();
    for (let i = 0; i < n; i++) p.set(`s${i}`, "v", "PX", 1);
    for (let i = 0; i < n; i++) p.set(`e${i}`, "v").pexpire(`e${i}`, 1);
    const replies = await p.exec();
    assertEquals(replies!.filter(([err]) => err !== null), []);
    const event = "__keyevent@0__:expired\r\n";
    const count = (s: string) => s.split(event).length - 1;
    const text = await readFor(sub, (s) => count(s) >= 2 * n, 60_000);
    assertEquals(count(text), 2 * n);
    const info = await r.info("stats");
    assert(new RegExp(`^expired_keys:${2 * n}\r?$`, "m").test(info), info);
  });
});

Deno.test("expired events: keys FLUSHALL deleted are not announced as expired later", async () => {
  await withExpiredFeed(async (r, sub) => {
    await r.set("flushed", "v", "PX", 200);
    await r.flushall();
    await sleep(500);
    await r.set("marker", "v", "PX", 1);
    // Nothing reads the key: the server's cron must find it (see the test below for why it
    // once missed it).
    assertEquals(
      await readFor(sub, (s) => s.includes("marker")),
      "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$6\r\nmarker\r\n",
    );
  });
});

Deno.test("expired events: the sweep finds keys given a TTL outside RESP (engine, HTTP, restart)", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const sub = await RawClient.connect(t.port);
  try {
    // Written straight to the engine, as the HTTP API and replication do.
    await t.db.put("direct", "v", { expireAtMs: Date.now() + 1500 });
    await t.db.put("forever", "v");
    await r.config("SET", "notify-keyspace-events", "Kx");
    await sub.send("PSUBSCRIBE __keyspace@0__:*\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    const text = await readFor(sub, (s) => s.includes("expired"), 15_000);
    assertEquals(
      text,
      "*4\r\n$8\r\npmessage\r\n$16\r\n__keyspace@0__:*\r\n$21\r\n__keyspace@0__:direct\r\n" +
        "$7\r\nexpired\r\n",
    );
  } finally {
    sub.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("a transaction's events are published after EXEC wrote them; none for DISCARD", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const self = await RawClient.connect(t.port);
  try {
    await r.config("SET", "notify-keyspace-events", "E$g");
    // A RESP3 client subscribed to the events of its own transaction.
    await self.send("HELLO 3\r\nSUBSCRIBE __keyevent@0__:set __keyevent@0__:del\r\n");
    await self.readUntil((s) => s.endsWith(":2\r\n"));
    await self.send("MULTI\r\nSET a 1\r\nDEL a\r\nGET a\r\nEXEC\r\n");
    const text = await self.readUntil((s) => s.includes("$1\r\na\r\n>3") && s.endsWith("a\r\n"));
    assertEquals(
      text,
      "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:1\r\n_\r\n" +
        ">3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\na\r\n" +
        ">3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:del\r\n$1\r\na\r\n",
    );
    await self.send("MULTI\r\nSET b 1\r\nDISCARD\r\nPING\r\n");
    assertEquals(
      await self.readUntil((s) => s.endsWith("+PONG\r\n")),
      "+OK\r\n+QUEUED\r\n+OK\r\n+PONG\r\n",
    );
  } finally {
    self.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("with notify-keyspace-events off, or K/E without a class, nothing is published", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const sub = await RawClient.connect(t.port);
  try {
    await sub.send("PSUBSCRIBE __key*__:*\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    await r.set("a", "1");
    await r.config("SET", "notify-keyspace-events", "KE");
    await r.set("a", "2");
    await r.config("SET", "notify-keyspace-events", "$");
    await r.set("a", "3");
    await r.config("SET", "notify-keyspace-events", "E$");
    await r.set("last", "4");
    assertEquals(
      await readFor(sub, (s) => s.includes("last")),
      "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyevent@0__:set\r\n$4\r\nlast\r\n",
    );
  } finally {
    sub.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("CONFIG SET hz: INFO reports it and the cron runs at it, so expired keys are still announced", async () => {
  await withExpiredFeed(async (r, sub) => {
    for (const hz of ["1", "500"]) {
      await r.config("SET", "hz", hz);
      const info = await r.info("server");
      assert(new RegExp(`^hz:${hz}\\r?$`, "m").test(info), info);
      assert(new RegExp(`^configured_hz:${hz}\\r?$`, "m").test(info), info);
      // Nothing reads the key: only the cron, rescheduled at the new rate, finds it.
      await r.set(`k${hz}`, "v", "PX", 1);
      assertEquals(
        await readFor(sub, (s) => s.includes(`k${hz}`)),
        `*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$${hz.length + 1}\r\nk${hz}\r\n`,
      );
    }
  });
});
