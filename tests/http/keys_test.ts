import { assert, assertEquals } from "@std/assert";
import { bytes, encodeKeyPath, expectError, json, sleep, withServer } from "./_helpers.ts";

Deno.test("PUT, GET and DELETE /v1/keys/{key} round-trip a value", async () => {
  await withServer(async (h) => {
    let res = await h.fetch("/v1/keys/sensor.temp", { method: "PUT", body: "21.5" });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    assertEquals(await h.db.get("sensor.temp"), bytes("21.5"));

    res = await h.fetch("/v1/keys/sensor.temp");
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "application/octet-stream");
    assertEquals(res.headers.get("x-cityhall-expire-at-ms"), null);
    assertEquals(await res.text(), "21.5");

    res = await h.fetch("/v1/keys/sensor.temp", { method: "DELETE" });
    assertEquals(await json(res, 200), { deleted: true });
    res = await h.fetch("/v1/keys/sensor.temp", { method: "DELETE" });
    assertEquals(await json(res, 200), { deleted: false });

    await expectError(await h.fetch("/v1/keys/sensor.temp"), 404, "Key not found");
    assertEquals(await h.db.get("sensor.temp"), undefined);
  });
});

Deno.test("/v1/keys/{key} keeps binary keys (percent-encoded) and binary values exact", async () => {
  await withServer(async (h) => {
    const key = new Uint8Array([0x00, 0xff, 0x2f, 0x25, 0x3f, 0x23, 0x20, 0x80, 0x2e, 0x2e]);
    const value = new Uint8Array(256).map((_, i) => i);
    let res = await h.fetch("/v1/keys/" + encodeKeyPath(key), { method: "PUT", body: value });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    assertEquals(await h.db.get(key), value);

    res = await h.fetch("/v1/keys/" + encodeKeyPath(key));
    assertEquals(res.status, 200);
    assertEquals(new Uint8Array(await res.arrayBuffer()), value);
    assertEquals(res.headers.get("content-length"), "256");
  });
});

Deno.test("/v1/keys/{key} takes slashes in a key, raw or percent-encoded", async () => {
  await withServer(async (h) => {
    let res = await h.fetch("/v1/keys/a/b/c", { method: "PUT", body: "raw" });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    res = await h.fetch("/v1/keys/x%2Fy", { method: "PUT", body: "encoded" });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    assertEquals(await h.db.get("a/b/c"), bytes("raw"));
    assertEquals(await h.db.get("x/y"), bytes("encoded"));
    res = await h.fetch("/v1/keys/x/y");
    assertEquals(await res.text(), "encoded");
    // A literal plus in a path is a plus, not a space.
    res = await h.fetch("/v1/keys/a+b", { method: "PUT", body: "plus" });
    await res.body?.cancel();
    assertEquals(await h.db.get("a+b"), bytes("plus"));
  });
});

Deno.test("PUT /v1/keys/{key} stores an empty body as an empty value", async () => {
  await withServer(async (h) => {
    const res = await h.fetch("/v1/keys/empty", { method: "PUT" });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    const got = await h.fetch("/v1/keys/empty");
    assertEquals(got.status, 200);
    assertEquals(await got.text(), "");
  });
});

Deno.test("PUT /v1/keys/{key}?ttl_ms= expires the key", async () => {
  await withServer(async (h) => {
    const before = Date.now();
    let res = await h.fetch("/v1/keys/short?ttl_ms=1500", { method: "PUT", body: "v" });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    res = await h.fetch("/v1/keys/long?ttl_ms=60000", { method: "PUT", body: "v" });
    await res.body?.cancel();

    res = await h.fetch("/v1/keys/short");
    assertEquals(res.status, 200);
    const expireAtMs = Number(res.headers.get("x-cityhall-expire-at-ms"));
    assert(expireAtMs >= before + 1500 && expireAtMs <= Date.now() + 1500, `${expireAtMs}`);
    await res.body?.cancel();

    // 1.5 s leaves the reads above time to run on a loaded machine; wait until it has passed.
    await sleep(Math.max(0, expireAtMs - Date.now()) + 50);
    await expectError(await h.fetch("/v1/keys/short"), 404);
    res = await h.fetch("/v1/keys/long");
    assertEquals(await res.text(), "v");
  });
});

Deno.test("PUT /v1/keys/{key} rejects a bad ttl_ms with 400 and writes nothing", async () => {
  await withServer(async (h) => {
    for (const ttl of ["0", "-5", "1.5", "abc", "", "99999999999999999999"]) {
      const res = await h.fetch(`/v1/keys/k?ttl_ms=${encodeURIComponent(ttl)}`, {
        method: "PUT",
        body: "v",
      });
      await expectError(res, 400, "ttl_ms");
    }
    // Past the engine's largest expiry: the engine's InvalidArgumentError is a 400.
    await expectError(
      await h.fetch("/v1/keys/k?ttl_ms=9000000000000000", { method: "PUT", body: "v" }),
      400,
      "expireAtMs",
    );
    assertEquals(await h.db.get("k"), undefined);
  });
});

Deno.test("/v1/keys/{key} answers 400 for an empty key, a bad escape and a too-large key", async () => {
  await withServer(async (h) => {
    await expectError(await h.fetch("/v1/keys/"), 400, "empty");
    await expectError(await h.fetch("/v1/keys/%zz"), 400, "percent-encoding");
    await expectError(await h.fetch("/v1/keys/%4"), 400, "percent-encoding");
    const big = "k".repeat(16 * 1024 + 1);
    await expectError(
      await h.fetch("/v1/keys/" + big, { method: "PUT", body: "v" }),
      400,
      "(limit 16384 bytes)",
    );
    await expectError(await h.fetch("/v1/keys/" + big), 400, "(limit 16384 bytes)");
  });
});

Deno.test("GET /healthz answers ok", async () => {
  await withServer(async (h) => {
    const res = await fetch(h.url + "/healthz");
    assertEquals(res.status, 200);
    assertEquals(await res.text(), "ok");
  });
});

Deno.test("GET /v1/stats reports the engine's counters and server info", async () => {
  await withServer(async (h) => {
    const put = await h.fetch("/v1/keys/a", { method: "PUT", body: "12345" });
    await put.body?.cancel();
    const stats = await json(await h.fetch("/v1/stats"), 200);
    assertEquals(stats.puts, 1);
    assertEquals(stats.bytesWritten, 6);
    assert(Array.isArray(stats.tablesPerLevel));
    const server = stats.server as Record<string, unknown>;
    assertEquals(typeof server.version, "string");
    assertEquals(typeof server.uptimeMs, "number");
    assertEquals(server.connectedClients, undefined);
  });
});

Deno.test("/v1/keys/{key} takes a largest key fully percent-encoded", async () => {
  await withServer(async (h) => {
    const key = new Uint8Array(16 * 1024).fill(0xfe);
    let res = await h.fetch("/v1/keys/" + encodeKeyPath(key), { method: "PUT", body: "big key" });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    res = await h.fetch("/v1/keys/" + encodeKeyPath(key));
    assertEquals(await res.text(), "big key");
  });
});
