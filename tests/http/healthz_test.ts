/**
 * `/healthz` (issue 7.6): 200 `ok` while healthy, 503 when the engine has failed (a failed
 * fsync makes it refuse writes) or a health provider reports a problem (a refused replica),
 * and the same status to HEAD, without a body and without a token.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { silentLogger } from "../../src/util/log.ts";

async function serve(db: Database, health?: () => string[]) {
  return await startHttpServer(db, {
    hostname: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    authToken: "t0ken",
    ...(health !== undefined ? { health } : {}),
  });
}

Deno.test("GET and HEAD /healthz answer 200 while healthy, without a token", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs });
  const server = await serve(db);
  try {
    const get = await fetch(server.url + "/healthz");
    assertEquals(get.status, 200);
    assertEquals(await get.text(), "ok");
    const head = await fetch(server.url + "/healthz", { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(await head.text(), "");
  } finally {
    await server.shutdown();
    await db.close();
  }
});

Deno.test("/healthz answers 503 once the engine refuses writes after a failed fsync", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs });
  const server = await serve(db);
  try {
    await db.put("a", "1");
    fs.failAfter({ sync: 1 }, { failAll: true });
    let failed = false;
    try {
      await db.put("b", "2");
    } catch {
      failed = true;
    }
    assert(failed, "the write after a failed fsync was acknowledged");
    const get = await fetch(server.url + "/healthz");
    assertEquals(get.status, 503);
    assertMatch(await get.text(), /^unhealthy: engine refuses writes after a fatal error: /);
    const head = await fetch(server.url + "/healthz", { method: "HEAD" });
    assertEquals(head.status, 503);
    assertEquals(await head.text(), "");
  } finally {
    await server.shutdown();
    await db.close().catch(() => {});
  }
});

Deno.test("/healthz reports the health provider's problems with 503", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs });
  let problems: string[] = [];
  const server = await serve(db, () => problems);
  try {
    assertEquals(await (await fetch(server.url + "/healthz")).text(), "ok");
    problems = ["replication refused: Wrong auth token"];
    const get = await fetch(server.url + "/healthz");
    assertEquals(get.status, 503);
    assertEquals(await get.text(), "unhealthy: replication refused: Wrong auth token");
    const post = await fetch(server.url + "/healthz", { method: "POST" });
    assertEquals(post.status, 405);
    assertEquals(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  } finally {
    await server.shutdown();
    await db.close();
  }
});
