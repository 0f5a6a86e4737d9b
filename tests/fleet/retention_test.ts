/**
 * Hub series retention (`cityhall hub --retention D|edge|0`, ARCHITECTURE.md § "Series at the
 * hub"): the series a site sends are kept for D at the hub (counted back from each series'
 * newest sample, as RETENTION is), or for the edge series' own RETENTION with `edge`; a hub
 * started with another duration applies it to the series it already holds. Also the flag's
 * checks and a real hub process.
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { RespClient, type RespReply } from "../../src/cli/resp_client.ts";
import { freePort, runCli } from "../cli/_helpers.ts";
import { addTestSite, eventually, removeDir, startTestEdge, startTestHub } from "./_helpers.ts";
import { addSiteCli, spawnEdge, spawnHub } from "./_procs.ts";

const utf8 = new TextEncoder();
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

function range(store: TimeSeriesStore, key: string): number[] {
  return [...store.range(utf8.encode(key), { from: 0, to: Number.MAX_SAFE_INTEGER }).ts];
}

Deno.test("hub retention: a fixed --retention bounds the sites' series, 'edge' keeps each edge series' own, a restart applies a new one", async () => {
  let hub = await startTestHub({ withSeries: true, seriesRetention: HOUR });
  const hubDir = hub.dir;
  const token = await addTestSite(hubDir, "plant");
  const edge = await startTestEdge(hub.port, "plant", token);
  const store = TimeSeriesStore.open(edge.db, { maintenanceIntervalMs: 0 });
  let storeOpen = true;
  try {
    await store.create(utf8.encode("flow"), { labels: [["unit", "l"]] }).durable;
    await store.create(utf8.encode("temp"), { retentionMs: 2 * HOUR }).durable;
    const batch = [];
    for (let i = 0; i < 3 * 360; i++) {
      batch.push({ key: utf8.encode("flow"), ts: T0 + i * 10_000, value: i });
      batch.push({ key: utf8.encode("temp"), ts: T0 + i * 10_000, value: 20 });
    }
    await store.madd(batch).durable;
    await edge.uplink.waitForAck(edge.db.lastSeq);
    const hubStore = hub.timeseries!;
    const newest = T0 + (3 * 360 - 1) * 10_000;
    assertEquals(hubStore.find(utf8.encode("plant/flow"))!.meta.retentionMs, HOUR);
    assertEquals(hubStore.find(utf8.encode("plant/temp"))!.meta.retentionMs, HOUR);
    const flow = range(hubStore, "plant/flow");
    assertEquals(flow[0], newest - HOUR);
    assertEquals(flow.at(-1), newest);
    assertEquals(range(store, "flow").length, 3 * 360, "the edge keeps everything");

    // "edge": each hub series takes its edge series' RETENTION (with the next metadata op).
    await store.close();
    storeOpen = false;
    await edge.close();
    await hub.close();
    hub = await startTestHub({ dir: hubDir, withSeries: true, seriesRetention: "edge" });
    const edge2 = await startTestEdge(hub.port, "plant", token, { dir: edge.dir });
    const store2 = TimeSeriesStore.open(edge2.db, { maintenanceIntervalMs: 0 });
    try {
      await store2.alter(utf8.encode("temp"), { retentionMs: 2 * HOUR }).durable;
      await store2.alter(utf8.encode("flow"), { labels: [["unit", "m3"]] }).durable;
      await edge2.uplink.waitForAck(edge2.db.lastSeq);
      assertEquals(hub.timeseries!.find(utf8.encode("plant/temp"))!.meta.retentionMs, 2 * HOUR);
      assertEquals(hub.timeseries!.find(utf8.encode("plant/flow"))!.meta.retentionMs, 0);
    } finally {
      await store2.close();
      await edge2.close();
      await hub.close();
    }

    // A restart with a fixed duration applies it to every series of the sites already here.
    hub = await startTestHub({ dir: hubDir, withSeries: true, seriesRetention: 30 * 60_000 });
    await eventually(
      () =>
        hub.timeseries!.find(utf8.encode("plant/flow"))!.meta.retentionMs === 30 * 60_000 &&
        hub.timeseries!.find(utf8.encode("plant/temp"))!.meta.retentionMs === 30 * 60_000,
      "the new retention on the series already at the hub",
    );
    assertEquals(range(hub.timeseries!, "plant/flow")[0], newest - 30 * 60_000);
    assert(
      hub.log.lines.some((l) => l.includes("given the hub's retention")),
      hub.log.lines.join("\n"),
    );
  } finally {
    if (storeOpen) {
      await store.close();
      await edge.close();
    }
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hubDir);
  }
});

Deno.test("hub retention: the flag is checked; a real hub with --retention 1h answers TS.INFO and TS.RANGE bounded", async () => {
  const bad = await runCli(["hub", "--data-dir", "/nonexistent-never", "--retention", "soon"]);
  assertEquals(bad.code, 2, bad.stderr);
  assertStringIncludes(bad.stderr, "invalid --retention");
  const badImport = await runCli(["hub", "import", "x.chsync", "--retention", "-1d"]);
  assertEquals(badImport.code, 2, badImport.stderr);

  const root = await Deno.makeTempDir({ prefix: "cityhall-fleet-retention-" });
  const syncPort = freePort();
  const tokenFile = await addSiteCli(`${root}/hub`, "plant", root);
  const hub = await spawnHub(`${root}/hub`, syncPort, ["--retention", "1h"]);
  const edge = await spawnEdge(`${root}/edge`, syncPort, "plant", tokenFile);
  try {
    const e = await RespClient.connect({ hostname: "127.0.0.1", port: edge.port });
    try {
      const commands: string[][] = [["TS.CREATE", "flow"]];
      for (let i = 0; i < 3 * 60; i++) {
        commands.push(["TS.ADD", "flow", String(T0 + i * 60_000), String(i)]);
      }
      for (const r of await e.pipeline(commands)) {
        if (r.kind === "error") throw new Error(r.value);
      }
    } finally {
      e.close();
    }
    const h = await RespClient.connect({ hostname: "127.0.0.1", port: hub.port });
    try {
      let count = -1;
      await eventually(async () => {
        const r = await h.command(["TS.RANGE", "plant/flow", "-", "+"]);
        count = r.kind === "array" && r.value !== null ? r.value.length : -1;
        const last = await h.command(["TS.GET", "plant/flow"]);
        return last.kind === "array" && last.value !== null &&
          last.value[0]!.kind === "integer" && last.value[0]!.value === BigInt(T0 + 179 * 60_000);
      }, "the samples at the hub");
      const r = await h.command(["TS.RANGE", "plant/flow", "-", "+"]);
      count = r.kind === "array" && r.value !== null ? r.value.length : -1;
      assertEquals(count, 61, "one hour back from the newest sample, both ends included");
      const info = await h.command(["TS.INFO", "plant/flow"]);
      const fields = info.kind === "array" && info.value !== null ? info.value : [];
      const at = fields.findIndex((f: RespReply) =>
        (f.kind === "simple" && f.value === "retentionTime") ||
        (f.kind === "bulk" && f.value !== null &&
          new TextDecoder().decode(f.value) === "retentionTime")
      );
      assertEquals(fields[at + 1], { kind: "integer", value: BigInt(HOUR) });
    } finally {
      h.close();
    }
  } finally {
    await edge.stop();
    await hub.stop();
    await removeDir(root);
  }
});
