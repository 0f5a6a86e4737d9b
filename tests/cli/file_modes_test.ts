/**
 * A leader and its replica started under a permissive umask (000) leave nothing that another
 * local user can read: every file 0600, every directory 0700 (tables, WAL segments, manifest,
 * LOCK, the replication state files).
 */

import { assert, assertEquals } from "@std/assert";
import { runCli, startServe, tempDir } from "./_helpers.ts";

/** Runs deno under umask 000. */
const UMASK_000 = ["sh", "-c", 'umask 000 && exec "$@"', "sh"];

/** `path mode` of every entry under `root`, `root` itself included. */
async function walk(root: string): Promise<string[]> {
  const out = [`${root} ${((await Deno.stat(root)).mode! & 0o777).toString(8)}`];
  for await (const entry of Deno.readDir(root)) {
    const path = `${root}/${entry.name}`;
    if (entry.isDirectory) out.push(...await walk(path));
    else out.push(`${path} ${((await Deno.stat(path)).mode! & 0o777).toString(8)}`);
  }
  return out;
}

Deno.test("cityhall leader and replica under umask 000 create files 0600 and directories 0700", async () => {
  const [root, cleanup] = await tempDir();
  const leaderDir = `${root}/leader/data`;
  const replicaDir = `${root}/replica/data`;
  const options = { wrapper: UMASK_000 };
  const leader = await startServe(leaderDir, ["--replication-port", "0"], {
    ...options,
    command: "leader",
  });
  let replica: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    const replicationPort = /replication=\S+:(\d+)/.exec(leader.log())?.[1];
    assert(replicationPort !== undefined, leader.log());
    replica = await startServe(replicaDir, ["--leader", `127.0.0.1:${replicationPort}`], {
      ...options,
      command: "replica",
    });
    const port = ["--port", String(leader.port)];
    for (let i = 0; i < 20; i++) {
      assertEquals((await runCli(["client", ...port, "put", `k${i}`, `v${i}`])).code, 0);
    }
    // SAVE flushes the memtable to an SSTable.
    const prompt = await runCli(["client", ...port], { stdin: "SAVE\n" });
    assertEquals(prompt.code, 0, prompt.stderr);
    // Wait until the replica has everything (its status file is written too).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await runCli(["client", "--port", String(replica.port), "get", "k19"]);
      if (r.code === 0) break;
      assert(Date.now() < deadline, `replica never caught up: ${replica.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    if (replica !== undefined) assertEquals(await replica.stop(), 0);
    assertEquals(await leader.stop(), 0);
  }
  try {
    const entries = [...await walk(`${root}/leader`), ...await walk(`${root}/replica`)];
    const wrong = entries.filter((line) => {
      const [path, mode] = line.split(" ");
      return mode !== (Deno.statSync(path!).isDirectory ? "700" : "600");
    });
    assertEquals(wrong, [], entries.join("\n"));
    const names = entries.join("\n");
    for (const want of ["/LOCK ", "/MANIFEST", "/wal/", ".sst ", "/replication/"]) {
      assert(names.includes(want), `${want} missing:\n${names}`);
    }
  } finally {
    await cleanup();
  }
});
