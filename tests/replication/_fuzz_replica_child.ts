/**
 * Child process of fuzz_test.ts: a real replica of `127.0.0.1:<port>` (data dir `<dir>`) with
 * fast reconnects and its own RESP server, so that the fuzz can probe its latency. Prints
 * `ready <resp port>` once listening; runs until killed.
 */

import { openReplicaDatabase, startReplica } from "../../src/replication/mod.ts";
import { startServer } from "../../src/server/mod.ts";

const [dir, port] = Deno.args;
const db = await openReplicaDatabase(dir!);
startReplica(db, {
  leader: `127.0.0.1:${port}`,
  backoff: { baseMs: 5, maxMs: 20 },
  fetchWaitMs: 200,
  heartbeatMs: 200,
  idleTimeoutMs: 3000,
  handshakeTimeoutMs: 2000,
});
const server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
console.log(`ready ${server.addr.port}`);
await new Promise(() => {});
