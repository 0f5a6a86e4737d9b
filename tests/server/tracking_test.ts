/**
 * Client-side caching (CLIENT TRACKING) against a real server over raw RESP2/RESP3 sockets, and
 * redis-py's RESP2 redirect flow. Absence of a message is shown without timing: a PING on the
 * same connection is answered after every push already queued for it.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { startTestServer, type TestServer } from "./_helpers.ts";
import { RespConn, type RespValue } from "./_resp_conn.ts";
import { assertNoPush, inval, invalSorted, readSorted, tracker } from "./_tracking.ts";
import { runRedisPy } from "./_redis.ts";

async function withServer(fn: (s: TestServer, open: () => Promise<RespConn>) => Promise<void>) {
  const s = await startTestServer();
  const conns: RespConn[] = [];
  const open = async () => {
    const c = await RespConn.connect(s.port);
    conns.push(c);
    return c;
  };
  try {
    await fn(s, open);
  } finally {
    for (const c of conns) c.close();
    await s.close();
  }
}

async function info(c: RespConn, field: string): Promise<string> {
  const text = await c.call("INFO", "everything") as string;
  return new RegExp(`${field}:(\\S+)`).exec(text)![1]!;
}

Deno.test("tracking: a read key is invalidated once when another client writes it (RESP3)", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    const b = await open();
    await b.call("SET", "k", "1");
    assertEquals(await a.call("GET", "k"), "1");
    assertEquals(await b.call("SET", "k", "2"), "OK");
    assertEquals(await a.read(), inval(["k"]));
    // Forgotten until read again.
    await b.call("SET", "k", "3");
    await assertNoPush(a);
    // A key never read is not tracked.
    await b.call("SET", "other", "1");
    await assertNoPush(a);
  });
});

Deno.test("tracking: own write is invalidated after its reply; NOLOOP suppresses it", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    await a.call("GET", "k");
    assertEquals(await a.call("SET", "k", "1"), "OK");
    assertEquals(await a.read(), inval(["k"]));
    const n = await tracker(open, "NOLOOP");
    const b = await open();
    await n.call("MGET", "x", "y");
    assertEquals(await n.call("SET", "x", "1"), "OK");
    await assertNoPush(n);
    await b.call("SET", "y", "1");
    assertEquals(await n.read(), inval(["y"]));
  });
});

Deno.test("tracking: member types report the user key, never internal member keys", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    const b = await open();
    await b.call("HSET", "h", "f", "1");
    await b.call("RPUSH", "l", "a");
    await b.call("SADD", "s", "m");
    await b.call("ZADD", "z", "1", "m");
    await a.call("HGET", "h", "f");
    await a.call("LRANGE", "l", "0", "-1");
    await a.call("SMEMBERS", "s");
    await a.call("ZRANGE", "z", "0", "-1");
    await b.call("HSET", "h", "f", "2");
    assertEquals(await a.read(), inval(["h"]));
    await b.call("LPUSH", "l", "b");
    assertEquals(await a.read(), inval(["l"]));
    await b.call("SREM", "s", "m");
    assertEquals(await a.read(), inval(["s"]));
    await b.call("ZINCRBY", "z", "2", "m");
    assertEquals(await a.read(), inval(["z"]));
    await assertNoPush(a);
  });
});

Deno.test("tracking: a sample appended to a series invalidates the series key", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    const b = await open();
    assertEquals(await b.call("TS.CREATE", "t"), "OK");
    await b.call("TS.ADD", "t", "1", "1");
    await a.call("TS.GET", "t");
    assertEquals(await b.call("TS.ADD", "t", "2", "2"), 2);
    assertEquals(await a.read(), inval(["t"]));
    await assertNoPush(a);
  });
});

Deno.test("tracking: DEL, RENAME, expiry and FLUSHALL invalidate", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    const b = await open();
    await b.call("MSET", "d", "1", "r", "1", "e", "1");
    await a.call("MGET", "d", "r", "r2", "e");
    await b.call("DEL", "d");
    assertEquals(await a.read(), inval(["d"]));
    await b.call("RENAME", "r", "r2");
    assertEquals(await readSorted(a, 2), invalSorted("r", "r2"));
    // The key's own PEXPIRE invalidates it; read again, then its expiry does (the server
    // finds it on its own: nothing else is sent meanwhile).
    await b.call("PEXPIRE", "e", "3000");
    assertEquals(await a.read(), inval(["e"]));
    assertEquals(await a.call("GET", "e"), "1");
    assertEquals(await a.read(), inval(["e"]));
    await a.call("GET", "k");
    await b.call("FLUSHALL");
    assertEquals(await a.read(), inval(null));
  });
});

Deno.test("tracking: invalidations follow the whole EXEC reply", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    await a.call("MSET", "a", "1", "b", "2");
    await a.call("GET", "a");
    await a.call("MULTI");
    await a.call("INCR", "a");
    await a.call("GET", "b");
    assertEquals(await a.call("EXEC"), [2, "2"]);
    assertEquals(await a.read(), inval(["a"]));
    await a.call("MULTI");
    await a.call("FLUSHDB");
    assertEquals(await a.call("EXEC"), ["OK"]);
    assertEquals(await a.read(), inval(null));
  });
});

Deno.test("tracking: REDIRECT to a RESP2 subscriber, and redirect-broken", async () => {
  await withServer(async (_s, open) => {
    const r = await open();
    const rid = await r.call("CLIENT", "ID") as number;
    await r.call("SUBSCRIBE", "__redis__:invalidate");
    const a = await tracker(open, "REDIRECT", String(rid));
    const b = await open();
    await a.call("GET", "k");
    await b.call("SET", "k", "1");
    assertEquals(await r.read(), ["message", "__redis__:invalidate", ["k"]]);
    await a.call("GET", "k");
    await b.call("FLUSHALL");
    assertEquals(await r.read(), ["message", "__redis__:invalidate", null]);
    assertEquals(await a.call("CLIENT", "GETREDIR"), rid);
    // The target leaves: the next message becomes tracking-redir-broken on A itself.
    assertEquals(await r.call("QUIT"), "OK");
    await a.call("GET", "k");
    const list = async () => await b.call("CLIENT", "LIST") as string;
    for (let i = 0; i < 200 && (await list()).includes(`id=${rid} `); i++) {
      await new Promise((res) => setTimeout(res, 25));
    }
    await b.call("SET", "k", "2");
    assertEquals(await a.read(), { push: ["tracking-redir-broken", rid] });
    const ti = await a.call("CLIENT", "TRACKINGINFO");
    assertEquals(ti, {
      map: [["flags", ["on", "broken_redirect"]], ["redirect", rid], ["prefixes", []]],
    });
  });
});

Deno.test("tracking: a RESP2 client without a redirect gets nothing, but stays consistent", async () => {
  await withServer(async (_s, open) => {
    const a = await open();
    assertEquals(await a.call("CLIENT", "TRACKING", "ON"), "OK");
    const b = await open();
    await a.call("GET", "k");
    await b.call("SET", "k", "1");
    await assertNoPush(a);
    assertEquals(await info(b, "tracking_clients"), "1");
  });
});

Deno.test("tracking: BCAST sends every written key under a prefix, one message per prefix", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open, "BCAST", "PREFIX", "a:", "PREFIX", "b:");
    const b = await open();
    await b.call("MSET", "a:1", "x", "b:1", "x", "c:1", "x", "a:2", "x");
    const got = [await a.read(), await a.read()] as { push: [string, string[]] }[];
    const keys = got.map((g) => g.push[1].sort()).sort();
    assertEquals(keys, [["a:1", "a:2"], ["b:1"]]);
    await assertNoPush(a);
    // Reads are not needed, and NOLOOP drops the client's own keys.
    const n = await tracker(open, "BCAST", "NOLOOP");
    await n.call("SET", "mine", "1");
    await assertNoPush(n);
    await b.call("SET", "theirs", "1");
    assertEquals(await n.read(), inval(["theirs"]));
    assertEquals(await info(b, "tracking_total_prefixes"), "3");
  });
});

Deno.test("tracking: OPTIN remembers only after CLIENT CACHING YES, OPTOUT skips after NO", async () => {
  await withServer(async (_s, open) => {
    const i = await tracker(open, "OPTIN");
    const b = await open();
    await i.call("GET", "k");
    await b.call("SET", "k", "1");
    await assertNoPush(i);
    assertEquals(await i.call("CLIENT", "CACHING", "YES"), "OK");
    await i.call("GET", "k");
    // Spent by that command: the next read is not remembered.
    await i.call("GET", "k2");
    await b.call("MSET", "k", "2", "k2", "2");
    assertEquals(await i.read(), inval(["k"]));
    await assertNoPush(i);
    const o = await tracker(open, "OPTOUT");
    assertEquals(await o.call("CLIENT", "CACHING", "NO"), "OK");
    await o.call("GET", "k");
    await o.call("GET", "k2");
    await b.call("MSET", "k", "3", "k2", "3");
    assertEquals(await o.read(), inval(["k2"]));
    await assertNoPush(o);
  });
});

Deno.test("tracking: errors are Redis's", async () => {
  await withServer(async (_s, open) => {
    const a = await open();
    const err = async (...args: string[]) => {
      const v = await a.call(...args) as { error: string };
      return v.error;
    };
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "PREFIX", "x"),
      "ERR PREFIX option requires BCAST mode to be enabled",
    );
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"),
      "ERR You can't specify both OPTIN mode and OPTOUT mode",
    );
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"),
      "ERR OPTIN and OPTOUT are not compatible with BCAST",
    );
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "REDIRECT", "99999"),
      "ERR The client ID you want redirect to does not exist",
    );
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "REDIRECT", "x"),
      "ERR value is not an integer or out of range",
    );
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "REDIRECT", "1", "REDIRECT", "1"),
      "ERR A client can only redirect to a single other client",
    );
    assertEquals(await err("CLIENT", "TRACKING", "ON", "FOO"), "ERR syntax error");
    assertEquals(await err("CLIENT", "TRACKING", "MAYBE"), "ERR syntax error");
    assertMatch(await err("CLIENT", "TRACKING"), /wrong number of arguments/);
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
      "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap.",
    );
    assertEquals(
      await err("CLIENT", "CACHING", "YES"),
      "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
    );
    assertEquals(await a.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "foo"), "OK");
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "fo"),
      "ERR Prefix 'fo' overlaps with an existing prefix 'foo'. Prefixes for a single client must not overlap.",
    );
    assertEquals(
      await err("CLIENT", "TRACKING", "ON"),
      "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
    );
    assertEquals(await a.call("CLIENT", "TRACKING", "OFF"), "OK");
    assertEquals(await a.call("CLIENT", "TRACKING", "ON", "OPTIN"), "OK");
    assertEquals(
      await err("CLIENT", "TRACKING", "ON", "OPTOUT"),
      "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
    );
    assertEquals(
      await err("CLIENT", "CACHING", "NO"),
      "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
    );
    assertEquals(await err("CLIENT", "CACHING", "MAYBE"), "ERR syntax error");
    assertEquals(
      await err("CONFIG", "SET", "tracking-table-max-keys", "-1"),
      "ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - argument must be between 0 and 10000000 inclusive",
    );
  });
});

Deno.test("tracking: BCAST prefixes per client are bounded", async () => {
  await withServer(async (_s, open) => {
    const a = await open();
    const prefixes = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ["PREFIX", `p${String(from + i).padStart(5, "0")}`])
        .flat();
    assertEquals(await a.call("CLIENT", "TRACKING", "ON", "BCAST", ...prefixes(0, 1000)), "OK");
    assertEquals(await a.call("CLIENT", "TRACKING", "ON", "BCAST", ...prefixes(1000, 1)), {
      error: "ERR Too many tracking prefixes: at most 1000 per client",
    });
    const info = await a.call("CLIENT", "TRACKINGINFO") as RespValue[];
    assertEquals((info[5] as string[]).length, 1000);
  });
});

Deno.test("tracking: GETREDIR, TRACKINGINFO, CLIENT LIST flags, RESET and disconnect", async () => {
  await withServer(async (_s, open) => {
    const a = await open();
    const b = await open();
    assertEquals(await a.call("CLIENT", "GETREDIR"), -1);
    assertEquals(await a.call("CLIENT", "TRACKINGINFO"), [
      "flags",
      ["off"],
      "redirect",
      -1,
      "prefixes",
      [],
    ]);
    await a.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p", "NOLOOP");
    assertEquals(await a.call("CLIENT", "GETREDIR"), 0);
    assertEquals(await a.call("CLIENT", "TRACKINGINFO"), [
      "flags",
      ["on", "bcast", "noloop"],
      "redirect",
      0,
      "prefixes",
      ["p"],
    ]);
    const line = await a.call("CLIENT", "INFO") as string;
    assertMatch(line, / flags=tB /);
    assertMatch(line, / redir=0 /);
    assertEquals(await a.call("RESET"), "RESET");
    assertEquals(await a.call("CLIENT", "GETREDIR"), -1);
    await a.call("CLIENT", "TRACKING", "ON", "OPTIN");
    await a.call("CLIENT", "CACHING", "YES");
    assertEquals(await a.call("CLIENT", "TRACKINGINFO"), [
      "flags",
      ["on", "optin", "caching-yes"],
      "redirect",
      0,
      "prefixes",
      [],
    ]);
    await a.call("GET", "x");
    assertEquals(await info(b, "tracking_total_keys"), "1");
    a.close();
    for (let i = 0; i < 400 && (await info(b, "tracking_clients")) !== "0"; i++) {
      await new Promise((res) => setTimeout(res, 25));
    }
    assertEquals(await info(b, "tracking_clients"), "0");
    assertEquals(await info(b, "tracking_total_keys"), "0");
  });
});

Deno.test("tracking: the table limit evicts the oldest keys with invalidations", async () => {
  await withServer(async (_s, open) => {
    const a = await tracker(open);
    const b = await open();
    assertEquals(await b.call("CONFIG", "GET", "tracking-table-max-keys"), [
      "tracking-table-max-keys",
      "1000000",
    ]);
    await a.call("MGET", "k1", "k2", "k3");
    assertEquals(await b.call("CONFIG", "SET", "tracking-table-max-keys", "1"), "OK");
    assertEquals([await a.read(), await a.read()], [inval(["k1"]), inval(["k2"])]);
    assertEquals(await info(b, "tracking_total_keys"), "1");
    await a.call("GET", "k4");
    assertEquals(await a.read(), inval(["k3"]));
    await b.call("SET", "k4", "1");
    assertEquals(await a.read(), inval(["k4"]));
  });
});

Deno.test("tracking: redis-py RESP2 redirect to a __redis__:invalidate subscriber", async () => {
  await withServer(async (s) => {
    const script = `
import sys, redis
port = int(sys.argv[1])
sub = redis.Connection(port=port)
sub.connect()
sub.send_command('CLIENT', 'ID')
rid = sub.read_response()
sub.send_command('SUBSCRIBE', '__redis__:invalidate')
print(sub.read_response())
r = redis.Redis(port=port, single_connection_client=True)
w = redis.Redis(port=port)
print(r.execute_command('CLIENT', 'TRACKING', 'ON', 'REDIRECT', rid))
w.set('k', 'v')
print(r.get('k'))
w.set('k', 'v2')
print(sub.read_response())
r.get('k')
w.flushall()
print(sub.read_response())
print(r.execute_command('CLIENT', 'GETREDIR') == rid)
`;
    const out = await runRedisPy(script, [String(s.port)]);
    assertEquals(out.trim().split("\n"), [
      "[b'subscribe', b'__redis__:invalidate', 1]",
      "b'OK'",
      "b'v'",
      "[b'message', b'__redis__:invalidate', [b'k']]",
      "[b'message', b'__redis__:invalidate', None]",
      "True",
    ]);
  });
});
