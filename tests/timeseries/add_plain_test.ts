/**
 * TS.ADD's plain path in the RESP handler (`TimeSeriesStore.addNewest`: an existing series, a
 * timestamp or `*` newer than its samples, no options) answers as the general path does, and
 * its reply waits for its WAL record's group commit: a failed sync turns the reply into an
 * error, in its place among the others.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { startServer } from "../../src/server/mod.ts";
import { concatChunks } from "../../src/server/resp_writer.ts";
import { command, rawExchange } from "../server/_helpers.ts";

const concat = (...parts: Uint8Array[]): Uint8Array => concatChunks(parts);

Deno.test("TS.ADD of a newer sample answers only after its sync, and a failed sync's error", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs, syncMode: "always" });
  const server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
  try {
    const port = server.addr.port;
    const ok = await rawExchange(
      port,
      concat(
        command("TS.CREATE", "s"),
        command("TS.ADD", "s", "1000", "1.5"),
        command("TS.ADD", "s", "2000", "2.5"),
        command("QUIT"),
      ),
    );
    assertEquals(ok.reply, "+OK\r\n:1000\r\n:2000\r\n+OK\r\n");
    // The next sync fails: the plain-path TS.ADD answers with the error in its own place, the
    // PING after it keeps its reply.
    fs.failAfter({ sync: 1 });
    const failed = await rawExchange(
      port,
      concat(command("TS.ADD", "s", "3000", "3.5"), command("PING"), command("QUIT")),
    );
    const lines = failed.reply.split("\r\n");
    assert(lines[0]!.startsWith("-ERR "), failed.reply);
    assertEquals(lines[1], "+PONG");
  } finally {
    await server.close();
    try {
      await db.close();
    } catch {
      // The database stopped after the failed sync.
    }
  }
});

Deno.test("TS.ADD's plain path answers `*`, -1, older samples and duplicates as the general path", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), syncMode: "always" });
  const server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
  try {
    const before = Date.now();
    const got = await rawExchange(
      server.addr.port,
      concat(
        command("TS.CREATE", "s"),
        command("TS.ADD", "s", "-1", "1"),
        command("TS.ADD", "s", "*", "2.5"),
        command("TS.ADD", "s", "1000", "1"),
        command("TS.ADD", "s", "1000", "2"),
        command("TS.GET", "s"),
        command("QUIT"),
      ),
    );
    const after = Date.now();
    const lines = got.reply.split("\r\n");
    assertEquals(lines[0], "+OK");
    // -1 is a timestamp like any other here, not the path's marker for `*`.
    assertEquals(lines[1], "-ERR TSDB: invalid timestamp, must be a nonnegative integer");
    const now = Number(lines[2]!.slice(1));
    assert(lines[2]!.startsWith(":") && now >= before && now <= after, got.reply);
    // Older than the newest sample: the general path inserts it, then refuses its duplicate.
    assertEquals(lines[3], ":1000");
    assertEquals(
      lines[4],
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
    );
    assertEquals(lines.slice(5, 9), ["*2", `:${now}`, "+2.5", "+OK"]);
  } finally {
    await server.close();
    await db.close();
  }
});
