/**
 * Hashes, lists, sets and sorted sets written at an edge are not carried to the hub yet (their
 * members live under edge versions the hub does not map): the hub leaves them out and says so
 * in its log, once per site and type, while the site's strings keep arriving.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { freePort } from "../cli/_helpers.ts";
import { eventually, removeDir } from "./_helpers.ts";
import { addSiteCli, spawnDaemon } from "./_procs.ts";

async function redis(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", { args: ["-p", String(port), ...args] })
    .output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("fleet: an edge's hash and list are left out at the hub with a warning; its strings arrive", async () => {
  const root = await Deno.makeTempDir({ prefix: "cityhall-fleet-types-" });
  const syncPort = freePort();
  const tokenFile = await addSiteCli(`${root}/hub`, "clinic", root);
  const hubArgs = ["--port", "0", "--no-http", "--sync-port", String(syncPort)];
  const hub = await spawnDaemon(["hub", "--data-dir", `${root}/hub`, ...hubArgs]);
  const edge = await spawnDaemon([
    "serve",
    "--data-dir",
    `${root}/edge`,
    "--port",
    "0",
    "--no-http",
    "--uplink",
    `127.0.0.1:${syncPort}`,
    "--site",
    "clinic",
    "--uplink-token-file",
    tokenFile,
  ]);
  try {
    assertEquals(await redis(edge.port, "HSET", "beds", "a", "1", "b", "2"), "2");
    assertEquals(await redis(edge.port, "RPUSH", "queue", "x", "y"), "2");
    assertEquals(await redis(edge.port, "SET", "ward", "east"), "OK");
    await eventually(
      async () => (await redis(hub.port, "GET", "clinic/ward")) === "east",
      "the string at the hub",
    );
    await eventually(() => /not carried to the hub yet/.test(hub.log()), "the warning");
    for (const type of ["hash", "list"]) {
      const lines = hub.log().split("\n").filter((l) =>
        l.includes("not carried to the hub yet") && l.includes(`type=${type}`)
      );
      assertEquals(lines.length, 1, hub.log());
      assertStringIncludes(lines[0]!, "site=clinic");
    }
    assertEquals(await redis(hub.port, "TYPE", "clinic/beds"), "none");
    assertEquals(await redis(hub.port, "DBSIZE"), "1");
  } finally {
    await edge.stop();
    await hub.stop();
    await removeDir(root);
  }
});
