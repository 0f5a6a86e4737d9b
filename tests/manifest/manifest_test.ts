import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import {
  decodeManifest,
  encodeManifest,
  loadManifest,
  type ManifestState,
  newManifestState,
  saveManifest,
} from "../../src/manifest/mod.ts";

function sample(): ManifestState {
  const state = newManifestState();
  state.nextFileNumber = 12;
  state.flushedSeq = 123_456_789_012;
  state.tables = [
    {
      fileNumber: 11,
      level: 0,
      sizeBytes: 4096,
      entries: 10,
      minSeq: 5,
      maxSeq: 99,
      smallestKey: new Uint8Array([0]),
      largestKey: new Uint8Array([0xff, 0xff]),
    },
    {
      fileNumber: 3,
      level: 2,
      sizeBytes: 1 << 30,
      entries: 1e7,
      minSeq: 1,
      maxSeq: 4,
      smallestKey: new TextEncoder().encode("a"),
      largestKey: new TextEncoder().encode("z"),
    },
  ];
  return state;
}

Deno.test("Manifest round-trips through encode and decode", () => {
  const state = sample();
  assertEquals(decodeManifest(encodeManifest(state)), state);
});

Deno.test("Manifest: every flipped byte gives CorruptionError", () => {
  const bytes = encodeManifest(sample());
  for (let i = 0; i < bytes.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = bytes.slice();
      bad[i] = bad[i]! ^ bit;
      assertThrows(() => decodeManifest(bad), CorruptionError, undefined, `byte ${i}`);
    }
  }
});

Deno.test("Manifest: every truncation gives CorruptionError", () => {
  const bytes = encodeManifest(sample());
  for (let n = 0; n < bytes.length; n++) {
    assertThrows(() => decodeManifest(bytes.subarray(0, n)), CorruptionError);
  }
});

Deno.test("saveManifest() survives power loss as either the old or the new state", () => {
  const fs = new FaultFs();
  fs.mkdirp("/db");
  const old = sample();
  saveManifest(fs, "/db", old);
  const next = { ...old, flushedSeq: old.flushedSeq + 1 };
  // Crash after each possible number of completed syncs/renames inside saveManifest.
  for (let failAt = 1; failAt <= 3; failAt++) {
    const fresh = new FaultFs();
    fresh.mkdirp("/db");
    saveManifest(fresh, "/db", old);
    fresh.failAfter({ sync: failAt });
    try {
      saveManifest(fresh, "/db", next);
    } catch { /* injected */ }
    fresh.heal();
    fresh.powerLoss();
    const loaded = loadManifest(fresh, "/db");
    const ok = loaded !== undefined &&
      (loaded.flushedSeq === old.flushedSeq || loaded.flushedSeq === next.flushedSeq);
    assertEquals(ok, true, `failAt ${failAt}`);
  }
  saveManifest(fs, "/db", next);
  fs.powerLoss();
  assertEquals(loadManifest(fs, "/db")?.flushedSeq, next.flushedSeq);
});

Deno.test("Manifest: a checksummed manifest with a level past LSM_LEVELS_MAX is CorruptionError", () => {
  const tooDeep = sample();
  tooDeep.tables[0]!.level = 64;
  assertThrows(() => decodeManifest(encodeManifest(tooDeep)), CorruptionError, "level 64");
});

Deno.test("Manifest: a forked history round-trips as version 2; an unforked one stays version 1", () => {
  const plain = sample();
  const v1 = encodeManifest(plain);
  assertEquals(new DataView(v1.buffer).getUint32(8, true), 1);
  const back = decodeManifest(v1);
  assertEquals(back.historyId, plain.databaseId);
  assertEquals(back.ancestors, []);
  const forked: ManifestState = {
    ...plain,
    historyId: new Uint8Array(16).fill(7),
    ancestors: [
      { historyId: plain.databaseId, forkSeq: 12_648 },
      { historyId: new Uint8Array(16).fill(3), forkSeq: 99_000 },
    ],
  };
  const v2 = encodeManifest(forked);
  assertEquals(new DataView(v2.buffer).getUint32(8, true), 2);
  assertEquals(decodeManifest(v2), forked);
  for (let i = 0; i < v2.length; i++) {
    const bad = v2.slice();
    bad[i] = bad[i]! ^ 0x20;
    assertThrows(() => decodeManifest(bad), CorruptionError, undefined, `byte ${i}`);
  }
});
