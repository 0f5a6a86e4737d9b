/**
 * Request framing the HTTP front refuses (issue 8.7): short, oddly chunked and oversized bodies
 * get 400/411/413 and a close (never a 500), HTTP/2 prefaces get 505 and a close, smuggling
 * shapes get 400.
 */

import { assert, assertEquals } from "@std/assert";
import { exchange, RawClient } from "./_raw.ts";
import { BodyBudget } from "../../src/http/_budget.ts";
import { toFetchRequest } from "../../src/http/_h1_body.ts";
import { serveH1 } from "../../src/http/_h1_server.ts";
import { withServer } from "./_helpers.ts";

const HEAD = "Host: x\r\n";

Deno.test("A body shorter than its Content-Length gets 400, not 500, and a close", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      await c.send(
        `PUT /v1/keys/k HTTP/1.1\r\n${HEAD}Content-Length: 100\r\n\r\n` + "x".repeat(40),
      );
      await c.closeWrite();
      const res = await c.response();
      assertEquals(res?.status, 400, JSON.stringify(res));
      assert(res!.body.includes("Request body incomplete: connection ended after 40 bytes"));
      assert(await c.closedWithin(5000));
    } finally {
      c.close();
    }
    assertEquals(await h.db.get("k"), undefined);
  });
});

Deno.test("Chunked bodies with bad sizes or framing get 400 and a close", async () => {
  await withServer(async (h) => {
    const bad = [
      "zz\r\nabc\r\n0\r\n\r\n", // not hex
      "-5\r\nabc\r\n0\r\n\r\n", // negative
      "3\r\nabcdef\r\n0\r\n\r\n", // data longer than the size
      "3\nabc\r\n0\r\n\r\n", // bare LF
      "123456789\r\nabc\r\n0\r\n\r\n", // more than 8 hex digits
      "3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",
    ];
    for (const body of bad) {
      const c = await RawClient.connect(h.server.addr.port);
      try {
        await c.send(`PUT /v1/keys/k HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n${body}`);
        const res = await c.response();
        assertEquals(res?.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res)}`);
        assert(res!.body.includes("Invalid chunked body"), res!.body);
        assertEquals(res!.headers.get("connection"), "close");
        assert(await c.closedWithin(5000), JSON.stringify(body));
      } finally {
        c.close();
      }
    }
    assertEquals(await h.db.get("k"), undefined);
    // A correct chunked body with extensions and a trailer works.
    const res = await exchange(
      h.server.addr.port,
      `PUT /v1/keys/k HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n` +
        "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n",
    );
    assertEquals(res?.status, 204);
    assertEquals(new TextDecoder().decode(await h.db.get("k")), "abcde");
  });
});

Deno.test("Length headers: over the limit 413, missing 411, garbage or conflicting 400", async () => {
  await withServer(async (h) => {
    const port = h.server.addr.port;
    const cases: [string, number, string][] = [
      ["Content-Length: 99999999999999\r\n", 413, "Request body too large"],
      ["Content-Length: -1\r\n", 400, "invalid Content-Length"],
      ["Content-Length: 1e3\r\n", 400, "invalid Content-Length"],
      ["Content-Length: 5\r\nContent-Length: 6\r\n", 400, "invalid Content-Length"],
      ["Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400, "both Content-Length"],
      ["Transfer-Encoding: gzip, chunked\r\n", 501, "Transfer-Encoding not supported"],
      ["", 411, "Length required"],
      ["Expect: 200-ok\r\nContent-Length: 1\r\n", 417, "Expectation failed"],
    ];
    for (const [headers, status, fragment] of cases) {
      const res = await exchange(port, `PUT /v1/keys/k HTTP/1.1\r\n${HEAD}${headers}\r\nabc`);
      assertEquals(res?.status, status, `${headers}: ${JSON.stringify(res)}`);
      assert(res!.body.includes(fragment), `${headers}: ${res!.body}`);
    }
    assertEquals(await h.db.get("k"), undefined);
  }, { bodySizeBytesMax: 1000 });
});

Deno.test("Malformed heads get 400/414/431 and a close", async () => {
  await withServer(async (h) => {
    const port = h.server.addr.port;
    const cases: [string, number][] = [
      ["GET /healthz\r\n\r\n", 400], // no version
      ["GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400], // double space
      ["GET /healthz HTTP/1.1\r\n\r\n", 400], // no Host
      ["GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400],
      ["GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400],
      ["GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400],
      ["GET /healthz HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400], // bare LF
      ["GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400],
      ["GET /h\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n", 400],
      [`GET /${"a".repeat(70_000)} HTTP/1.1\r\n\r\n`, 414],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\n${"X-A: b\r\n".repeat(101)}\r\n`, 431],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX: ${"b".repeat(70_000)}\r\n\r\n`, 431],
    ];
    for (const [request, status] of cases) {
      const c = await RawClient.connect(port);
      try {
        await c.send(request);
        const res = await c.response();
        assertEquals(res?.status, status, `${JSON.stringify(request.slice(0, 60))}`);
        assertEquals(res!.headers.get("connection"), "close");
        assert(await c.closedWithin(5000));
      } finally {
        c.close();
      }
    }
  });
});

Deno.test("An HTTP/2 prior-knowledge preface gets 505 and the connection is closed", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      // The preface, then a SETTINGS frame, as an h2c client sends them.
      await c.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      await c.send(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      const res = await c.response();
      assertEquals(res?.status, 505, JSON.stringify(res));
      assert(res!.body.includes("HTTP version not supported: HTTP/2.0"), res!.body);
      assert(await c.closedWithin(5000), "the connection stays open");
    } finally {
      c.close();
    }
  });
});

Deno.test("Pipelined requests are answered in order; 100-continue is honoured", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      await c.send(
        `PUT /v1/keys/a HTTP/1.1\r\n${HEAD}Content-Length: 1\r\n\r\n1` +
          `GET /v1/keys/a HTTP/1.1\r\n${HEAD}\r\n` +
          `\r\nGET /v1/keys/b HTTP/1.1\r\n${HEAD}\r\n`,
      );
      assertEquals((await c.response())?.status, 204);
      const got = await c.response();
      assertEquals([got?.status, got?.body], [200, "1"]);
      assertEquals((await c.response())?.status, 404);
      await c.send(
        `PUT /v1/keys/c HTTP/1.1\r\n${HEAD}Content-Length: 2\r\nExpect: 100-continue\r\n\r\n`,
      );
      assertEquals((await c.response())?.status, 100);
      await c.send("ok");
      assertEquals((await c.response())?.status, 204);
      assertEquals(new TextDecoder().decode(await h.db.get("c")), "ok");
      // HTTP/1.0 keeps the connection only when asked to, and says so.
      await c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      const kept = await c.response();
      assertEquals([kept?.status, kept?.headers.get("connection")], [200, "keep-alive"]);
      // HTTP/1.0 without keep-alive closes after its response.
      await c.send("GET /healthz HTTP/1.0\r\n\r\n");
      assertEquals((await c.response())?.status, 200);
      assert(await c.closedWithin(5000));
    } finally {
      c.close();
    }
  });
});

Deno.test("toFetchRequest() gives web-API handlers a Request whose body streams from the front", async () => {
  const seen: { url: string; method: string; type: string | null; body: string }[] = [];
  const budget = new BodyBudget(1 << 20);
  const server = serveH1({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: 10_000,
    bodyTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    writeTimeoutMs: 10_000,
    connectionsMax: 10,
    budget,
    logger: () => {},
    handler: async (req) => {
      const r = toFetchRequest(req, "http://localhost");
      seen.push({
        url: r.url,
        method: r.method,
        type: r.headers.get("content-type"),
        body: await r.text(),
      });
      assertEquals(budget.inUse, 10, "the body was paid for");
      return new Response("done", { status: 200 });
    },
    onDone: () => {},
  });
  try {
    const res = await exchange(
      server.addr.port,
      "POST /v1/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" +
        'Content-Length: 10\r\nConnection: close\r\n\r\n{"ops":[]}',
    );
    assertEquals([res?.status, res?.body], [200, "done"]);
  } finally {
    await server.shutdown();
  }
  assertEquals(seen, [{
    url: "http://localhost/v1/x?y=1",
    method: "POST",
    type: "application/json",
    body: '{"ops":[]}',
  }]);
  assertEquals(budget.inUse, 0);
});
