import { assert, assertEquals } from "@std/assert";
import { HTTP_JSON_STRING_BYTES_MAX } from "../../src/limits.ts";
import { bytes, expectError, json, withServer } from "./_helpers.ts";
import { RawClient } from "./_raw.ts";

function post(body: unknown): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

Deno.test("POST /v1/batch applies puts and deletes atomically", async () => {
  await withServer(async (h) => {
    await h.db.put("old", "x");
    const res = await h.fetch(
      "/v1/batch",
      post({
        ops: [
          { op: "put", key: "a", value: "1" },
          { op: "put", key: "AAH/", value: "3q2+7w==", encoding: "base64" },
          { op: "put", key: "t", value: "ttl", ttl_ms: 60_000 },
          { op: "delete", key: "old" },
          { op: "put", key: "a", value: "2" },
        ],
      }),
    );
    assertEquals(await json(res, 200), { ok: true, count: 5 });
    assertEquals(await h.db.get("a"), bytes("2"), "later ops on the same key win");
    assertEquals(
      await h.db.get(new Uint8Array([0x00, 0x01, 0xff])),
      new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
    );
    assertEquals(await h.db.get("old"), undefined);
    const t = h.db.getEntry("t");
    assertEquals(t !== undefined && t.expireAtMs > Date.now(), true);
  });
});

Deno.test("POST /v1/batch with one invalid op writes nothing", async () => {
  await withServer(async (h) => {
    const bad: unknown[] = [
      { op: "put", key: "k", value: 5 },
      { op: "upsert", key: "k", value: "v" },
      { op: "put", key: "k" },
      { op: "delete" },
      { op: "put", key: "k", value: "!!", encoding: "base64" },
      { op: "put", key: "k", value: "v", encoding: "hex" },
      { op: "put", key: "k", value: "v", ttl_ms: 0 },
      { op: "put", key: "k", value: "v", ttl_ms: 1.5 },
      { op: "put", key: "k", value: "v", ttl: 5 },
      { op: "put", key: "k".repeat(16 * 1024 + 1), value: "v" },
      "put k v",
      null,
    ];
    for (const op of bad) {
      const res = await h.fetch(
        "/v1/batch",
        post({ ops: [{ op: "put", key: "first", value: "1" }, op, { op: "delete", key: "pre" }] }),
      );
      await expectError(res, 400, "batch operation 1");
    }
    assertEquals(await h.db.get("first"), undefined);
    assertEquals(h.db.stats().lastSeq, 0, "nothing reached the engine");
  });
});

Deno.test("POST /v1/batch answers 400 for malformed JSON and bad shapes", async () => {
  await withServer(async (h) => {
    await expectError(await h.fetch("/v1/batch", post("{not json")), 400, "Invalid JSON");
    await expectError(await h.fetch("/v1/batch", post("")), 400, "Invalid JSON");
    await expectError(await h.fetch("/v1/batch", post([])), 400, "ops");
    await expectError(await h.fetch("/v1/batch", post({ ops: {} })), 400, "ops");
    await expectError(await h.fetch("/v1/batch", post({ ops: [], extra: 1 })), 400, "extra");
    const invalidUtf8 = { method: "POST", body: new Uint8Array([0x7b, 0xff, 0x7d]) };
    await expectError(await h.fetch("/v1/batch", invalidUtf8), 400, "UTF-8");
    const tooMany = { ops: Array.from({ length: 10_001 }, () => ({ op: "delete", key: "k" })) };
    await expectError(await h.fetch("/v1/batch", post(tooMany)), 400, "(limit 10000 operations)");
    assertEquals(h.db.stats().lastSeq, 0);
  });
});

Deno.test("POST /v1/batch with no ops succeeds with count 0", async () => {
  await withServer(async (h) => {
    assertEquals(await json(await h.fetch("/v1/batch", post({ ops: [] })), 200), {
      ok: true,
      count: 0,
    });
  });
});

Deno.test("POST /v1/batch rejected by the engine (value too large) writes nothing", async () => {
  await withServer(async (h) => {
    const big = new Uint8Array(16 * 1024 * 1024 + 1).toBase64();
    const res = await h.fetch(
      "/v1/batch",
      post({
        ops: [
          { op: "put", key: "a", value: "1" },
          { op: "put", key: "Yg==", value: big, encoding: "base64" },
        ],
      }),
    );
    await expectError(res, 400, "(limit 16777216 bytes)");
    assertEquals(await h.db.get("a"), undefined);
    assertEquals(h.db.stats().lastSeq, 0);
  });
});

Deno.test("Deep JSON on /v1/batch is refused at the nesting limit, before the rest is read", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      // Announce 50 MB, send 1 MiB of '[' and nothing more: the answer must not wait for the rest.
      await c.send("POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
      await c.send(new Uint8Array(1 << 20).fill(0x5b));
      const res = await c.response(30_000);
      assertEquals(res?.status, 400, JSON.stringify(res));
      assert(res!.body.includes("nested too deeply (limit 3 levels) at byte 3"), res!.body);
    } finally {
      c.close();
    }
    // A value that is an object is one level too deep for a batch.
    const nested = { ops: [{ op: "put", key: "a", value: { x: 1 } }] };
    await expectError(await h.fetch("/v1/batch", post(nested)), 400, "nested too deeply");
    await expectError(
      await h.fetch("/keys", post({ key: "a", value: ["x"] })),
      400,
      "nested too deeply (limit 1 levels)",
    );
    assertEquals(h.db.stats().lastSeq, 0);
  });
});

Deno.test("A batch string longer than HTTP_JSON_STRING_BYTES_MAX is refused as soon as it passes it", async () => {
  await withServer(async (h) => {
    const c = await RawClient.connect(h.server.addr.port);
    try {
      await c.send("POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 80000000\r\n\r\n");
      await c.send('{"ops":[{"op":"put","key":"k","value":"');
      await c.send(new Uint8Array(HTTP_JSON_STRING_BYTES_MAX + 1).fill(0x61));
      const res = await c.response(30_000);
      assertEquals(res?.status, 400, JSON.stringify(res));
      assert(res!.body.includes(`string too long (limit ${HTTP_JSON_STRING_BYTES_MAX} bytes)`));
    } finally {
      c.close();
    }
  });
});

Deno.test("Large batch values arrive as bytes: UTF-8, escapes and base64 are exact", async () => {
  await withServer(async (h) => {
    const long = 'é😀\n"\\'.repeat(1000);
    const b64 = new Uint8Array(3000).map((_, i) => i);
    const res = await h.fetch(
      "/v1/batch",
      post({
        ops: [
          { op: "put", key: "u", value: long },
          { op: "put", key: "Yg==", value: b64.toBase64(), encoding: "base64" },
          { op: "put", key: "s", value: "\ud800x".repeat(200) },
        ],
      }),
    );
    assertEquals((await json(res, 200)).count, 3);
    assertEquals(await h.db.get("u"), bytes(long));
    assertEquals(await h.db.get("b"), b64);
    // A lone surrogate becomes U+FFFD, as TextEncoder made it before.
    assertEquals(await h.db.get("s"), bytes("\ud800x".repeat(200)));
  });
});
