/**
 * A hub and edges in one process over real sockets: namespaced sync, deletes and expiries,
 * positions across restarts, hub-local data outside the site prefixes, and snapshots for an
 * edge that wrote before its uplink existed.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  addTestSite,
  contentOf,
  contentUnder,
  eventually,
  removeDir,
  startTestEdge,
  startTestHub,
  waitForSiteEqual,
} from "./_helpers.ts";
import { Database } from "../../src/engine/mod.ts";
import { startLinkProxy } from "./_link_proxy.ts";
import { removeSite, resetSite } from "../../src/fleet/sites.ts";
import { RealFs } from "../../src/fs/mod.ts";

Deno.test("hub: an edge's keys arrive as site/key, with deletes and expiries", async () => {
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "store1");
  const edge = await startTestEdge(hub.port, "store1", token);
  try {
    await edge.db.put("a", "1");
    await edge.db.put("b", "2");
    await edge.db.put("c", "3", { expireAtMs: Date.now() + 600_000 });
    await edge.db.delete("a");
    await edge.db.write([{ type: "put", key: "d", value: "4" }, { type: "delete", key: "b" }]);
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(
      [...(await contentUnder(hub.db, "store1/")).entries()].sort(),
      [["c", "3"], ["d", "4"]],
    );
    const c = hub.db.getEntry("store1/c");
    assert(c !== undefined && c.expireAtMs > Date.now(), "expiry travels with the key");
    const status = hub.hub.statuses()[0]!;
    assertEquals(status.site, "store1");
    assertEquals(status.ackedSeq, edge.db.lastSeq);
    assertEquals(status.behindEntries, 0);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});

Deno.test("hub: positions survive restarts of both ends; writes made while the hub is down arrive once", async () => {
  let hub = await startTestHub();
  const hubDir = hub.dir;
  const token = await addTestSite(hubDir, "s1");
  let edge = await startTestEdge(hub.port, "s1", token);
  const edgeDir = edge.dir;
  try {
    for (let i = 0; i < 200; i++) await edge.db.put(`k${i}`, `v${i}`);
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await hub.close();
    // Written while the hub is down: the edge keeps them until acknowledged.
    for (let i = 200; i < 400; i++) await edge.db.put(`k${i}`, `v${i}`);
    await edge.db.delete("k0");
    await edge.close();
    hub = await startTestHub({ dir: hubDir });
    edge = await startTestEdge(hub.port, "s1", token, { dir: edgeDir });
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await waitForSiteEqual(hub.db, edge.db, "s1");
    assertEquals((await contentUnder(hub.db, "s1/")).size, 399);
    assertEquals(hub.hub.statuses()[0]!.ackedSeq, edge.db.lastSeq);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edgeDir);
    await removeDir(hubDir);
  }
});

Deno.test("hub: data written at the hub stays outside every site prefix", async () => {
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "s1");
  const edge = await startTestEdge(hub.port, "s1", token);
  try {
    await edge.db.put("x", "from-edge");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await assertRejects(
      () => hub.db.put("s1/x", "forged"),
      Error,
      "Key is in site s1's namespace",
    );
    await assertRejects(() => hub.db.write([{ type: "put", key: "s1/y", value: "1" }]));
    await hub.db.put("hq/report", "total");
    await hub.db.put("s1x/not-a-site", "fine");
    assertEquals(new TextDecoder().decode((await hub.db.get("s1/x"))!), "from-edge");
    const all = await contentOf(hub.db);
    assertEquals([...all.keys()].sort(), ["hq/report", "s1/x", "s1x/not-a-site"]);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});

Deno.test("hub: an edge that wrote before its uplink existed is sent as a snapshot, then streams", async () => {
  const edgeDir = await Deno.makeTempDir({ prefix: "cityhall-edge-pre-" });
  const plain = await Database.open(edgeDir, { walSegmentSizeBytes: 64 * 1024 });
  for (let i = 0; i < 3000; i += 100) {
    const ops = [];
    for (let j = i; j < i + 100; j++) {
      ops.push({ type: "put" as const, key: `pre${j}`, value: `v${j}`.repeat(10) });
    }
    await plain.write(ops);
  }
  await plain.delete("pre5");
  await plain.put("gone", "x", { expireAtMs: Date.now() + 500 });
  // Two flushes: MANIFEST.prev must cover the early segments too before they go.
  await plain.flush();
  await plain.put("late", "1");
  await plain.flush();
  await plain.close();
  await new Promise((r) => setTimeout(r, 600));
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "old");
  const edge = await startTestEdge(hub.port, "old", token, {
    dir: edgeDir,
    db: { walSegmentSizeBytes: 64 * 1024 },
  });
  try {
    assert(edge.db.walSegments()[0]!.firstSeq > 1, "the early WAL is gone");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    for (let i = 0; i < 50; i++) await edge.db.put(`post${i}`, "after");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await waitForSiteEqual(hub.db, edge.db, "old");
    assertEquals(hub.hub.statuses()[0]!.snapshots, 1);
    assert(!(await contentUnder(hub.db, "old/")).has("gone"));
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edgeDir);
    await removeDir(hub.dir);
  }
});

Deno.test("hub: wrong token, another site's token and a re-initialised edge are refused with a log line; nothing applied", async () => {
  const hub = await startTestHub();
  const t1 = await addTestSite(hub.dir, "s1");
  const t2 = await addTestSite(hub.dir, "s2");
  const good = await startTestEdge(hub.port, "s1", t1);
  const wrong = await startTestEdge(hub.port, "s1", "not-the-token");
  const other = await startTestEdge(hub.port, "s1", t2);
  try {
    await good.db.put("k", "good");
    await good.uplink.waitForAck(good.db.lastSeq);
    await wrong.db.put("k", "wrong");
    await other.db.put("k", "other");
    await eventually(() => wrong.uplink.state === "refused", "wrong token refused");
    await eventually(() => other.uplink.state === "refused", "other site's token refused");
    assert(
      wrong.log.lines.some((l) => l.includes("Wrong site or token")),
      wrong.log.lines.join("\n"),
    );
    assert(hub.log.lines.some((l) => l.includes("refusing uplink: wrong site or token")));
    // A re-initialised edge: same site and token, another database.
    await good.close();
    await removeDir(good.dir);
    const reborn = await startTestEdge(hub.port, "s1", t1, { dir: good.dir });
    try {
      await reborn.db.put("k", "reborn");
      await eventually(() => reborn.uplink.state === "refused", "re-initialised edge refused");
      assert(hub.log.lines.some((l) => l.includes("is not the site's recorded edge")));
      assert(reborn.uplink.status().refusal.includes("hub site reset s1"));
      assertEquals(new TextDecoder().decode((await hub.db.get("s1/k"))!), "good");
      assertEquals((await contentUnder(hub.db, "s2/")).size, 0);
      // The operator accepts it: the site's data is replaced by the new edge's.
      await resetSite(new RealFs(), hub.dir, "s1");
      await eventually(
        async () => {
          const v = await hub.db.get("s1/k");
          return v !== undefined && new TextDecoder().decode(v) === "reborn";
        },
        "the reset site follows the new edge",
        6000,
      );
    } finally {
      await reborn.close();
      await removeDir(reborn.dir);
    }
  } finally {
    await wrong.close();
    await other.close();
    await hub.close();
    await removeDir(wrong.dir);
    await removeDir(other.dir);
    await removeDir(hub.dir);
  }
});

/** An edge data directory holding 1,500 random 1 KiB values (about 1.5 MB to ship). */
async function seededEdgeDir(site: string): Promise<string> {
  const edgeDir = await Deno.makeTempDir({ prefix: `cityhall-edge-${site}-` });
  const seed = await Database.open(edgeDir);
  const random = new Uint8Array(1024);
  for (let i = 0; i < 1500; i++) {
    crypto.getRandomValues(random);
    await seed.put(`blob${i}`, random);
  }
  await seed.close();
  return edgeDir;
}

/**
 * Waits until the hub holds the edge's data, checks that the proxy's one fault (`fault`) was
 * resumed once on both sides, and stops everything.
 */
async function expectOneResume(
  hub: Awaited<ReturnType<typeof startTestHub>>,
  proxy: ReturnType<typeof startLinkProxy>,
  edge: Awaited<ReturnType<typeof startTestEdge>>,
  edgeDir: string,
  site: string,
  fault: "cuts" | "stalls",
): Promise<void> {
  try {
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await waitForSiteEqual(hub.db, edge.db, site);
    assertEquals(proxy[fault], 1);
    assertEquals(hub.hub.statuses()[0]!.resumes, 1);
    assertEquals(edge.uplink.status().resumes, 1);
  } finally {
    await edge.close();
    await hub.close();
    await proxy.close();
    await removeDir(edgeDir);
    await removeDir(hub.dir);
  }
}

Deno.test("hub: a RECORDS frame cut mid-way is resumed from the bytes the hub holds", async () => {
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "r");
  const proxy = startLinkProxy(hub.port);
  // The first link is cut 300 KB into the edge's data: inside the first (1 MiB) frame.
  proxy.setFaults((n) =>
    n === 0 ? { direction: "up", afterBytes: 300_000, mode: "cut" } : undefined
  );
  const edgeDir = await seededEdgeDir("r");
  const edge = await startTestEdge(proxy.port, "r", token, { dir: edgeDir });
  await expectOneResume(hub, proxy, edge, edgeDir, "r", "cuts");
});

Deno.test("hub: a frame stalled mid-way until the hub's idle timeout closes the link is resumed", async () => {
  // The hub closes the link itself (idle timeout): its pending read fails with an error, not
  // an end of stream, and the bytes it holds must still be kept for RESUME (they were not).
  const hub = await startTestHub({ idleTimeoutMs: 1500, heartbeatMs: 200 });
  const token = await addTestSite(hub.dir, "st");
  const proxy = startLinkProxy(hub.port);
  proxy.setFaults((n) =>
    n === 0 ? { direction: "up", afterBytes: 300_000, mode: "stall", stallMs: 60_000 } : undefined
  );
  const edgeDir = await seededEdgeDir("st");
  const edge = await startTestEdge(proxy.port, "st", token, { dir: edgeDir });
  await expectOneResume(hub, proxy, edge, edgeDir, "st", "stalls");
});

Deno.test("hub: a site removed while connected is refused at once; an edge restored from an older copy is refused", async () => {
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "gone");
  const t2 = await addTestSite(hub.dir, "old");
  const edge = await startTestEdge(hub.port, "gone", token);
  const edgeDir2 = await Deno.makeTempDir({ prefix: "cityhall-edge-old-" });
  try {
    await edge.db.put("k", "1");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await removeSite(new RealFs(), hub.dir, "gone");
    await eventually(() => edge.uplink.state === "refused", "removed site refused");
    assert(edge.uplink.status().refusal.includes("removed"), edge.uplink.status().refusal);
    // An edge that syncs 4 writes, then comes back from a copy taken after 2.
    let old = await startTestEdge(hub.port, "old", t2, { dir: edgeDir2 });
    await old.db.put("a", "1");
    await old.db.put("b", "2");
    await old.close();
    const copy = `${edgeDir2}.copy`;
    await copyDir(edgeDir2, copy);
    old = await startTestEdge(hub.port, "old", t2, { dir: edgeDir2 });
    await old.db.put("c", "3");
    await old.db.put("d", "4");
    await old.uplink.waitForAck(old.db.lastSeq);
    await old.close();
    await removeDir(edgeDir2);
    await Deno.rename(copy, edgeDir2);
    old = await startTestEdge(hub.port, "old", t2, { dir: edgeDir2 });
    try {
      await eventually(() => old.uplink.state === "refused", "restored edge refused");
      assert(
        old.uplink.status().refusal.includes("beyond this edge's 2"),
        old.uplink.status().refusal,
      );
      assertEquals((await contentUnder(hub.db, "old/")).size, 4);
    } finally {
      await old.close();
    }
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(edgeDir2);
    await removeDir(hub.dir);
  }
});

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}
