/**
 * The top-level shortcuts `cityhall put|get|del|scan`: directly on the data directory when no
 * server answers, through the server when one does.
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { assertHas, freePort, runCli, startServe, tempDir } from "./_helpers.ts";

Deno.test("cityhall put/get/del/scan open --data-dir directly when no server answers", async () => {
  const [dir, cleanup] = await tempDir();
  const port = String(freePort());
  try {
    // The flag before the command (the Bitcask seed's form) and after it.
    let r = await runCli(["--data-dir", dir, "--port", port, "set", "k1", "v1"]);
    assertEquals([r.code, r.stdout], [0, "OK\n"], r.stderr);
    r = await runCli(["put", "--data-dir", dir, "--port", port, "k2", "-2"]);
    assertEquals([r.code, r.stdout], [0, "OK\n"], r.stderr);
    r = await runCli(["get", "--data-dir", dir, "--port", port, "k1"]);
    assertEquals([r.code, r.stdout], [0, "v1\n"]);
    r = await runCli(["get", "--data-dir", dir, "--port", port, "missing"]);
    assertEquals([r.code, r.stdout, r.stderr], [1, "", "not found\n"]);
    r = await runCli(["scan", "--data-dir", dir, "--port", port, "k"]);
    assertEquals(r.stdout, "k1\tv1\nk2\t-2\n");
    r = await runCli(["scan", "--json", "--data-dir", dir, "--port", port, "k", "--limit", "1"]);
    assertEquals(JSON.parse(r.stdout), [{ key: "k1", value: "v1" }]);
    r = await runCli(["delete", "--data-dir", dir, "--port", port, "k1", "nope"]);
    assertEquals([r.code, r.stdout], [0, "1\n"]);
    // --direct skips the server even when asked for a port.
    r = await runCli(["get", "--direct", "--data-dir", dir, "k2"]);
    assertEquals(r.stdout, "-2\n");

    const db = await Database.open(dir);
    assertEquals(await db.get("k1"), undefined);
    assertEquals(fromBytes((await db.get("k2"))!), "-2");
    await db.close();
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall get without a server or a database says so and creates nothing", async () => {
  const [parent, cleanup] = await tempDir();
  const dir = `${parent}/absent`;
  try {
    const r = await runCli(["get", "--data-dir", dir, "--port", String(freePort()), "k"]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, "no database exists at");
    assertEquals(await Deno.stat(dir).then(() => true, () => false), false);
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall put goes through the server that holds --data-dir", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  const port = String(serve.port);
  try {
    let r = await runCli(["put", "--data-dir", dir, "--port", port, "via", "server"]);
    assertEquals([r.code, r.stdout], [0, "OK\n"], r.stderr);
    r = await runCli(["client", "--port", port, "get", "via"]);
    assertEquals(r.stdout, "server\n");
    r = await runCli(["scan", "--port", port, "--data-dir", dir, "v"]);
    assertEquals(r.stdout, "via\tserver\n");

    // The directory is locked by a server that is not the one at --port: said plainly.
    r = await runCli(["put", "--data-dir", dir, "--port", String(freePort()), "k", "v"]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, "locked by another process");
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});

Deno.test("cityhall put with another --data-dir than the server's opens that directory", async () => {
  const [served, cleanupServed] = await tempDir();
  const [other, cleanupOther] = await tempDir();
  const serve = await startServe(served);
  const port = String(serve.port);
  try {
    const r = await runCli(["put", "--data-dir", other, "--port", port, "where", "other"]);
    assertEquals([r.code, r.stdout], [0, "OK\n"], r.stderr);
    const g = await runCli(["client", "--port", port, "get", "where"]);
    assertEquals(g.code, 1);
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanupServed();
  }
  const db = await Database.open(other);
  assertEquals(fromBytes((await db.get("where"))!), "other");
  await db.close();
  await cleanupOther();
});

Deno.test("cityhall --data-dir X set k v leaves about a megabyte on disk, not a 32 MiB WAL segment", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const r = await runCli(["--data-dir", dir, "--direct", "set", "k", "v"]);
    assertEquals([r.code, r.stdout], [0, "OK\n"], r.stderr);
    let total = 0;
    const walk = async (d: string) => {
      for await (const e of Deno.readDir(d)) {
        if (e.isDirectory) await walk(`${d}/${e.name}`);
        else total += (await Deno.stat(`${d}/${e.name}`)).size;
      }
    };
    await walk(dir);
    assert(total <= 1.1 * 1024 * 1024, `the data directory holds ${total} bytes`);
  } finally {
    await cleanup();
  }
});
