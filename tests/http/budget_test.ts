/**
 * The global in-flight body budget (issue 8.4): concurrent bodies together never hold more than
 * the budget; a request that cannot get budget waits briefly, then gets 503 with Retry-After.
 */

import { assert, assertEquals } from "@std/assert";
import { RawClient } from "./_raw.ts";
import { withServer } from "./_helpers.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";

const HEAD = "Host: x\r\n";

Deno.test("A body that cannot get budget gets 503 with Retry-After; budget comes back after", async () => {
  await withServer(async (h) => {
    const port = h.server.addr.port;
    const holder = await RawClient.connect(port);
    try {
      // 800 of the 1000 budget bytes are taken as soon as the body starts.
      await holder.send(`PUT /v1/keys/a HTTP/1.1\r\n${HEAD}Content-Length: 800\r\n\r\n`);
      await holder.send("x".repeat(100));
      for (let i = 0;; i++) {
        const text = await (await h.fetch("/metrics")).text();
        if (text.includes("\ncityhall_http_body_budget_bytes 800\n")) break;
        assert(i < 200, "the first body never took its budget");
        await new Promise((r) => setTimeout(r, 20));
      }
      const c = await RawClient.connect(port);
      try {
        await c.send(
          `PUT /v1/keys/b HTTP/1.1\r\n${HEAD}Content-Length: 500\r\n\r\n${"y".repeat(500)}`,
        );
        const res = await c.response();
        assertEquals(res?.status, 503, JSON.stringify(res));
        assertEquals(res!.headers.get("retry-after"), "1");
        assert(res!.body.includes("Server busy"), res!.body);
        assert(await c.closedWithin(5000));
      } finally {
        c.close();
      }
      // With Expect: 100-continue the client is told before it sends the body.
      const polite = await RawClient.connect(port);
      try {
        await polite.send(
          `PUT /v1/keys/c HTTP/1.1\r\n${HEAD}Content-Length: 500\r\nExpect: 100-continue\r\n\r\n`,
        );
        assertEquals((await polite.response())?.status, 503);
      } finally {
        polite.close();
      }
      await holder.send("x".repeat(700));
      assertEquals((await holder.response())?.status, 204);
    } finally {
      holder.close();
    }
    assertEquals(await h.db.get("b"), undefined);
    const ok = await h.fetch("/v1/keys/b", { method: "PUT", body: "y".repeat(500) });
    assertEquals(ok.status, 204);
    await ok.body?.cancel();
    const text = await (await h.fetch("/metrics")).text();
    assert(text.includes("\ncityhall_http_body_budget_refusals_total 2\n"), text);
    assert(text.includes("\ncityhall_http_body_budget_bytes 0\n"), text);
  }, { server: { bodyBudgetBytes: 1000 } });
});

Deno.test({
  name: "8 concurrent 60 MB batch bodies stay within a bounded server memory",
  // The server child and 60 MB of test data; a few seconds.
  async fn() {
    const [dir, cleanup] = await tempDir("cityhall-http-budget-");
    const serve = await startServe(dir, ["--sync", "none"]);
    try {
      const value = "x".repeat(15_000_000);
      const body = new TextEncoder().encode(
        JSON.stringify({ ops: [0, 1, 2, 3].map((i) => ({ op: "put", key: `k${i}`, value })) }),
      );
      const send = async () => {
        const c = await RawClient.connect(serve.httpPort!);
        try {
          await c.send(
            `POST /v1/batch HTTP/1.1\r\n${HEAD}Content-Length: ${body.length}\r\n\r\n`,
          );
          await c.send(body);
          return (await c.response(120_000))?.status;
        } finally {
          c.close();
        }
      };
      const statuses = await Promise.all(Array.from({ length: 8 }, send));
      const status = Deno.readTextFileSync(`/proc/${serve.child.pid}/status`);
      const peakBytes = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
      console.log(
        `statuses ${statuses.join(",")}; server peak RSS ${(peakBytes / 1e6).toFixed(0)} MB`,
      );
      // Each request either ran or was refused for budget; at least one ran.
      assert(statuses.every((s) => s === 200 || s === 503), statuses.join(","));
      assert(statuses.includes(200), statuses.join(","));
      // Before the budget: 1.9 GB. The budget admits one such body at a time (96 MiB).
      assert(peakBytes < 800e6, `peak RSS ${peakBytes}`);
    } finally {
      await serve.stop();
      await cleanup();
    }
  },
});
