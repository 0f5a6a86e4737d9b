/**
 * Child process of kill_test.ts: a replica of `127.0.0.1:<port>` on data dir `<dir>`, run
 * until killed. Prints "ready" once the link is up.
 */

import { openReplicaDatabase, startReplica } from "../../src/replication/mod.ts";

const [dir, port] = Deno.args;
const db = await openReplicaDatabase(dir!);
const replica = startReplica(db, {
  leader: `127.0.0.1:${port}`,
  backoff: { baseMs: 10, maxMs: 100 },
  fetchBytes: 16 * 1024,
  fetchWaitMs: 200,
  heartbeatMs: 200,
});
for (let i = 0; i < 10_000 && replica.state !== "connected"; i++) {
  await new Promise((r) => setTimeout(r, 5));
}
console.log("ready");
await new Promise(() => {});
