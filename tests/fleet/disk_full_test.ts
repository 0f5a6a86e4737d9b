/**
 * The disk-full policy of a real edge process on a real, small file system: a tmpfs mounted by
 * the test (it runs as root, as CI does), the hub out of reach while the edge writes more than
 * the disk holds. `drop-oldest-raw` keeps the edge writing and the hub later gets a snapshot;
 * `refuse` refuses writes with a clear error until the hub's acknowledgements free space.
 *
 * In CI the drop-oldest-raw run stops once the edge has written more than its disk holds (the
 * hub's snapshot after an eviction is tested on FaultFs in disk_policy_test.ts);
 * CITYHALL_FLEET_LONG=1 also brings the hub up and compares every byte.
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Database } from "../../src/engine/mod.ts";
import { RespClient } from "../../src/cli/resp_client.ts";
import { freePort, runCli } from "../cli/_helpers.ts";
import { contentOf, contentUnder, removeDir } from "./_helpers.ts";
import { addSiteCli, spawnEdge, spawnHub } from "./_procs.ts";
import { runChild } from "../_helpers/child.ts";

const MiB = 1024 * 1024;

async function mountTmpfs(sizeMiB: number): Promise<{ dir: string; unmount(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-tmpfs-" });
  const out = await runChild("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeMiB}m,mode=0700`,
    "tmpfs",
    dir,
  ], {
    stdout: "null",
  });
  if (!out.success) {
    throw new Error(
      `Cannot mount a tmpfs on ${dir} (this test runs as root, as CI does): ${out.stderr}`,
    );
  }
  return {
    dir,
    async unmount() {
      await runChild("umount", [dir], { stdout: "null", stderr: "null" });
      await Deno.remove(dir).catch(() => {});
    },
  };
}

/** A 1 MiB value that Snappy shrinks to almost nothing (the WAL holds it whole). */
function bigValue(i: number): string {
  return `${i}:`.padEnd(MiB, "v");
}

const LONG = Deno.env.get("CITYHALL_FLEET_LONG") !== undefined;

Deno.test("disk full, drop-oldest-raw: an edge on a 96 MiB tmpfs writes 120 MiB with its hub away, evicting (counted) instead of failing", async () => {
  const fs = await mountTmpfs(96);
  const root = await Deno.makeTempDir({ prefix: "cityhall-diskfull-" });
  const edgeDir = `${fs.dir}/edge`;
  const hubDir = `${root}/hub`;
  const syncPort = freePort();
  const tokenFile = await addSiteCli(hubDir, "far", root);
  const edge = await spawnEdge(edgeDir, syncPort, "far", tokenFile, [
    "--memtable-mb",
    "2",
    "--disk-high-water",
    "50%",
    "--disk-full",
    "drop-oldest-raw",
  ]);
  let hub;
  try {
    const client = await RespClient.connect({ hostname: "127.0.0.1", port: edge.port });
    try {
      for (let i = 0; i < 120; i++) {
        const reply = await client.command(["SET", `big${i}`, bigValue(i)]);
        assertEquals(reply.kind, "simple", `write ${i}: ${JSON.stringify(reply)}`);
        // A disk fills in seconds; the policy looks once a second.
        await new Promise((r) => setTimeout(r, 40));
      }
    } finally {
      client.close();
    }
    assertStringIncludes(edge.log(), "evicted unshipped WAL");
    const status = JSON.parse(
      (await runCli(["uplink", "status", "--data-dir", edgeDir, "--json"])).stdout,
    );
    assert(status.evictedEntries > 0, JSON.stringify(status));
    assert(status.disk.evicted_entries_total > 0, JSON.stringify(status));
    if (!LONG) return;
    // The hub comes back: the edge's current data arrives as a snapshot.
    hub = await spawnHub(hubDir, syncPort);
    for (let i = 0; i < 600; i++) {
      const s = JSON.parse(
        (await runCli(["uplink", "status", "--data-dir", edgeDir, "--json"])).stdout,
      );
      if (s.behindEntries === 0 && s.state === "connected") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await edge.stop();
    await hub.stop();
    const hubDb = await Database.open(hubDir);
    const edgeDb = await Database.open(edgeDir);
    try {
      const want = await contentOf(edgeDb);
      assertEquals(want.size, 120, "the edge kept every write");
      assertEquals(await contentUnder(hubDb, "far/"), want);
    } finally {
      await hubDb.close();
      await edgeDb.close();
    }
  } finally {
    await edge.stop("SIGKILL");
    await hub?.stop("SIGKILL");
    await fs.unmount();
    await removeDir(root);
  }
});

Deno.test("disk full, refuse: writes are refused with a clear error, and taken again once the hub has caught up", async () => {
  // Room for the WAL's active and preallocated 32 MiB segments well below the mark.
  const fs = await mountTmpfs(192);
  const root = await Deno.makeTempDir({ prefix: "cityhall-diskfull-" });
  const edgeDir = `${fs.dir}/edge`;
  const hubDir = `${root}/hub`;
  const syncPort = freePort();
  const tokenFile = await addSiteCli(hubDir, "near", root);
  const edge = await spawnEdge(edgeDir, syncPort, "near", tokenFile, [
    "--memtable-mb",
    "2",
    "--disk-high-water",
    "50%",
  ]);
  let hub;
  const client = await RespClient.connect({ hostname: "127.0.0.1", port: edge.port });
  try {
    let refused = "";
    let written = 0;
    for (let i = 0; i < 180 && refused === ""; i++) {
      const reply = await client.command(["SET", `big${i}`, bigValue(i)]);
      if (reply.kind === "error") refused = reply.value;
      else written++;
      await new Promise((r) => setTimeout(r, 40));
    }
    assertStringIncludes(refused, "--disk-full refuse");
    assertStringIncludes(edge.log(), "refusing writes");
    hub = await spawnHub(hubDir, syncPort);
    let accepted = false;
    for (let i = 0; i < 300 && !accepted; i++) {
      accepted = (await client.command(["SET", "again", "1"])).kind === "simple";
      if (!accepted) await new Promise((r) => setTimeout(r, 100));
    }
    assert(accepted, "writes were never taken again");
    assertStringIncludes(edge.log(), "accepting writes");
    assert(written > 10);
  } finally {
    client.close();
    await edge.stop("SIGKILL");
    await hub?.stop("SIGKILL");
    await fs.unmount();
    await removeDir(root);
  }
});
