/**
 * Replies of writes wait for their group commit and tell of its failure: the connection's
 * batch path (one await per group, ARCHITECTURE.md § "Pipelining and durability").
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { startServer } from "../../src/server/mod.ts";
import { concatChunks } from "../../src/server/resp_writer.ts";
import { command, rawExchange } from "./_helpers.ts";

const concat = (...parts: Uint8Array[]): Uint8Array => concatChunks(parts);

Deno.test("a failed group commit turns the replies of its writes into errors, others stay", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs, syncMode: "always" });
  const server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
  try {
    const port = server.addr.port;
    // A pipelined batch of writes and reads: one group commit, every reply after it.
    const ok = await rawExchange(
      port,
      concat(
        command("SET", "a", "1"),
        command("HSET", "h", "f", "v"),
        command("GET", "a"),
        command("QUIT"),
      ),
    );
    assertEquals(ok.reply, "+OK\r\n:1\r\n$1\r\n1\r\n+OK\r\n");
    // The next sync fails: the writes of that group answer with the error in their own place,
    // the PING between them keeps its reply.
    fs.failAfter({ sync: 1 });
    const failed = await rawExchange(
      port,
      concat(
        command("SET", "b", "2"),
        command("PING"),
        command("LPUSH", "l", "x"),
        command("QUIT"),
      ),
    );
    const lines = failed.reply.split("\r\n");
    assert(lines[0]!.startsWith("-ERR "), failed.reply);
    assertEquals(lines[1], "+PONG");
    assert(lines[2]!.startsWith("-ERR "), failed.reply);
    assertEquals(lines[3], "+OK");
  } finally {
    await server.close();
    try {
      await db.close();
    } catch {
      // The database stopped after the failed sync.
    }
  }
});
