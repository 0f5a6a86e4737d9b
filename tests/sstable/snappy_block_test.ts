/**
 * SSTable data blocks go through the validating Snappy decoder (issue 8.1): a block whose CRC is
 * right but whose Snappy stream is hostile (the 4-byte literal length 0x80000000 that sent
 * SnappyJS into a ~2^31-step loop) is reported as corruption at once.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { RealFs } from "../../src/fs/mod.ts";
import { crc32c, maskCrc, unmaskCrc } from "../../src/util/crc32c.ts";
import { type Entry, KIND_PUT } from "../../src/util/entry.ts";
import { writeTable } from "./_helpers.ts";

/** How long the worker may take to load its modules: long on a loaded machine, not the test. */
const WORKER_START_MS = 120_000;

/**
 * Reads the table at `path` in a worker and answers what it reported; fails when the read itself
 * (timed from when the worker is loaded) takes longer than `deadlineMs`.
 */
function readInWorker(path: string, deadlineMs: number): Promise<Record<string, unknown>> {
  const worker = new Worker(new URL("./_read_table_worker.ts", import.meta.url), {
    type: "module",
  });
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const fail = (what: string, ms: number) =>
      setTimeout(() => {
        worker.terminate();
        reject(new Error(`${what} did not end within ${ms} ms`));
      }, ms);
    let timer = fail("loading the reader worker", WORKER_START_MS);
    worker.onmessage = (e) => {
      clearTimeout(timer);
      if (e.data?.ready === true) {
        timer = fail(`reading ${path}`, deadlineMs);
        worker.postMessage(path);
        return;
      }
      worker.terminate();
      resolve(e.data);
    };
  });
}

Deno.test("Table: a data block with a good CRC and a hostile Snappy stream is CorruptionError, at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-snappy-block-" });
  const path = `${dir}/t.sst`;
  try {
    const fs = new RealFs();
    const entries: Entry[] = Array.from({ length: 50 }, (_, i) => ({
      key: new TextEncoder().encode(`sensor.line.${String(i).padStart(4, "0")}`),
      seq: i + 1,
      kind: KIND_PUT,
      expireAtMs: 0,
      value: new TextEncoder().encode("21.50,21.50,21.50,21.50"),
    }));
    writeTable(fs, path, entries, { blockSizeBytes: 4096, compression: true });
    const bytes = await Deno.readFile(path);
    // The first data block starts at 0; find its trailer (type 1 = Snappy, then its CRC).
    let size = -1;
    for (let s = 8; s + 5 <= bytes.length; s++) {
      const stored = new DataView(bytes.buffer).getUint32(s + 1, true);
      if (bytes[s] === 1 && unmaskCrc(stored) === crc32c(bytes, 0, s + 1)) {
        size = s;
        break;
      }
    }
    assert(size > 8, "no Snappy data block found");
    // Same size: declared length 64, then a literal whose length is 0x80000000 + 1.
    bytes.fill(0, 0, size);
    bytes.set([0x40, 0xfc, 0x00, 0x00, 0x00, 0x80], 0);
    new DataView(bytes.buffer).setUint32(size + 1, maskCrc(crc32c(bytes, 0, size + 1)), true);
    await Deno.writeFile(path, bytes);
    const result = await readInWorker(path, 20_000);
    assertEquals(result.ok, false);
    assertEquals(result.name, "CorruptionError");
    assertMatch(String(result.message), /^Cannot read block: invalid Snappy data at offset 0 in /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
