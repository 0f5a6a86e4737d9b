/**
 * `cityhall verify --repair`: a damaged table is moved aside and rebuilt when the WAL still
 * holds its records; on a fleet hub, a table of one site's keys is dropped and the site's
 * edge sends its data again; any other damaged table is left where it is (exit 1).
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Database } from "../../src/engine/mod.ts";
import { runCli } from "../cli/_helpers.ts";
import {
  addTestSite,
  contentOf,
  removeDir,
  startTestEdge,
  startTestHub,
  waitForSiteEqual,
} from "../fleet/_helpers.ts";

/** Flips a byte in the middle of the largest table of `dir`; its file name. */
async function damageLargestTable(dir: string): Promise<string> {
  let largest = "";
  let size = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".sst")) continue;
    const s = (await Deno.stat(`${dir}/${e.name}`)).size;
    if (s > size) [largest, size] = [e.name, s];
  }
  const bytes = await Deno.readFile(`${dir}/${largest}`);
  bytes[Math.floor(size / 3)] = bytes[Math.floor(size / 3)]! ^ 0x5a;
  await Deno.writeFile(`${dir}/${largest}`, bytes);
  return largest;
}

async function model(dir: string, options: Parameters<typeof Database.open>[1] = {}) {
  const db = await Database.open(dir, options);
  for (let i = 0; i < 2000; i += 100) {
    const ops = [];
    for (let j = i; j < i + 100; j++) {
      ops.push({ type: "put" as const, key: `k${j}`, value: `v${j}` });
    }
    await db.write(ops);
  }
  await db.delete("k7");
  await db.put("k8", "changed");
  await db.flush();
  await db.put("tail", "1");
  await db.flush();
  const content = await contentOf(db);
  await db.close();
  return content;
}

Deno.test("verify --repair rebuilds a damaged table from the WAL that still holds it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-repair-wal-" });
  try {
    // A pin keeps the WAL (as an edge's uplink or a leader's replica would).
    const want = await model(dir, { retentionPins: () => ({ pinnedSeqs: [0] }) });
    const table = await damageLargestTable(dir);
    const check = await runCli(["verify", "--data-dir", dir]);
    assertEquals(check.code, 1, check.stdout);
    const repair = await runCli(["verify", "--repair", "--data-dir", dir]);
    assertEquals(repair.code, 0, repair.stdout + repair.stderr);
    assertStringIncludes(repair.stdout, `repaired=${table} source=wal`);
    assertStringIncludes(repair.stdout, "verify=ok");
    await Deno.stat(`${dir}/damaged/${table}`);
    const db = await Database.open(dir);
    try {
      assertEquals(await contentOf(db), want);
    } finally {
      await db.close();
    }
  } finally {
    await removeDir(dir);
  }
});

Deno.test("verify --repair leaves a table it cannot get back where it is, and says why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-repair-none-" });
  try {
    await model(dir, { walSegmentSizeBytes: 16 * 1024 });
    const table = await damageLargestTable(dir);
    const before = await Deno.readFile(`${dir}/${table}`);
    const repair = await runCli(["verify", "--repair", "--data-dir", dir]);
    assertEquals(repair.code, 1);
    assertStringIncludes(repair.stdout, `not_repaired=${table}`);
    assertStringIncludes(repair.stdout, "not a fleet site's data");
    assertEquals(await Deno.readFile(`${dir}/${table}`), before);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("verify --repair on a hub drops a table of one site's keys; the site's edge sends them again", async () => {
  let hub = await startTestHub({});
  const hubDir = hub.dir;
  const token = await addTestSite(hubDir, "s");
  const edge = await startTestEdge(hub.port, "s", token);
  try {
    for (let i = 0; i < 3000; i += 100) {
      const ops = [];
      for (let j = i; j < i + 100; j++) {
        ops.push({ type: "put" as const, key: `key${j}`, value: `value${j}`.repeat(4) });
      }
      await edge.db.write(ops);
    }
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await edge.close();
    await hub.close();
    // Small tables by key range, and a WAL that no longer holds them.
    const db = await Database.open(hubDir, {
      tableSizeBytesTarget: 8 * 1024,
      walSegmentSizeBytes: 16 * 1024,
      // One explicit compaction: tiny tables would cascade level after level otherwise.
      autoCompaction: false,
    });
    await db.compact();
    for (let i = 0; i < 3; i++) {
      await db.put(`hq${i}`, "x");
      await db.flush();
    }
    await db.close();
    // Damage a table that holds site keys only (the first by key order).
    const first = (await Array.fromAsync(Deno.readDir(hubDir)))
      .map((e) => e.name).filter((n) => n.endsWith(".sst")).sort()[0]!;
    const bytes = await Deno.readFile(`${hubDir}/${first}`);
    bytes[200] = bytes[200]! ^ 0x5a;
    await Deno.writeFile(`${hubDir}/${first}`, bytes);
    const repair = await runCli(["verify", "--repair", "--data-dir", hubDir]);
    assertStringIncludes(repair.stdout, "source=site");
    assertStringIncludes(repair.stdout, "site=s");
    assertEquals(repair.code, 0, repair.stdout + repair.stderr);
    hub = await startTestHub({ dir: hubDir });
    const again = await startTestEdge(hub.port, "s", token, { dir: edge.dir });
    try {
      await waitForSiteEqual(hub.db, again.db, "s");
      assert((await contentOf(hub.db)).has("hq0"), "the hub's own keys stay");
    } finally {
      await again.close();
    }
  } finally {
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hubDir);
  }
});
