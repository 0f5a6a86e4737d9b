/**
 * Slow and idle HTTP clients (issue 8.6): heads and bodies have absolute deadlines a trickle
 * cannot extend, idle keep-alive connections are closed, connections are capped, clients that
 * do not read are dropped, and everything they held is given back.
 */

import { assert, assertEquals } from "@std/assert";
import { RawClient } from "./_raw.ts";
import { sleep, withServer } from "./_helpers.ts";
import { runCli } from "../cli/_helpers.ts";

/** Sends `bytes` one byte every `everyMs` until the server closes or `maxMs` passed. */
async function trickle(c: RawClient, bytes: string, everyMs: number, maxMs: number) {
  const started = Date.now();
  for (let i = 0; Date.now() - started < maxMs; i = (i + 1) % bytes.length) {
    if (!(await c.send(bytes[i]!))) return;
    await sleep(everyMs);
  }
}

async function metric(h: { fetch(path: string): Promise<Response> }, name: string) {
  const text = await (await h.fetch("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

Deno.test("A head trickled byte by byte (slowloris) gets 408 at the header deadline and is closed", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
      // Trickling faster than the deadline must not extend it.
      const sending = trickle(c, "X-Slow: abcdefgh\r\n", 50, 20_000);
      const res = await c.response(20_000);
      assertEquals(res?.status, 408, JSON.stringify(res));
      assert(res!.body.includes("Request head timeout"), res!.body);
      assert(await c.closedWithin(10_000));
      await sending;
    } finally {
      c.close();
    }
  }, { server: { headerTimeoutMs: 300 } });
});

Deno.test("A connection that never sends a byte is closed at the header deadline", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      assert(await c.closedWithin(20_000), "still open");
    } finally {
      c.close();
    }
    assertEquals(await metric(h, 'cityhall_http_timeouts_total{phase="head"}'), 1);
  }, { server: { headerTimeoutMs: 300 } });
});

Deno.test("A body trickled byte by byte gets 408 at the body deadline and writes nothing", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      await c.send("PUT /v1/keys/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
      const sending = trickle(c, "x", 50, 20_000);
      const res = await c.response(20_000);
      assertEquals(res?.status, 408, JSON.stringify(res));
      assert(res!.body.includes("Request body timeout"), res!.body);
      assert(await c.closedWithin(10_000));
      await sending;
    } finally {
      c.close();
    }
    assertEquals(await h.db.get("slow"), undefined);
    // The budget the slow body took is back.
    assertEquals(await metric(h, "cityhall_http_body_budget_bytes"), 0);
  }, { server: { bodyTimeoutMs: 400, headerTimeoutMs: 60_000 } });
});

Deno.test("An idle keep-alive connection is closed at the idle deadline, after its answer", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      assertEquals((await c.response())?.status, 200);
      assert(await c.closedWithin(20_000), "idle connection still open");
    } finally {
      c.close();
    }
  }, { server: { idleTimeoutMs: 300 } });
});

Deno.test("Past connectionsMax a new connection gets 503 with Retry-After; a freed slot serves again", async () => {
  await withServer(async (h) => {
    const port = h.server.addr.port;
    const held = [await RawClient.connect(port), await RawClient.connect(port)];
    try {
      // Both are accepted (they answer), so the table is full.
      for (const c of held) {
        await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals((await c.response())?.status, 200);
      }
      const extra = await RawClient.connect(port);
      try {
        const res = await extra.response();
        assertEquals(res?.status, 503, JSON.stringify(res));
        assertEquals(res!.headers.get("retry-after"), "1");
        assert(res!.body.includes("2 HTTP connections open"), res!.body);
        assert(await extra.closedWithin(10_000));
      } finally {
        extra.close();
      }
      held.pop()!.close();
      // The server notices the close and frees the slot.
      for (let i = 0;; i++) {
        const again = await RawClient.connect(port);
        try {
          await again.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
          const res = await again.response();
          if (res?.status === 200) break;
          assert(i < 100, `still refused: ${JSON.stringify(res)}`);
        } finally {
          again.close();
        }
        await sleep(50);
      }
    } finally {
      for (const c of held) c.close();
    }
  }, { server: { connectionsMax: 2 } });
});

Deno.test("A client that pipelines requests and never reads is closed at the write deadline", async () => {
  const value = new Uint8Array(1 << 20).fill(0x61);
  await withServer(async (h) => {
    await h.db.put("big", value);
    const c = await RawClient.connect(h.server.addr.port);
    try {
      // 64 × 1 MiB responses: far more than the socket buffers hold.
      const requests = "GET /v1/keys/big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64);
      void c.send(requests);
      for (let i = 0;; i++) {
        if ((await metric(h, 'cityhall_http_timeouts_total{phase="write"}')) === 1) break;
        assert(i < 400, "the non-reading client was never closed");
        await sleep(50);
      }
      // Only the connection asking for /metrics is left.
      assertEquals(await metric(h, "cityhall_http_connections"), 1);
    } finally {
      c.close();
    }
  }, { server: { writeTimeoutMs: 300 } });
});

Deno.test("Shutdown closes the connections that wait for a client", async () => {
  await withServer(async (h) => {
    const port = h.server.addr.port;
    const idle = await RawClient.connect(port);
    const slowHead = await RawClient.connect(port);
    try {
      await slowHead.send("GET /healthz HTTP/1.1\r\n");
      await idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      assertEquals((await idle.response())?.status, 200);
      await h.server.shutdown();
      assert(await idle.closedWithin(5000));
      assert(await slowHead.closedWithin(5000));
    } finally {
      idle.close();
      slowHead.close();
    }
  });
});

Deno.test("cityhall serve checks its --http-… deadline and connection flags", async () => {
  for (
    const args of [
      ["--http-header-timeout-s", "0"],
      ["--http-body-timeout-s", "x"],
      ["--http-idle-timeout-s", "86401"],
      ["--http-max-connections", "0"],
    ]
  ) {
    const r = await runCli(["serve", "--data-dir", "/nonexistent/cityhall", ...args]);
    assertEquals(r.code, 2, `${args}: ${r.stderr}`);
    assert(r.stderr.includes(`invalid ${args[0]}`), r.stderr);
  }
  const help = await runCli(["serve", "--help"]);
  assert(help.stdout.includes("--http-header-timeout-s N"), help.stdout);
});
