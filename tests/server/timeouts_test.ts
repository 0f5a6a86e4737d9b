/**
 * Slow and idle clients (issue 8.6): deadlines that are on by default, an auth deadline, a
 * request deadline a trickle cannot reset, an idle timeout a trickle cannot reset either, a
 * separate cap for unauthenticated clients so squatters cannot lock real clients out, and the
 * memory one idle connection costs a `cityhall serve` child.
 */
import { assert, assertEquals } from "@std/assert";
import { rssBytes } from "../_helpers/fuzz.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { closeRedis, connectRedis, RawClient, sleep, startTestServer } from "./_helpers.ts";

const encoder = new TextEncoder();
const KiB = 1024;
/** Stated bound on the RSS one idle connection costs (the issue measured ~145 KB). */
const IDLE_CONNECTION_BYTES_MAX = 24 * KiB;

/** Resolves true once the server closes `conn`, false when `ms` pass first. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(4096);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, ms);
  try {
    while ((await conn.read(buf)) !== null) { /* ignore replies */ }
  } catch {
    // Reset by the server, or closed by the timer.
  } finally {
    clearTimeout(timer);
  }
  if (!timedOut) {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return !timedOut;
}

async function stat(port: number, token: string | undefined, field: string): Promise<number> {
  const r = await connectRedis(port, { protocol: 2, ...(token ? { password: token } : {}) });
  try {
    const m = new RegExp(`^${field}:(\\d+)`, "m").exec(await r.info("stats"));
    if (m === null) throw new Error(`no ${field}`);
    return Number(m[1]);
  } finally {
    await closeRedis(r);
  }
}

Deno.test("deadlines are on by default and CONFIG GET shows them", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await r.config("GET", "timeout"), ["timeout", "300"]);
    assertEquals(await r.config("GET", "cityhall-*-timeout"), [
      "cityhall-auth-timeout",
      "10",
      "cityhall-request-timeout",
      "60",
      "cityhall-output-drain-timeout",
      "60",
    ]);
    assertEquals(await r.config("GET", "cityhall-maxclients-unauthenticated"), [
      "cityhall-maxclients-unauthenticated",
      "1000",
    ]);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("auth deadline: a client that does not authenticate in time is closed", async () => {
  const token = "deadline-token-123";
  const t = await startTestServer({ authToken: token, config: { authTimeoutS: 1 } });
  try {
    const squatter = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    const real = await connectRedis(t.port, { protocol: 2, password: token });
    assert(await closedWithin(squatter, 10_000), "the unauthenticated client was closed");
    await sleep(1500);
    assertEquals(await real.ping(), "PONG");
    await closeRedis(real);
    assertEquals(await stat(t.port, token, "cityhall_auth_timeouts"), 1);
  } finally {
    await t.close();
  }
});

/** Sends `text` one byte every `everyMs` until the connection fails or `ms` pass. */
async function trickle(conn: Deno.Conn, text: string, everyMs: number): Promise<void> {
  const bytes = encoder.encode(text);
  try {
    for (let i = 0; i < bytes.length; i++) {
      await conn.write(bytes.subarray(i, i + 1));
      await sleep(everyMs);
    }
  } catch {
    // Closed by the server.
  }
}

Deno.test("request deadline: a trickled command cannot keep the connection open", async () => {
  const t = await startTestServer({ config: { requestTimeoutS: 1 }, idleTimeoutS: 0 });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    // 1 byte every 200 ms: ~40 s for the whole command, far past the 1 s deadline.
    const sending = trickle(
      conn,
      `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n${"v".repeat(100)}\r\n`,
      200,
    );
    assert(await closedWithin(conn, 10_000), "the trickling client was closed");
    await sending;
    assertEquals(await stat(t.port, undefined, "cityhall_request_timeouts"), 1);
    // Complete commands in between do not count: each new command gets a new deadline.
    const c = await RawClient.connect(t.port);
    for (let i = 0; i < 4; i++) {
      await c.send("PING\r\n");
      assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "+PONG\r\n");
      await sleep(400);
    }
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("idle timeout: bytes that never make a command do not reset it", async () => {
  const t = await startTestServer({ config: { requestTimeoutS: 0 }, idleTimeoutS: 1 });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    const sending = trickle(conn, "P".repeat(200), 200);
    assert(await closedWithin(conn, 10_000), "the trickling client was closed");
    await sending;
    assertEquals(await stat(t.port, undefined, "cityhall_idle_timeouts"), 1);
  } finally {
    await t.close();
  }
});

Deno.test("idle timeout: a client that connects after the last one left is checked too", async () => {
  // The deadline check runs only while clients are connected: it ends with the last one.
  const t = await startTestServer({ config: { requestTimeoutS: 0 }, idleTimeoutS: 1 });
  try {
    for (let i = 1; i <= 2; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      assert(await closedWithin(conn, 10_000), `client ${i} was closed`);
      const deadline = Date.now() + 10_000;
      while (t.server.connectedClients > 0 && Date.now() < deadline) await sleep(50);
      assertEquals(t.server.connectedClients, 0);
    }
    assertEquals(await stat(t.port, undefined, "cityhall_idle_timeouts"), 2);
  } finally {
    await t.close();
  }
});

Deno.test("squatters cannot lock real clients out: unauthenticated clients are evicted first", async () => {
  const token = "squat-token-12345";
  const t = await startTestServer({
    authToken: token,
    maxClients: 8,
    config: { maxUnauthenticatedClients: 5, authTimeoutS: 0 },
  });
  const squatters: Deno.Conn[] = [];
  const real: Awaited<ReturnType<typeof connectRedis>>[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      squatters.push(await Deno.connect({ hostname: "127.0.0.1", port: t.port }));
    }
    // Real clients get in at the unauthenticated cap and at maxclients alike.
    for (let i = 0; i < 8; i++) {
      real.push(await connectRedis(t.port, { protocol: 2, password: token }));
    }
    for (const r of real) assertEquals(await r.ping(), "PONG");
    // Every squatter was closed to make room.
    for (const s of squatters) assert(await closedWithin(s, 5000), "squatter evicted");
    assert(t.server.metrics.unauthenticatedEvictions >= 5);
    // With only authenticated clients at maxclients, a new one is refused as before.
    const extra = await RawClient.connect(t.port);
    assertEquals(
      await extra.readUntil((s) => s.endsWith("\r\n")),
      "-ERR max number of clients reached\r\n",
    );
    extra.close();
  } finally {
    for (const r of real) await closeRedis(r);
    await t.close();
  }
});

/** Opens `n` idle connections (half of them ran one PING) and returns them. */
async function openIdle(port: number, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(c);
    // Half of them ran a command once: their reply buffers count too.
    if (i % 2 === 0) await c.write(encoder.encode("PING\r\n"));
  }
  const buf = new Uint8Array(16);
  for (let i = 0; i < conns.length; i += 2) await conns[i]!.read(buf);
  return conns;
}

Deno.test("2,000 idle connections cost a serve child little memory each", async () => {
  const [dir, cleanup] = await tempDir("cityhall-idle-mem-");
  const serve = await startServe(dir, ["--no-http"]);
  let conns: Deno.Conn[] = [];
  const MiB = 1024 * KiB;
  const mib = (b: number) => (b / MiB).toFixed(1);
  try {
    const pid = serve.child.pid;
    // Warm up: connections that run a command, so lazily built code is not counted.
    for (const c of await openIdle(serve.port, 20)) c.close();
    await sleep(500);
    const before = rssBytes(pid);
    conns = await openIdle(serve.port, 2000);
    await sleep(1000);
    const first = rssBytes(pid);
    const perConnection = (first - before) / conns.length;
    for (const c of conns) c.close();
    conns = [];
    // More waves, reported: the JS heap after a forced GC is flat across waves (measured
    // in-process), but without a forced GC the child's RSS keeps garbage and allocator pages
    // for a while, so only the per-connection cost is asserted.
    const peaks = [first];
    for (let wave = 1; wave < 3; wave++) {
      await sleep(500);
      conns = await openIdle(serve.port, 2000);
      peaks.push(rssBytes(pid));
      for (const c of conns) c.close();
      conns = [];
    }
    await sleep(1000);
    const after = rssBytes(pid);
    console.log(
      `RSS before ${mib(before)} MiB; 2,000 idle connections ${mib(first)} MiB ` +
        `(${(perConnection / KiB).toFixed(1)} KiB each); peaks of 3 waves ` +
        `${peaks.map(mib).join(", ")} MiB; after ${mib(after)} MiB`,
    );
    assert(perConnection < IDLE_CONNECTION_BYTES_MAX, `${perConnection} bytes per connection`);
    assertEquals(serve.child.pid, pid);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await serve.stop();
    await cleanup();
  }
});
