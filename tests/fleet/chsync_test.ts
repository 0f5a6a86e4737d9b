/**
 * The `.chsync` file on its own: what `ExportWriter` writes reads back whole; a frame removed
 * or repeated, a file cut short, bytes after its end and a flipped bit are refused with a
 * message by the check-only pass `hub import` runs before it applies anything.
 *
 * @module
 */

import { assertEquals, assertRejects } from "@std/assert";
import { ExportWriter, readExport } from "../../src/fleet/chsync.ts";
import { CityHallError } from "../../src/errors.ts";
import { encodeBatch } from "../../src/wal/format.ts";
import { KIND_PUT } from "../../src/util/entry.ts";

const utf8 = new TextEncoder();

function source(bytes: Uint8Array) {
  let at = 0;
  return {
    read(buf: Uint8Array): Promise<number | null> {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(buf.length, bytes.length - at, 1000);
      buf.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

/** An export of 3 RECORDS frames (sequences 5..10), and the offsets of its frames. */
async function sample(): Promise<{ bytes: Uint8Array; frames: [number, number][] }> {
  const parts: Uint8Array[] = [];
  const w = await ExportWriter.begin({
    site: "s",
    edgeId: new Uint8Array(16).fill(1),
    hubId: new Uint8Array(16),
    fromSeq: 5,
    createdMs: 1,
  }, (b) => {
    parts.push(b.slice());
    return Promise.resolve();
  }, 3);
  for (let seq = 5; seq <= 9; seq += 2) {
    const ops = [seq, seq + 1].map((i) => ({
      kind: KIND_PUT,
      key: utf8.encode(`k${i}`),
      value: utf8.encode(`v${i}`),
      expireAtMs: 0,
    } as const));
    await w.records(seq, seq + 1, [encodeBatch(ops)]);
  }
  await w.finish();
  const frames: [number, number][] = [];
  let at = 0;
  for (const p of parts) {
    frames.push([at, at + p.length]);
    at += p.length;
  }
  const bytes = new Uint8Array(at);
  parts.forEach((p, i) => bytes.set(p, frames[i]![0]));
  return { bytes, frames };
}

function without(bytes: Uint8Array, [from, to]: [number, number]): Uint8Array {
  const out = new Uint8Array(bytes.length - (to - from));
  out.set(bytes.subarray(0, from));
  out.set(bytes.subarray(to), from);
  return out;
}

Deno.test("chsync: an export reads back whole, in order", async () => {
  const { bytes } = await sample();
  const seen: number[] = [];
  const read = await readExport(source(bytes), (r) => {
    seen.push(...r.records.flatMap((x) => x.entries.map((e) => e.seq)));
  });
  assertEquals(read.header.site, "s");
  assertEquals(read.header.fromSeq, 5);
  assertEquals(read.lastSeq, 10);
  assertEquals(seen, [5, 6, 7, 8, 9, 10]);
});

Deno.test("chsync: a missing or repeated frame, a cut, trailing bytes or a flipped bit are refused", async () => {
  const { bytes, frames } = await sample();
  const middle = frames[2]!;
  const cases: [string, Uint8Array, string][] = [
    ["missing frame", without(bytes, middle), "leaves a gap after 6"],
    [
      "repeated last frame",
      (() => {
        const last = frames[3]!;
        const out = new Uint8Array(bytes.length + (last[1] - last[0]));
        out.set(bytes.subarray(0, last[1]));
        out.set(bytes.subarray(last[0], last[1]), last[1]);
        out.set(bytes.subarray(last[1]), last[1] + (last[1] - last[0]));
        return out;
      })(),
      "where 11 was expected",
    ],
    ["cut short", bytes.subarray(0, bytes.length - 5), "Cannot read .chsync file"],
    ["no end", bytes.subarray(0, frames[4]![0]), "ends early"],
    [
      "trailing bytes",
      (() => {
        const out = new Uint8Array(bytes.length + 12);
        out.set(bytes);
        return out;
      })(),
      "after EXPORT_END",
    ],
    [
      "flipped bit",
      (() => {
        const out = bytes.slice();
        out[middle[0] + 20] = out[middle[0] + 20]! ^ 4;
        return out;
      })(),
      "checksum mismatch",
    ],
  ];
  for (const [what, data, message] of cases) {
    // A check-only pass (what `hub import` runs first) finds every one of them.
    await assertRejects(
      () => readExport(source(data)),
      CityHallError,
      message,
      what,
    );
  }
});
