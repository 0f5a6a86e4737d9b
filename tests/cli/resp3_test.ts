/**
 * The prompt after `HELLO 3`: RESP3 replies (maps, sets, doubles, nulls) print exactly as
 * Debian's `redis-cli -3` prints the same commands' replies from a real redis-server 7.0.
 */

import { assertEquals } from "@std/assert";
import { runCli, startServe, tempDir } from "./_helpers.ts";
import { startRedisServer } from "../server/_redis.ts";
import { runChild } from "../_helpers/child.ts";

/** Commands whose RESP3 replies are the same on both servers (one-member sets keep order). */
const COMMANDS = [
  "HSET h a 1 b 2",
  "HGETALL h",
  "HGETALL nope",
  "SADD s x",
  "SMEMBERS s",
  "SMEMBERS nope",
  "ZADD z 1.5 m 2 n",
  "ZSCORE z m",
  "ZRANGE z 0 -1 WITHSCORES",
  "ZSCORE z nope",
  "GET nope",
  "EXISTS h s z",
  "LPUSH l a b",
  "LRANGE l 0 -1",
];

Deno.test("cityhall client prompt: RESP3 replies after HELLO 3 print like redis-cli -3", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  const redis = await startRedisServer();
  try {
    const expected = (await runChild("redis-cli", ["-p", String(redis.port), "-3", "--no-raw"], {
      stdin: COMMANDS.join("\n") + "\n",
    })).stdout;
    // The CLI has no -3 flag: HELLO 3 switches the connection, PING marks where its reply ends.
    const r = await runCli(["client", "--port", String(serve.port)], {
      stdin: ["HELLO 3", "PING resp3", ...COMMANDS, ""].join("\n"),
    });
    assertEquals(r.code, 0, r.stderr);
    const marker = '"resp3"\n';
    const at = r.stdout.indexOf(marker);
    assertEquals(at > 0, true, r.stdout);
    assertEquals(r.stdout.slice(0, at).includes('1# "server" => '), true, r.stdout);
    assertEquals(r.stdout.slice(at + marker.length), expected);
  } finally {
    await redis.stop();
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});
