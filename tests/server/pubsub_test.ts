/**
 * Pub/sub with real clients: redis-py `r.pubsub()` (RESP2), ioredis in RESP2 and RESP3,
 * node-redis; keyspace notifications through redis-py; the per-client and server-wide pattern
 * limits; the hook other layers publish through (`publishSeriesSamples`).
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { createClient } from "redis";
import { publishSeriesSamples } from "../../src/server/mod.ts";
import type { Client } from "../../src/server/context.ts";
import type { ExclusiveGate } from "../../src/server/gate.ts";
import { PUBSUB_CLIENT_SUBSCRIPTIONS_MAX, PUBSUB_PATTERNS_MAX } from "../../src/limits.ts";
import {
  closeRedis,
  connectRedis,
  RawClient,
  type Redis,
  sleep,
  startTestServer,
} from "./_helpers.ts";
import { runRedisPy } from "./_redis.ts";

/** Polls `check` every 10 ms until it is true, for at most `ms`. */
async function eventually(check: () => boolean, ms = 60_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const REDIS_PY_PUBSUB = `
import json, sys, time, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
p = r.pubsub()
p.subscribe("news")
p.psubscribe("n*")
got = []
def drain(until):
    deadline = time.time() + 10
    while len(got) < until and time.time() < deadline:
        m = p.get_message(timeout=0.5)
        if m is not None:
            got.append([m["type"], m["pattern"], m["channel"], m["data"]])
drain(2)
n = r.publish("news", "hello")
drain(4)
p.unsubscribe("news")
p.punsubscribe()
drain(6)
out = {"published": n, "messages": got, "numsub": r.pubsub_numsub("news"), "numpat": r.pubsub_numpat()}
# Keyspace notifications.
r.config_set("notify-keyspace-events", "KEA")
k = r.pubsub()
k.psubscribe("__keyspace@0__:user:*")
events = []
deadline = time.time() + 10
while time.time() < deadline and len(events) < 1:
    m = k.get_message(timeout=0.5)
    if m is not None: events.append(m["type"])
r.set("user:1", "a", ex=100)
r.delete("user:1")
while time.time() < deadline and len(events) < 4:
    m = k.get_message(timeout=0.5)
    if m is not None and m["type"] == "pmessage":
        events.append([m["channel"], m["data"]])
out["events"] = events
out["config"] = r.config_get("notify-keyspace-events")
print(json.dumps(out))
`;

Deno.test("redis-py pubsub(): subscribe, psubscribe, messages, unsubscribe, keyspace events", async () => {
  const t = await startTestServer();
  try {
    const out = JSON.parse(await runRedisPy(REDIS_PY_PUBSUB, [String(t.port)]));
    assertEquals(out.published, 2);
    assertEquals(out.messages, [
      ["subscribe", null, "news", 1],
      ["psubscribe", null, "n*", 2],
      ["message", null, "news", "hello"],
      ["pmessage", "n*", "news", "hello"],
      ["unsubscribe", null, "news", 1],
      ["punsubscribe", null, "n*", 0],
    ]);
    assertEquals(out.numsub, [["news", 0]]);
    assertEquals(out.numpat, 0);
    assertEquals(out.events, [
      "psubscribe",
      ["__keyspace@0__:user:1", "set"],
      ["__keyspace@0__:user:1", "expire"],
      ["__keyspace@0__:user:1", "del"],
    ]);
    assertEquals(out.config, { "notify-keyspace-events": "AKE" });
  } finally {
    await t.close();
  }
});

for (const protocol of [2, 3] as const) {
  Deno.test(`ioredis RESP${protocol}: subscriber mode, message and pmessage events`, async () => {
    const t = await startTestServer();
    const sub = await connectRedis(t.port, { protocol });
    const pub = await connectRedis(t.port, { protocol });
    try {
      const got: string[] = [];
      sub.on("message", (channel: string, message: string) => got.push(`${channel}=${message}`));
      sub.on(
        "pmessage",
        (pattern: string, channel: string, message: string) =>
          got.push(`${pattern}:${channel}=${message}`),
      );
      assertEquals(await sub.subscribe("a", "b"), 2);
      assertEquals(await sub.psubscribe("a*"), 3);
      assertEquals(await pub.publish("a", "1"), 2);
      assertEquals(await pub.publish("b", "2"), 1);
      assertEquals(await pub.publish("ab", "3"), 1);
      await eventually(() => got.length === 4, 60_000, "4 messages");
      assertEquals(got, ["a=1", "a*:a=1", "b=2", "a*:ab=3"]);
      assertEquals(await pub.pubsub("NUMSUB", "a", "b", "c"), ["a", 1, "b", 1, "c", 0]);
      // (ioredis 6 waits forever on a bare unsubscribe(), against redis-server too: name them.)
      await sub.unsubscribe("a", "b");
      await sub.punsubscribe("a*");
      // Out of subscribe mode, the connection answers ordinary commands again.
      assertEquals(await sub.set("k", "v"), "OK");
    } finally {
      await closeRedis(sub);
      await closeRedis(pub);
      await t.close();
    }
  });
}

Deno.test("node-redis subscribe/pSubscribe listeners and unsubscribe", async () => {
  const t = await startTestServer();
  const socket = { host: "127.0.0.1", port: t.port, reconnectStrategy: false as const };
  const pub = createClient({ socket });
  const sub = pub.duplicate();
  await pub.connect();
  await sub.connect();
  try {
    const got: string[] = [];
    await sub.subscribe("news", (message, channel) => got.push(`${channel}=${message}`));
    await sub.pSubscribe("n*", (message, channel) => got.push(`p:${channel}=${message}`));
    assertEquals(await pub.publish("news", "x"), 2);
    await eventually(() => got.length === 2, 60_000, "2 messages");
    assertEquals(got.sort(), ["news=x", "p:news=x"]);
    await sub.unsubscribe("news");
    await sub.pUnsubscribe("n*");
    assertEquals(await pub.publish("news", "y"), 0);
    assertEquals(await pub.sendCommand(["PUBSUB", "NUMPAT"]), 0);
  } finally {
    await sub.quit();
    await pub.quit();
    await t.close();
  }
});

Deno.test("a subscriber is never closed as idle; it still gets messages after the idle timeout", async () => {
  const t = await startTestServer({ idleTimeoutS: 1 });
  const sub = await RawClient.connect(t.port);
  let pub: Redis | undefined;
  try {
    await sub.send("SUBSCRIBE chan\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    await sleep(2500);
    // A fresh publisher: an idle one would have been closed by now.
    pub = await connectRedis(t.port, { protocol: 2 });
    assertEquals(await pub.publish("chan", "late"), 1);
    assertEquals(
      await sub.readUntil((s) => s.endsWith("late\r\n")),
      "*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$4\r\nlate\r\n",
    );
  } finally {
    sub.close();
    if (pub !== undefined) await closeRedis(pub);
    await t.close();
  }
});

Deno.test("limits: subscriptions per connection and distinct patterns per server", async () => {
  const t = await startTestServer();
  const a = await connectRedis(t.port, { protocol: 2 });
  const b = await connectRedis(t.port, { protocol: 2 });
  try {
    // One command past the per-connection limit is refused whole: nothing of it applies.
    const tooMany = Array.from({ length: PUBSUB_CLIENT_SUBSCRIPTIONS_MAX + 1 }, (_, i) => `c${i}`);
    await assertRejects(
      () => a.call("subscribe", ...tooMany),
      Error,
      `Too many subscriptions: at most ${PUBSUB_CLIENT_SUBSCRIPTIONS_MAX}`,
    );
    assertEquals(await b.call("pubsub", "numsub", "c0"), ["c0", 0]);
    assertEquals(await a.call("get", "x"), null);
    // Exactly the limit of distinct patterns, then one more from another connection.
    const patterns = Array.from({ length: PUBSUB_PATTERNS_MAX }, (_, i) => `p${i}*`);
    const raw = await RawClient.connect(t.port);
    try {
      await raw.send(
        `*${patterns.length + 1}\r\n$10\r\npsubscribe\r\n` +
          patterns.map((p) => `$${p.length}\r\n${p}\r\n`).join(""),
      );
      await raw.readUntil((s) => s.endsWith(`:${PUBSUB_PATTERNS_MAX}\r\n`));
      assertEquals(await b.call("pubsub", "numpat"), PUBSUB_PATTERNS_MAX);
      await assertRejects(
        () => b.call("psubscribe", "new*"),
        Error,
        `Too many patterns on this server: at most ${PUBSUB_PATTERNS_MAX}`,
      );
      // An existing pattern costs no new pattern.
      assertEquals(await b.call("psubscribe", "p0*"), 1);
      await assertRejects(
        () => b.call("psubscribe", "x".repeat(5000)),
        Error,
        "Pattern too long: 5000 bytes",
      );
    } finally {
      raw.close();
    }
    await eventually(() => t.server.connectedClients === 2, 60_000, "the raw client's close");
    // Its subscriptions went with it.
    assertEquals(await a.call("pubsub", "numpat"), 1);
  } finally {
    await closeRedis(a);
    await closeRedis(b);
    await t.close();
  }
});

Deno.test("publishSeriesSamples: a series' samples on __ts__:<key>, nothing encoded without listeners", async () => {
  const t = await startTestServer();
  const sub = await RawClient.connect(t.port);
  try {
    const key = new TextEncoder().encode("sensor:1");
    assertEquals(publishSeriesSamples(t.server.pubsub, key, [{ timestampMs: 1, value: 2 }]), 0);
    await sub.send("SUBSCRIBE __ts__:sensor:1\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    const n = publishSeriesSamples(t.server.pubsub, key, [
      { timestampMs: 1700000000000, value: 21.5 },
      { timestampMs: 1700000001000, value: -3 },
    ]);
    assertEquals(n, 2);
    const text = await sub.readUntil((s) => s.endsWith("-3\r\n"));
    assertEquals(
      text,
      "*3\r\n$7\r\nmessage\r\n$15\r\n__ts__:sensor:1\r\n$18\r\n1700000000000 21.5\r\n" +
        "*3\r\n$7\r\nmessage\r\n$15\r\n__ts__:sensor:1\r\n$16\r\n1700000001000 -3\r\n",
    );
    assert(t.server.pubsub.hasSubscribers(new TextEncoder().encode("__ts__:sensor:1")));
  } finally {
    sub.close();
    await t.close();
  }
});

Deno.test("a message published while a command waits behind a transaction comes before its reply", async () => {
  const t = await startTestServer();
  // The server's transaction gate, held here the way another client's EXEC holds it while one
  // of its commands is asynchronous (KEYS, DBSIZE, AUTH): commands of others wait at it.
  const core = t.server as unknown as { gate: ExclusiveGate; clients: Map<number, Client> };
  const holder = {};
  const sub = await RawClient.connect(t.port);
  try {
    await sub.send("HELLO 3\r\nSUBSCRIBE c\r\n");
    await sub.readUntil((s) => s.endsWith(":1\r\n"));
    assertEquals(core.gate.acquire(holder), undefined);
    await sub.send("PING\r\n");
    // The PING was read and waits at the gate.
    await eventually(() => [...core.clients.values()].some((c) => c.busy), 60_000, "PING held");
    const enc = new TextEncoder();
    assertEquals(t.server.pubsub.publish(enc.encode("c"), enc.encode("m")), 1);
    core.gate.release(holder);
    // The message happened before the PING ran: it is read first.
    assertEquals(
      await sub.readUntil((s) => s.includes("+PONG\r\n")),
      ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n+PONG\r\n",
    );
  } finally {
    sub.close();
    await t.close();
  }
});
