/**
 * The live server stays strict: with a damaged data block (which open does not read), SCAN and
 * KEYS answer an error naming the file and offset rather than a partial list, and GET of a key
 * in another block still answers. Salvage is the offline way to the rest.
 */

import { assert, assertEquals } from "@std/assert";
import { RealFs } from "../../src/fs/mod.ts";
import { readDirectory } from "../../src/verify/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { startServe } from "../cli/_helpers.ts";
import { buildDatabase, flipByte, indexOf } from "./_helpers.ts";
import { runChild } from "../_helpers/child.ts";

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const out = await runChild("redis-cli", ["-p", String(port), ...args]);
  return out.stdout + out.stderr;
}

Deno.test("SCAN and KEYS on the live server fail at a damaged data block with the file and offset", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-salvage-serve-" });
  await buildDatabase(dir);
  const table = [...readDirectory(new RealFs(), dir).tables.values()].find((t) =>
    t.blocks.length >= 5 && indexOf(fromBytes(t.blocks[0]!.firstKey)) === 0
  )!;
  const block = table.blocks[3]!;
  await flipByte(table.path, block.offset + 4);
  const server = await startServe(dir, ["--no-http"]);
  try {
    const scan = await redisCli(server.port, "SCAN", "0", "COUNT", "100000");
    assert(scan.includes("checksum mismatch") && scan.includes(`${block.offset}`), scan);
    const keys = await redisCli(server.port, "KEYS", "*");
    assert(keys.includes("checksum mismatch"), keys);
    assertEquals((await redisCli(server.port, "GET", "key-00000")).trim(), "value-0-");
  } finally {
    await server.stop();
  }
  await Deno.remove(dir, { recursive: true });
});
