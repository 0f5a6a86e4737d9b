import { assert, assertEquals } from "@std/assert";
import { HTTP_URL_LENGTH_MAX, HTTP_VALUE_BODY_BYTES_MAX } from "../../src/limits.ts";
import { expectError, json, withServer } from "./_helpers.ts";
import { formatLogLine, type LogFields, parseLogfmt } from "../../src/util/log.ts";

Deno.test("PUT over HTTP_VALUE_BODY_BYTES_MAX is refused with 413 by Content-Length", async () => {
  await withServer(async (h) => {
    const body = new Uint8Array(HTTP_VALUE_BODY_BYTES_MAX + 1);
    let res: Response;
    try {
      res = await h.fetch("/v1/keys/big", { method: "PUT", body });
    } catch (err) {
      // The server may close the connection before the client finished sending.
      throw new Error(`Request failed instead of 413: ${err}`);
    }
    await expectError(res, 413, `limit ${HTTP_VALUE_BODY_BYTES_MAX} bytes`);
    assertEquals(await h.db.get("big"), undefined);
    // The largest value is accepted.
    res = await h.fetch("/v1/keys/big", { method: "PUT", body: body.subarray(1) });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    assertEquals((await h.db.get("big"))?.length, HTTP_VALUE_BODY_BYTES_MAX);
  }, { db: { syncMode: "none" } });
});

function chunked(chunks: number, chunkBytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === chunks) controller.close();
      else {
        controller.enqueue(new Uint8Array(chunkBytes).fill(0x78));
        sent++;
      }
    },
  });
}

Deno.test("Bodies without Content-Length are counted while streamed: 413 past the limit", async () => {
  await withServer(async (h) => {
    // 10 × 100 bytes = 1000 > 512, sent chunked.
    let res = await h.fetch("/v1/keys/k", { method: "PUT", body: chunked(10, 100) });
    await expectError(res, 413, "bodySizeBytesMax");
    res = await h.fetch("/v1/batch", { method: "POST", body: chunked(10, 100) });
    await expectError(res, 413, "bodySizeBytesMax");
    res = await h.fetch("/keys", { method: "POST", body: chunked(10, 100) });
    await expectError(res, 413, "bodySizeBytesMax");
    assertEquals(await h.db.get("k"), undefined);
    // Under the limit, streamed, works.
    res = await h.fetch("/v1/keys/k", { method: "PUT", body: chunked(5, 100) });
    assertEquals(res.status, 204);
    await res.body?.cancel();
    assertEquals((await h.db.get("k"))?.length, 500);
    // Content-Length over the limit.
    res = await h.fetch("/v1/batch", { method: "POST", body: "x".repeat(513) });
    await expectError(res, 413, "513 bytes");
  }, { bodySizeBytesMax: 512 });
});

Deno.test("Unknown routes answer 404 and wrong methods 405 with Allow", async () => {
  await withServer(async (h) => {
    await expectError(await h.fetch("/nope"), 404, "Not found");
    await expectError(await h.fetch("/index.html"), 404); // "/" is the web console
    await expectError(await h.fetch("/v1"), 404);
    await expectError(await h.fetch("/V1/KEYS"), 404);
    const cases: [string, string, string][] = [
      ["/v1/keys/k", "POST", "GET, PUT, DELETE"],
      ["/v1/keys/k", "PATCH", "GET, PUT, DELETE"],
      ["/v1/keys", "PUT", "GET"],
      ["/v1/batch", "GET", "POST"],
      ["/v1/stats", "POST", "GET"],
      ["/metrics", "DELETE", "GET"],
      ["/healthz", "POST", "GET, HEAD"],
      ["/keys", "GET", "POST"],
      ["/keys/k", "PUT", "GET, DELETE"],
    ];
    for (const [path, method, allow] of cases) {
      const res = await h.fetch(path, { method });
      assertEquals(res.headers.get("allow"), allow, `${method} ${path}`);
      await expectError(res, 405, "Method not allowed");
    }
  });
});

Deno.test("With a token, requests without it or with a wrong one get 401; /healthz stays open", async () => {
  await withServer(async (h) => {
    for (const path of ["/v1/keys/k", "/v1/keys", "/v1/stats", "/metrics", "/nope", "/keys/k"]) {
      let res = await fetch(h.url + path);
      assertEquals(res.headers.get("www-authenticate"), 'Bearer realm="cityhall"');
      await expectError(res, 401, "missing");
      res = await fetch(h.url + path, { headers: { authorization: "Bearer wrong-token" } });
      await expectError(res, 401, "invalid token");
      res = await fetch(h.url + path, { headers: { authorization: "Basic czNjcmV0LXQwa2Vu" } });
      await expectError(res, 401, "invalid token");
      res = await fetch(h.url + path, { headers: { authorization: "Bearer s3cret-t0ke" } });
      await expectError(res, 401, "invalid token");
    }
    // A write without the token changes nothing.
    const res = await fetch(h.url + "/v1/keys/k", { method: "PUT", body: "v" });
    await expectError(res, 401);
    assertEquals(await h.db.get("k"), undefined);

    const health = await fetch(h.url + "/healthz");
    assertEquals(await health.text(), "ok");

    // The right token, any case of "Bearer".
    const ok = await fetch(h.url + "/v1/keys/k", {
      method: "PUT",
      body: "v",
      headers: { authorization: "bearer s3cret-t0ken" },
    });
    assertEquals(ok.status, 204);
    await ok.body?.cancel();
    const got = await h.fetch("/v1/keys/k");
    assertEquals(await got.text(), "v");
  }, { authToken: "s3cret-t0ken" });
});

Deno.test("A closed database answers 503", async () => {
  await withServer(async (h) => {
    await h.db.close();
    await expectError(await h.fetch("/v1/keys/k"), 503, "closed");
    await expectError(await h.fetch("/v1/keys/k", { method: "PUT", body: "v" }), 503, "closed");
  });
});

async function rawRequest(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let out = "";
    const buf = new Uint8Array(65536);
    const decoder = new TextDecoder();
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += decoder.decode(buf.subarray(0, n));
    }
    return out;
  } finally {
    conn.close();
  }
}

Deno.test("A URL over HTTP_URL_LENGTH_MAX answers 414", async () => {
  await withServer(async (h) => {
    const path = "/v1/keys/" + "%41".repeat(Math.ceil(HTTP_URL_LENGTH_MAX / 3));
    const out = await rawRequest(
      h.server.addr.port,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert(out.startsWith("HTTP/1.1 414"), out.slice(0, 200));
    assert(out.includes(`(limit ${HTTP_URL_LENGTH_MAX})`), out.slice(0, 500));
  });
});

Deno.test("Paths are not normalised: a raw '..' segment stays part of the key", async () => {
  await withServer(async (h) => {
    const out = await rawRequest(
      h.server.addr.port,
      "PUT /v1/keys/a/../b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv",
    );
    assert(out.startsWith("HTTP/1.1 204"), out.slice(0, 200));
    assertEquals(await h.db.get("a/../b"), new TextEncoder().encode("v"));
  });
});

Deno.test("startHttpServer() refuses an empty token", async () => {
  const { startHttpServer } = await import("../../src/http/mod.ts");
  const { InvalidArgumentError } = await import("../../src/mod.ts");
  let error: unknown;
  try {
    // deno-lint-ignore no-explicit-any
    await startHttpServer(undefined as any, {
      hostname: "127.0.0.1",
      port: 0,
      authToken: "",
      logger: () => {},
    });
  } catch (err) {
    error = err;
  }
  assert(error instanceof InvalidArgumentError);
});

Deno.test("Error bodies of the seed routes carry the seed's envelope", async () => {
  await withServer(async (h) => {
    const body = await json(await h.fetch("/keys/missing"), 404);
    assertEquals(body.success, false);
    assertEquals(body.message, "Key 'missing' not found");
    assertEquals(body.error, "Key 'missing' not found");
  });
});

Deno.test("Each request logs one debug line; server errors log at warn", async () => {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  await withServer(async (h) => {
    lines.length = 0;
    const ok = await h.fetch("/v1/keys/k", { method: "PUT", body: "v" });
    await ok.body?.cancel();
    await expectError(await h.fetch("/v1/keys/missing"), 404);
    await h.db.close();
    await expectError(await h.fetch("/v1/keys/k"), 503);
  }, {
    logger: (level, message, fields = {}) => {
      if (message.startsWith("http request")) lines.push({ level, message, fields });
    },
  });
  assertEquals(lines.map((l) => [l.level, l.fields.status]), [
    ["debug", 204],
    ["debug", 404],
    ["warn", 503],
  ]);
  assertEquals(lines[0]!.fields.path, "/v1/keys/k");
  assertEquals(lines[0]!.fields.method, "PUT");
  assertEquals(lines[1]!.fields.error, "Key not found");
  // The access log line: method, path, status, response bytes, duration and remote address.
  const line = formatLogLine("debug", lines[1]!.message, lines[1]!.fields as LogFields);
  const parsed = parseLogfmt(line)!;
  assertEquals(parsed.msg, "http request");
  assertEquals(parsed.method, "GET");
  assertEquals(parsed.path, "/v1/keys/missing");
  assertEquals(parsed.status, "404");
  assertEquals(parsed.bytes, String('{"error":"Key not found"}\n'.length));
  assert(/^[0-9.]+$/.test(parsed.ms!), line);
  assert(/^127\.0\.0\.1:[0-9]+$/.test(parsed.remote!), line);
  assertEquals(lines[0]!.fields.bytes_in, 1);
});

Deno.test("Requests refused before routing are logged too, with the path cut", async () => {
  const lines: Record<string, unknown>[] = [];
  await withServer(async (h) => {
    const out = await rawRequest(h.server.addr.port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert(out.startsWith("HTTP/1.1 505"), out);
    await expectError(await h.fetch("/v1/keys/" + "a".repeat(300)), 404);
  }, {
    logger: (_level, message, fields = {}) => {
      if (message === "http request") lines.push(fields);
    },
  });
  assertEquals(lines[0]!.status, 505);
  assertEquals(lines[1]!.path, "/v1/keys/" + "a".repeat(191) + "…");
});
