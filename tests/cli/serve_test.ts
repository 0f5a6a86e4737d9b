/**
 * `cityhall serve`: the bind security rule, port errors, graceful shutdown on SIGTERM and on
 * RESP SHUTDOWN.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { assertHas, runCli, startServe, tempDir } from "./_helpers.ts";

Deno.test("cityhall serve refuses a non-loopback --bind without a token and says how to set one", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const r = await runCli([
      "serve",
      "--data-dir",
      dir,
      "--bind",
      "0.0.0.0",
      "--port",
      "0",
      "--http-port",
      "0",
    ]);
    assertEquals(r.code, 2);
    assertHas(r.stderr, "--auth-token-file");
    assertHas(r.stderr, "CITYHALL_AUTH_TOKEN");
    assertHas(r.stderr, "--insecure-no-auth");
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve --insecure-no-auth binds 0.0.0.0 with a loud warning", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir, ["--bind", "0.0.0.0", "--insecure-no-auth"]);
    assertMatch(
      serve.log(),
      /level=warn msg="WARNING: Listening on 0\.0\.0\.0 without authentication/,
    );
    assertMatch(serve.log(), /msg="listening" resp=0\.0\.0\.0:\d+ http=0\.0\.0\.0:\d+/);
    const r = await runCli(["client", "--port", String(serve.port), "ping"]);
    assertEquals(r.stdout, "PONG\n");
    assertEquals(await serve.stop(), 0);
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve names the port and the flag when the port is taken", async () => {
  const [dir, cleanup] = await tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = String((listener.addr as Deno.NetAddr).port);
  try {
    let r = await runCli(["serve", "--data-dir", dir, "--port", taken, "--http-port", "0"]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, `port ${taken} is already in use`);
    assertHas(r.stderr, "--port");
    r = await runCli(["serve", "--data-dir", dir, "--port", "0", "--http-port", taken]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, `port ${taken} is already in use`);
    assertHas(r.stderr, "--http-port");
  } finally {
    listener.close();
    await cleanup();
  }
});

Deno.test("cityhall serve: SIGTERM shuts down gracefully and keeps every acknowledged write", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir, ["--no-http"]);
    assertEquals(serve.httpPort, undefined);
    const input = Array.from({ length: 200 }, (_, i) => `SET key${i} value${i}`).join("\n");
    const r = await runCli(["client", "--port", String(serve.port)], { stdin: input + "\n" });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await serve.stop("SIGTERM"), 0);
    assertHas(serve.log(), 'msg="shutting down" reason=SIGTERM');
    assertHas(serve.log(), 'msg="stopped" code=0');
    const db = await Database.open(dir);
    for (let i = 0; i < 200; i++) assertEquals(fromBytes((await db.get(`key${i}`))!), `value${i}`);
    await db.close();
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve: RESP SHUTDOWN stops the process with exit 0", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir);
    const r = await runCli(["client", "--port", String(serve.port)], {
      stdin: "SET a 1\nSHUTDOWN\n",
    });
    assertEquals(r.stdout, "OK\n");
    assertEquals(await serve.exited, 0);
    assertHas(serve.log(), 'reason="SHUTDOWN command"');
    // The data directory is free again.
    const db = await Database.open(dir);
    assertEquals(fromBytes((await db.get("a"))!), "1");
    await db.close();
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve: a second server on the same data directory is refused", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir);
    const r = await runCli(["serve", "--data-dir", dir, "--port", "0", "--http-port", "0"]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, "another process holds its lock");
    assert(serve.log().includes("listening"));
    assertEquals(await serve.stop(), 0);
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve: bad flag values are usage errors", async () => {
  for (
    const extra of [
      ["--sync", "sometimes"],
      ["--log-level", "loud"],
      ["--tls-cert", "/nonexistent.pem"],
      ["--memtable-mb", "0"],
      ["--row-cache-mb", "-1"],
      ["--row-cache-mb", "many"],
      ["--compaction-style", "universal"],
      ["--no-http", "--http-port", "1"],
      ["--auth-token-file", "/nonexistent-token"],
    ]
  ) {
    const r = await runCli(["serve", "--port", "0", "--http-port", "0", ...extra]);
    assertEquals(r.code, 2, `${extra.join(" ")}: ${r.stderr}`);
    assertHas(r.stderr, "(see cityhall serve --help)");
  }
});

Deno.test("cityhall serve --compaction-style leveled opens the engine with that style", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir, ["--compaction-style", "leveled"]);
    const res = await fetch(`http://127.0.0.1:${serve.httpPort}/v1/stats`);
    const stats = await res.json();
    assertEquals(stats.compactionStyle, "leveled");
    assertEquals(await serve.stop(), 0);
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve --row-cache-mb sizes the row cache, and 0 turns it off", async () => {
  for (const [extra, cached] of [[[], true], [["--row-cache-mb", "0"], false]] as const) {
    const [dir, cleanup] = await tempDir();
    try {
      const serve = await startServe(dir, [...extra]);
      // SAVE flushes the key into a table, below the memtables: the row cache's part. Its
      // first miss is remembered, the second admits it, the third read hits.
      const r = await runCli(["client", "--port", String(serve.port)], {
        stdin: "SET k v\nSAVE\nGET k\nGET k\nGET k\n",
      });
      assertEquals(r.stdout, `OK\nOK\n${'"v"\n'.repeat(3)}`, r.stderr);
      const stats = await (await fetch(`http://127.0.0.1:${serve.httpPort}/v1/stats`)).json();
      const metrics = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
      const hits = Number(/^cityhall_row_cache_hits_total (\d+)$/m.exec(metrics)?.[1]);
      assertEquals(hits, stats.rowCacheHits);
      if (cached) assert(stats.rowCacheHits >= 1, JSON.stringify(stats));
      else assertEquals(stats.rowCacheHits, 0);
      assert(stats.rowCacheMisses >= 1, JSON.stringify(stats));
      assertEquals(await serve.stop(), 0);
    } finally {
      await cleanup();
    }
  }
});
