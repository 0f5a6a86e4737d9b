/**
 * `cityhall verify` decodes every sealed time-series chunk (ARCHITECTURE.md § "Verify and
 * salvage"): a chunk damaged before its table block's checksum was computed (a bit flipped in
 * memory, a bug) passes every block check, so only decoding it finds it. Each damaged chunk
 * is reported with its file, offset and key, in tables and in WAL records.
 *
 * @module
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { printableKey, verifyDirectory } from "../../src/verify/mod.ts";
import { encodeChunk } from "../../src/timeseries/codec.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { chunkKey } from "../../src/timeseries/log.ts";
import { crc32c, maskCrc } from "../../src/util/crc32c.ts";
import { SERIES_CHUNK_CHECK } from "../../src/cli/_verify_chunks.ts";
import { runCli } from "../cli/_helpers.ts";

function chunk(n: number, firstTs: number): Uint8Array {
  const ts: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    ts.push(firstTs + 1000 * i + (i % 3));
    values.push(20 + (i % 7) / 10);
  }
  return encodeChunk(ts, values, n);
}

/** `c` with its sample count (byte 1, a one-byte varint here) set to `count`, CRC redone. */
function withCount(c: Uint8Array, count: number): Uint8Array {
  const out = c.slice();
  out[1] = count;
  new DataView(out.buffer).setUint32(out.length - 4, maskCrc(crc32c(out, 0, out.length - 4)), true);
  return out;
}

Deno.test("verify: damaged time-series chunks are found in tables and the WAL, with file, offset and key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-verify-chunks-" });
  try {
    const good = chunk(100, 1_700_000_000_000);
    const flipped = chunk(100, 1_700_000_100_000);
    flipped[20] = flipped[20]! ^ 0x10;
    const miscounted = withCount(chunk(50, 1_700_000_000_000), 60);
    const badKeys = [chunkKey(7, 1_700_000_100_000), chunkKey(8, 1_700_000_000_000)];
    const db = await Database.open(dir);
    await db.write([
      { type: "put", key: chunkKey(7, 1_700_000_000_000), value: good },
      { type: "put", key: badKeys[0]!, value: flipped },
      { type: "put", key: badKeys[1]!, value: miscounted },
      { type: "put", key: "plain", value: "string" },
    ]);
    await db.flush();
    await db.close();

    // Without the chunk check every block checks: the damage is inside the values.
    assert((await verifyDirectory(new RealFs(), dir)).clean);

    const report = await verifyDirectory(new RealFs(), dir, { valueChecks: [SERIES_CHUNK_CHECK] });
    assert(!report.clean);
    const found = report.findings.filter((f) => f.part === "time-series chunk");
    const inTables = found.filter((f) => f.file.endsWith(".sst"));
    assertEquals(inTables.map((f) => printableKey(f.key!)), badKeys.map(printableKey));
    for (const f of found) {
      assertEquals(f.severity, "corrupt");
      assertStringIncludes(f.reason, `at offset ${f.offset} in ${f.file}`);
    }
    assertStringIncludes(inTables[0]!.reason, "checksum");
    assertStringIncludes(inTables[0]!.reason, "series version 7");
    assertStringIncludes(inTables[1]!.reason, "series version 8");
    // The WAL still holds the batch: its record is reported too, once per damaged chunk.
    const inWal = found.filter((f) => f.file.includes("/wal/"));
    assertEquals(inWal.map((f) => printableKey(f.key!)), badKeys.map(printableKey));
    assertEquals(found.length, 4);

    const cli = await runCli(["verify", "--data-dir", dir]);
    assertEquals(cli.code, 1, cli.stdout + cli.stderr);
    const lines = cli.stdout.split("\n").filter((l) => l.includes('part="time-series chunk"'));
    assertEquals(lines.length, 4, cli.stdout);
    assertStringIncludes(lines[0]!, `key=${printableKey(badKeys[0]!)}`);
    assertStringIncludes(cli.stdout, "verify=corrupt");
    // The WAL holds the same damaged chunks: --repair cannot rebuild the table from it.
    const repair = await runCli(["verify", "--data-dir", dir, "--repair"]);
    assertEquals(repair.code, 1, repair.stdout + repair.stderr);
    assertStringIncludes(repair.stdout, "the WAL holds the same damaged value");
    assert(!/^repaired=/m.test(repair.stdout), repair.stdout);
    assert((await Deno.stat(inTables[0]!.file)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verify: the chunks the time-series store seals check clean", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-verify-chunks-ok-" });
  try {
    const db = await Database.open(dir);
    const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    for (let s = 0; s < 5; s++) {
      const key = new TextEncoder().encode(`sensor_${s}`);
      await store.create(key, { chunkSizeBytes: 256 }).durable;
      const batch = [];
      for (let i = 0; i < 3000; i++) {
        batch.push({ key, ts: 1_700_000_000_000 + 1000 * i + (i % 5), value: 20 + (i % 11) / 10 });
      }
      await store.madd(batch).durable;
    }
    await store.close();
    const chunks = db.readRange({
      start: new Uint8Array([0xff, 0x03]),
      end: new Uint8Array([0xff, 0x04]),
    }, { limit: 100_000 });
    assert(chunks.length >= 20, `${chunks.length} sealed chunks`);
    await db.flush();
    await db.close();
    const cli = await runCli(["verify", "--data-dir", dir]);
    assertEquals(cli.code, 0, cli.stdout + cli.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
