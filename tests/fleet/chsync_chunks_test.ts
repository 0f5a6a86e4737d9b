/**
 * Sneakernet with time series (ARCHITECTURE.md § "Export file (.chsync)"): an export's sample
 * records travel as CHUNKS frames, as an uplink catching up sends them (≤ 2 bytes per sample in
 * the file); the hub imports them exactly, twice changes nothing, and the live uplink continues
 * from the imported position. A version-1 file (RECORDS only) is still imported.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { generateSensors } from "../_helpers/sensors.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { Database } from "../../src/engine/mod.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { exportSinceAck, importChsync } from "../../src/fleet/sneakernet.ts";
import { readExport } from "../../src/fleet/chsync.ts";
import {
  encodeFrame,
  FRAME_EXPORT_BEGIN,
  FRAME_EXPORT_END,
  FRAME_RECORDS,
} from "../../src/replication/frame.ts";
import { encodeRecords } from "../../src/fleet/frames.ts";
import { encodeExportBegin } from "../../src/fleet/chsync.ts";
import { crc32cExtend, maskCrc } from "../../src/util/crc32c.ts";
import { putU64 } from "../../src/util/coding.ts";
import { encodeBatch } from "../../src/wal/format.ts";
import { KIND_PUT } from "../../src/util/entry.ts";
import { addTestSite, captureLogger, removeDir, startTestEdge, startTestHub } from "./_helpers.ts";

const utf8 = new TextEncoder();

function samplesOf(store: TimeSeriesStore, prefix = ""): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (const s of store.all()) {
    const key = new TextDecoder().decode(s.key);
    if (!key.startsWith(prefix) || store.find(s.key) !== s) continue;
    const points = store.range(utf8.encode(key), { from: 0, to: Number.MAX_SAFE_INTEGER });
    const pairs: [number, number][] = [];
    for (let i = 0; i < points.ts.length; i++) pairs.push([points.ts[i]!, points.values[i]!]);
    out.set(key.slice(prefix.length), pairs);
  }
  return out;
}

async function exportTo(edgeDir: string, file: string, site?: string) {
  const out = await Deno.open(file, { write: true, create: true, truncate: true });
  try {
    return await exportSinceAck(new RealFs(), edgeDir, async (b) => {
      let at = 0;
      while (at < b.length) at += await out.write(b.subarray(at));
    }, site === undefined ? {} : { site });
  } finally {
    out.close();
  }
}

async function importInto(hubDir: string, file: string) {
  const db = await Database.open(hubDir);
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const summary = await importChsync(db, new RealFs(), file, captureLogger("import"), store);
    return { summary, samples: samplesOf(store, "plant/") };
  } finally {
    await store.close();
    await db.close();
  }
}

Deno.test("chsync: an export's samples travel as CHUNKS (<= 2 bytes per sample); import twice is exact and idempotent; the uplink continues", async () => {
  const hub = await startTestHub({ withSeries: true });
  const hubDir = hub.dir;
  const token = await addTestSite(hubDir, "plant");
  let edge = await startTestEdge(hub.port, "plant", token);
  const edgeDir = edge.dir;
  const file = `${edgeDir}.chsync`;
  const sensors = generateSensors(11, 20, 3600);
  let store = TimeSeriesStore.open(edge.db, { maintenanceIntervalMs: 0 });
  let samples = 0;
  try {
    for (const s of sensors) {
      await store.create(utf8.encode(s.name), { labels: [["kind", s.kind]] }).durable;
    }
    await store.madd(
      sensors.map((s) => ({ key: utf8.encode(s.name), ts: s.ts[0]!, value: s.values[0]! })),
    )
      .durable;
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await hub.close();
    // The link is down for an hour of 20 sensors: the samples travel by USB stick.
    for (let t = 1; t < 3600; t += 10) {
      const batch = [];
      for (const s of sensors) {
        for (let i = t; i < Math.min(t + 10, s.ts.length); i++) {
          batch.push({ key: utf8.encode(s.name), ts: s.ts[i]!, value: s.values[i]! });
        }
      }
      samples += batch.length;
      await store.madd(batch).durable;
    }
    await store.del(utf8.encode(sensors[1]!.name), sensors[1]!.ts[100]!, sensors[1]!.ts[200]!)
      .durable;
    await edge.db.put("note", "offline");
    await store.madd([{ key: utf8.encode(sensors[2]!.name), ts: 1_900_000_000_000, value: 5 }])
      .durable;
    const want = samplesOf(store);
    await store.close();
    await edge.close();

    const exported = await exportTo(edgeDir, file);
    const size = (await Deno.stat(file)).size;
    const perSample = size / samples;
    console.log(`export: ${samples} samples in ${size} bytes, ${perSample.toFixed(3)} B/sample`);
    assert(perSample <= 2, `${perSample} bytes per sample in the .chsync file`);
    assert(exported.frames >= 1);

    const first = await importInto(hubDir, file);
    assert(first.summary.applied > 0);
    assertEquals(first.samples, want);
    const second = await importInto(hubDir, file);
    assertEquals(second.summary.applied, 0);
    assertEquals(second.summary.position, first.summary.position);
    assertEquals(second.samples, want);

    // The live uplink continues from the imported position: no snapshot, new samples arrive.
    const hub2 = await startTestHub({ dir: hubDir, withSeries: true });
    edge = await startTestEdge(hub2.port, "plant", token, { dir: edgeDir });
    store = TimeSeriesStore.open(edge.db, { maintenanceIntervalMs: 0 });
    try {
      await store.madd(
        sensors.map((s) => ({ key: utf8.encode(s.name), ts: 1_950_000_000_000, value: 7 })),
      )
        .durable;
      await edge.uplink.waitForAck(edge.db.lastSeq);
      assertEquals(samplesOf(hub2.timeseries!, "plant/"), samplesOf(store));
      assertEquals(new TextDecoder().decode(await hub2.db.get("plant/note")), "offline");
      assertEquals(hub2.hub.statuses()[0]!.snapshots, 0);
    } finally {
      await store.close();
      await edge.close();
      await hub2.close();
    }
  } finally {
    await removeDir(edgeDir);
    await removeDir(hubDir);
    await Deno.remove(file).catch(() => {});
  }
});

Deno.test("chsync: a version-1 file (RECORDS only, written before CHUNKS) still reads back", async () => {
  const parts: Uint8Array[] = [];
  let crc = 0;
  const frame = (bytes: Uint8Array) => {
    crc = crc32cExtend(crc, bytes, 8, 12);
    parts.push(bytes);
  };
  const begin = encodeExportBegin({
    site: "s",
    edgeId: new Uint8Array(16).fill(2),
    hubId: new Uint8Array(16),
    fromSeq: 1,
    createdMs: 1,
  });
  new DataView(begin.buffer).setUint16(8, 1, true);
  frame(encodeFrame(FRAME_EXPORT_BEGIN, begin));
  const payload = encodeBatch([
    { kind: KIND_PUT, key: utf8.encode("a"), value: utf8.encode("1") },
    { kind: KIND_PUT, key: utf8.encode("b"), value: utf8.encode("2") },
  ]);
  frame(encodeFrame(
    FRAME_RECORDS,
    encodeRecords({
      firstSeq: 1,
      lastSeq: 2,
      edgeDurableSeq: 2,
      behindBytes: 0,
      behindMs: 0,
      payloads: [payload],
    }),
  ));
  const end = new Uint8Array(28);
  const view = new DataView(end.buffer);
  putU64(view, 0, 1);
  putU64(view, 8, 1);
  putU64(view, 16, 2);
  view.setUint32(24, maskCrc(crc), true);
  parts.push(encodeFrame(FRAME_EXPORT_END, end));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  let offset = 0;
  const seen: number[] = [];
  const read = await readExport({
    read(buf) {
      if (offset >= bytes.length) return Promise.resolve(null);
      const n = Math.min(buf.length, bytes.length - offset);
      buf.set(bytes.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  }, (r) => {
    seen.push(...r.records.flatMap((x) => x.entries.map((e) => e.seq)));
  });
  assertEquals(read.lastSeq, 2);
  assertEquals(seen, [1, 2]);
});
