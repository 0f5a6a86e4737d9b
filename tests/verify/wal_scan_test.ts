import { assert, assertEquals } from "@std/assert";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { scanSegment } from "../../src/verify/mod.ts";
import { encodeBatch, encodeRecordV2, encodeSegmentHeader } from "../../src/wal/mod.ts";

const enc = new TextEncoder();
const PATH = "/w/000001.wal";

/** A segment of `n` one-put records (key-i = v-i) and its record offsets. */
function segment(n: number) {
  const parts: Uint8Array[] = [encodeSegmentHeader(1)];
  const offsets: number[] = [];
  let at = 32;
  for (let i = 0; i < n; i++) {
    // Each record acknowledged before the next: synced through its own offset.
    const r = encodeRecordV2(
      i + 1,
      1,
      encodeBatch([{ kind: 1, key: enc.encode(`key-${i}`), value: enc.encode(`v-${i}`) }]),
      at,
    );
    offsets.push(at);
    at += r.length;
    parts.push(r);
  }
  parts.push(new Uint8Array(256));
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (bytes.set(p, o), o + p.length), 0);
  return { bytes, offsets, end: at };
}

function scan(bytes: Uint8Array) {
  const fs = new FaultFs();
  fs.mkdirp("/w");
  const file = fs.open(PATH, { write: true, create: true });
  file.writeAt(bytes, 0);
  file.close();
  const keys: string[] = [];
  const result = scanSegment(
    fs,
    PATH,
    (_seq, entries) => keys.push(...entries.map((e) => fromBytes(e.key))),
  );
  return { result, keys };
}

Deno.test("scanSegment() reads every record of a clean segment and reports nothing", () => {
  const { bytes } = segment(20);
  const { result, keys } = scan(bytes);
  assertEquals([result.records, result.firstSeq, result.lastSeq, result.findings, result.tail], [
    20,
    1,
    20,
    [],
    undefined,
  ]);
  assertEquals(keys.length, 20);
});

Deno.test("scanSegment() skips a damaged record, names its offset and size, and reads on", () => {
  const { bytes, offsets } = segment(20);
  const bad = bytes.slice();
  bad[offsets[7]! + 20] = bad[offsets[7]! + 20]! ^ 1;
  const { result, keys } = scan(bad);
  assertEquals(result.records, 19);
  assertEquals(keys.includes("key-7"), false);
  assertEquals(keys.includes("key-8"), true);
  assertEquals(result.findings.map((f) => [f.part, f.offset, f.sizeBytes]), [[
    "WAL record",
    offsets[7],
    offsets[8]! - offsets[7]!,
  ]]);
});

Deno.test("scanSegment() reports a bad header and still reads the records; reports a torn tail apart", () => {
  const { bytes, offsets, end } = segment(10);
  const bad = bytes.slice();
  bad[3] = 0;
  const header = scan(bad);
  assertEquals(header.result.records, 10);
  assertEquals(header.result.findings.map((f) => [f.part, f.offset]), [["WAL segment header", 0]]);
  const torn = bytes.slice(0, end + 256);
  torn.fill(0xaa, offsets[9]! + 5, end); // the last record half overwritten
  const tail = scan(torn);
  assertEquals(tail.result.records, 9);
  assertEquals(tail.result.findings, []);
  assertEquals(tail.result.tail?.offset, offsets[9]);
  assert(tail.result.tail!.reason.length > 0);
});
