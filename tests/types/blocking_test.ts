/**
 * Blocked clients on a real server: a client that leaves while blocked loses nothing (the next
 * push stays in the list), commands pipelined behind a blocking one run after it is served,
 * waiters are served oldest first, MULTI/EXEC pushes serve waiters after EXEC, and closing the
 * server ends every wait.
 */
import { assertEquals } from "@std/assert";
import {
  closeRedis,
  command,
  connectRedis,
  RawClient,
  startTestServer,
} from "../server/_helpers.ts";

/** Polls `check` until it is true (bounded; no timing assertion). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("a client that leaves while blocked takes nothing from the list", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const raw = await RawClient.connect(t.port);
    await raw.send(command("CLIENT", "SETNAME", "blocker"));
    await raw.readUntil((s) => s.includes("+OK"));
    await raw.send(command("BLPOP", "q", "0"));
    // Wait until the server holds the BLPOP (its client is busy in it).
    await until(async () => {
      const list = String(await r.call("client", "list"));
      return /name=blocker .*cmd=blpop/.test(list);
    }, "the BLPOP to block");
    raw.close();
    await until(async () => !String(await r.call("client", "list")).includes("blocker"), "close");
    assertEquals(await r.rpush("q", "kept"), 1);
    assertEquals(await r.lrange("q", 0, -1), ["kept"]);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("pipelined commands behind a blocked one run after it is served, in order", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const raw = await RawClient.connect(t.port);
    await raw.send(command("BLPOP", "q", "0"));
    await new Promise((res) => setTimeout(res, 50));
    await raw.send(command("ECHO", "after"));
    await new Promise((res) => setTimeout(res, 50));
    await r.rpush("q", "v");
    const got = await raw.readUntil((s) => s.includes("after\r\n"));
    assertEquals(got, "*2\r\n$1\r\nq\r\n$1\r\nv\r\n$5\r\nafter\r\n");
    raw.close();
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("waiters are served oldest first; EXEC's pushes serve them after EXEC", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const waiters = await Promise.all([1, 2, 3].map(() => RawClient.connect(t.port)));
  try {
    for (const [i, w] of waiters.entries()) {
      await w.send(command("CLIENT", "SETNAME", `w${i}`));
      await w.readUntil((s) => s.includes("+OK"));
      await w.send(command("BRPOP", "q", "0"));
      await until(async () => {
        const list = String(await r.call("client", "list"));
        return new RegExp(`name=w${i} .*cmd=brpop`).test(list);
      }, `waiter ${i}`);
    }
    assertEquals(/blocked_clients:3\r\n/.test(await r.info("clients")), true);
    const res = await r.multi().lpush("q", "a", "b", "c").llen("q").exec();
    assertEquals(res!.map(([, v]) => v), [3, 3]);
    const got = await Promise.all(
      waiters.map((w) => w.readUntil((s) => s.endsWith("\r\n\r\n") || /\$1\r\n.\r\n$/.test(s))),
    );
    assertEquals(got.map((s) => s.slice(-3, -2)), ["a", "b", "c"]);
    assertEquals(await r.exists("q"), 0);
    assertEquals(/blocked_clients:0\r\n/.test(await r.info("clients")), true);
  } finally {
    for (const w of waiters) w.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("closing the server ends every wait with the timeout reply", async () => {
  const t = await startTestServer();
  const raw = await RawClient.connect(t.port);
  await raw.send(command("BZPOPMIN", "z", "0"));
  // The wait must have begun before the server closes (a fixed sleep was too short at load ~15).
  const r = await connectRedis(t.port, { protocol: 2 });
  await until(
    async () => /blocked_clients:1\b/.test(String(await r.call("info", "clients"))),
    "block",
  );
  await closeRedis(r);
  const reading = raw.readUntil((s) => s.length > 0);
  await t.close();
  assertEquals(await reading, "*-1\r\n");
  raw.close();
});

Deno.test("a push inside an EXEC that also runs an asynchronous command serves the waiter after the commit", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const w = await RawClient.connect(t.port);
  try {
    await w.send(command("CLIENT", "SETNAME", "waiter"));
    await w.readUntil((s) => s.includes("+OK"));
    await w.send(command("BLPOP", "q", "0"));
    await until(
      async () => /name=waiter .*cmd=blpop/.test(String(await r.call("client", "list"))),
      "block",
    );
    // KEYS runs asynchronously inside EXEC, after the staged push.
    const res = await r.multi().rpush("q", "v").keys("*").exec();
    assertEquals(res![0]![1], 1);
    assertEquals(
      await w.readUntil((s) => s.endsWith("$1\r\nv\r\n")),
      "*2\r\n$1\r\nq\r\n$1\r\nv\r\n",
    );
    assertEquals(await r.exists("q"), 0);
  } finally {
    w.close();
    await closeRedis(r);
    await t.close();
  }
});
