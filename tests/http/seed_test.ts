import { assertEquals } from "@std/assert";
import { bytes, expectError, json, withServer } from "./_helpers.ts";

function postJson(body: unknown): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

Deno.test("Seed alias POST /keys, GET /keys/{key} and DELETE /keys/{key}", async () => {
  await withServer(async (h) => {
    let body = await json(await h.fetch("/keys", postJson({ key: "user:1", value: "ana" })), 200);
    assertEquals(body, {
      success: true,
      message: "Key 'user:1' set successfully",
      data: { key: "user:1" },
    });
    assertEquals(await h.db.get("user:1"), bytes("ana"));

    body = await json(await h.fetch("/keys/user:1"), 200);
    assertEquals(body, {
      success: true,
      message: "Key found",
      data: { key: "user:1", value: "ana" },
    });

    body = await json(await h.fetch("/keys/user:1", { method: "DELETE" }), 200);
    assertEquals(body.success, true);
    assertEquals(body.data, { deleted: true });
    assertEquals(await h.db.get("user:1"), undefined);

    body = await json(await h.fetch("/keys/user:1"), 404);
    assertEquals(body.success, false);
  });
});

Deno.test("Seed alias POST /keys takes ttl_ms and base64, and rejects bad bodies", async () => {
  await withServer(async (h) => {
    let res = await h.fetch(
      "/keys",
      postJson({ key: "AP8=", value: "3q0=", encoding: "base64", ttl_ms: 60000 }),
    );
    await json(res, 200);
    const entry = h.db.getEntry(new Uint8Array([0x00, 0xff]));
    assertEquals(entry?.value, new Uint8Array([0xde, 0xad]));
    assertEquals(entry !== undefined && entry.expireAtMs > Date.now(), true);

    await expectError(await h.fetch("/keys", postJson("{bad")), 400, "Invalid JSON");
    await expectError(await h.fetch("/keys", postJson({ key: "k" })), 400, "value");
    await expectError(await h.fetch("/keys", postJson({ key: 1, value: "v" })), 400, "key");
    await expectError(await h.fetch("/keys", postJson({ key: "", value: "v" })), 400, "empty");
    await expectError(
      await h.fetch("/keys", postJson({ key: "k", value: "%%", encoding: "base64" })),
      400,
      "base64",
    );
    await expectError(
      await h.fetch("/keys", postJson({ key: "k", value: "v", extra: 1 })),
      400,
      "extra",
    );
    res = await h.fetch("/keys", postJson([1, 2]));
    await expectError(res, 400, "JSON object");
    assertEquals(await h.db.get("k"), undefined);
  });
});

Deno.test("Seed alias GET /keys/search: prefix scan, or exact match as a list", async () => {
  await withServer(async (h) => {
    await h.db.write(
      ["user:1", "user:2", "user:10", "users", "admin"].map((key) => ({
        type: "put" as const,
        key,
        value: `v-${key}`,
      })),
    );
    let body = await json(await h.fetch("/keys/search?q=user:&prefix=true"), 200);
    assertEquals(body.success, true);
    assertEquals(body.message, "3 keys found matching 'user:'");
    assertEquals(body.data, {
      records: [
        { key: "user:1", value: "v-user:1" },
        { key: "user:10", value: "v-user:10" },
        { key: "user:2", value: "v-user:2" },
      ],
      truncated: false,
    });
    body = await json(await h.fetch("/keys/search?q=user:&prefix=true&limit=2"), 200);
    assertEquals((body.data as { truncated: boolean }).truncated, true);

    body = await json(await h.fetch("/keys/search?q=users"), 200);
    assertEquals(body.data, { records: [{ key: "users", value: "v-users" }], truncated: false });
    body = await json(await h.fetch("/keys/search?q=user&prefix=false"), 200);
    assertEquals(body.data, { records: [], truncated: false });

    await expectError(await h.fetch("/keys/search"), 400, "q");
    await expectError(await h.fetch("/keys/search?q=a&prefix=perhaps"), 400, "prefix");
  });
});

Deno.test("Seed alias GET /stats_all and /stats/all wrap the /v1/stats object", async () => {
  await withServer(async (h) => {
    await h.db.put("k", "v");
    for (const path of ["/stats_all", "/stats/all"]) {
      const body = await json(await h.fetch(path), 200);
      assertEquals(body.success, true);
      const stats = (body.data as { stats: Record<string, unknown> }).stats;
      assertEquals(stats.puts, 1);
      assertEquals(typeof (stats.server as Record<string, unknown>).version, "string");
    }
  });
});
