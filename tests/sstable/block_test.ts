import { assert, assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { Block, BlockBuilder, blockIterator } from "../../src/sstable/mod.ts";
import { AssertionError } from "../../src/util/assert.ts";
import { compareBytes, toBytes } from "../../src/util/bytes.ts";
import { type Entry, KIND_PUT, type PairBuffer } from "../../src/util/entry.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import {
  assertEntry,
  boundaryTargets,
  checkCollectLive,
  checkFullScan,
  checkSeeks,
  lowerBound,
  prefixTargets,
  randomEntries,
} from "./_helpers.ts";

function blockOf(entries: Entry[], restartInterval?: number): Block {
  const b = new BlockBuilder(restartInterval === undefined ? {} : { restartInterval });
  for (const e of entries) b.add(e.key, e.seq, e.kind, e.expireAtMs, e.value);
  return new Block(b.finish().slice(), "in test");
}

Deno.test("Block round-trips entries and seeks at every boundary", () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  for (const restartInterval of [1, 2, 16]) {
    for (const count of [1, 2, 15, 16, 17, 100]) {
      const entries = randomEntries(rng, count);
      const block = blockOf(entries, restartInterval);
      const it = blockIterator(block);
      checkFullScan(it, entries);
      for (const t of boundaryTargets(entries)) checkSeeks(it, entries, t, 3);
    }
  }
});

Deno.test("BlockIterator.collectLive yields the live entries before a stop key, in chunks", () => {
  // Stops at every boundary (keys, between keys, prefixes of keys, across restart points,
  // which store whole keys) and chunks that end anywhere, with tombstones and expiry.
  const rng = new Rng(seedFromEnv());
  const nowMs = 1_700_000_000_000 + 500_000_000;
  for (const restartInterval of [1, 2, 16]) {
    for (const count of [0, 1, 2, 17, 100]) {
      const entries = randomEntries(rng, count);
      const it = blockIterator(blockOf(entries, restartInterval));
      const targets = boundaryTargets(entries);
      const stops = [...targets, ...prefixTargets(entries)];
      for (const start of targets) {
        const stop = rng.chance(0.2) ? undefined : rng.pick(stops);
        checkCollectLive(it, entries, start, stop, rng.pick([1, 3, 1000]), nowMs);
      }
    }
  }
});

Deno.test("BlockIterator keys of every length stay intact while more keys are handed out", () => {
  // Keys are copied a 32-bit word at a time into shared slabs: lengths that are not multiples
  // of 4, keys that outgrow the iterator's key buffer (64 bytes, then past the slab limit of
  // 512), and thousands of retained keys across many slabs must all keep their own bytes.
  const entries: Entry[] = [];
  for (let len = 1; len <= 700; len++) {
    const key = new Uint8Array(len);
    for (let i = 0; i < len; i++) key[i] = 0x41 + ((i * 7 + len) % 26);
    key[0] = 0x21 + Math.floor(len / 90); // ascending by length in groups
    entries.push({ key, seq: len, kind: KIND_PUT, expireAtMs: 0, value: toBytes(`v${len}`) });
  }
  entries.sort((a, b) => compareBytes(a.key, b.key));
  for (const restartInterval of [1, 16]) {
    const block = blockOf(entries, restartInterval);
    const kept: Uint8Array[] = [];
    for (let round = 0; round < 20; round++) {
      const it = blockIterator(block);
      it.seekToFirst();
      const out: PairBuffer = { pairs: [], count: 0 };
      while (it.valid()) {
        it.collectLive(out, out.count + 7, undefined, 0);
        if (it.valid()) kept.push(it.entry().key);
      }
      assertEquals(out.count, entries.length);
      for (let i = 0; i < out.count; i++) assertEquals(out.pairs[i]![0], entries[i]!.key);
      for (const [k] of out.pairs) kept.push(k);
    }
    // Every key handed out, in every round, still holds its bytes.
    const byLength = new Map(entries.map((e) => [e.key.length, e.key]));
    for (const k of kept) assertEquals(k, byLength.get(k.length));
  }
});

Deno.test("Block.get finds exactly the stored keys, at every boundary and restart interval", () => {
  // The point-lookup path compares keys in place instead of assembling them: it must agree
  // with a seek for every key, for keys just before and after each, and for keys that are
  // prefixes of one another (across restart points, which store whole keys).
  const rng = new Rng(seedFromEnv());
  const chain = ["", "a", "ab", "abc", "abcd", "abce", "abd", "ac", "b", "ba", "bb\xff", "c"]
    .map((k, i): Entry => ({
      key: toBytes(k),
      seq: i + 1,
      kind: KIND_PUT,
      expireAtMs: i % 3 === 0 ? 1_700_000_000_000 + i : 0,
      value: toBytes(k.repeat(3)),
    }));
  for (const restartInterval of [1, 2, 3, 16]) {
    for (const entries of [chain, ...[1, 2, 15, 16, 17, 100].map((n) => randomEntries(rng, n))]) {
      const block = blockOf(entries, restartInterval);
      for (const t of [...boundaryTargets(entries), ...chain.map((e) => e.key)]) {
        const lb = lowerBound(entries, t);
        const exact = lb < entries.length && compareBytes(entries[lb]!.key, t) === 0;
        const got = block.get(t);
        assertEntry(got, exact ? entries[lb] : undefined, `get ${Array.from(t)}`);
        if (got !== undefined) assert(got.key === t, "the entry's key is the lookup key");
      }
    }
  }
  assertEquals(blockOf([]).get(toBytes("a")), undefined);
});

Deno.test("Block with no entries is just a zero restart count", () => {
  const b = new BlockBuilder();
  const bytes = b.finish();
  assertEquals(bytes, new Uint8Array(4));
  const it = blockIterator(new Block(bytes.slice(), "in test"));
  it.seekToFirst();
  assertEquals(it.valid(), false);
  it.seek(toBytes("a"));
  assertEquals(it.valid(), false);
  it.seekForPrev(toBytes("a"));
  assertEquals(it.valid(), false);
});

Deno.test("BlockBuilder prefix-compresses keys between restart points", () => {
  const b = new BlockBuilder({ restartInterval: 16 });
  for (let i = 0; i < 32; i++) {
    b.add(toBytes(`sensor.ams.temp.${1000 + i}`), i + 1, KIND_PUT, 0, toBytes("21.5"));
  }
  const bytes = b.finish();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assertEquals(view.getUint32(bytes.length - 4, true), 2);
  // Restart 1 begins at entry 16, which stores its whole key (shared = 0).
  const r1 = view.getUint32(bytes.length - 8, true);
  assertEquals(bytes[r1], 0);
  assert(bytes.length < 32 * 30, `${bytes.length} bytes`);
});

Deno.test("BlockBuilder asserts strictly ascending keys", () => {
  const b = new BlockBuilder();
  b.add(toBytes("b"), 1, KIND_PUT, 0, new Uint8Array(0));
  assertThrows(() => b.add(toBytes("b"), 1, KIND_PUT, 0, new Uint8Array(0)), AssertionError);
  assertThrows(() => b.add(toBytes("a"), 1, KIND_PUT, 0, new Uint8Array(0)), AssertionError);
});

Deno.test("Block decoding of arbitrary bytes throws only CorruptionError", () => {
  const rng = new Rng(seedFromEnv());
  const good = blockOf(randomEntries(rng, 40), 4);
  const raw = good.data;
  for (let trial = 0; trial < 3000; trial++) {
    const bytes = raw.slice();
    const flips = 1 + rng.int(4);
    for (let f = 0; f < flips; f++) bytes[rng.int(bytes.length)] = rng.int(256);
    const cut = rng.chance(0.2) ? bytes.subarray(0, rng.int(bytes.length)) : bytes;
    try {
      const it = blockIterator(new Block(cut, "in test"));
      let n = 0;
      for (it.seekToFirst(); it.valid() && n < 1000; it.next()) {
        it.entry();
        n++;
      }
      for (it.seekToLast(); it.valid() && n < 2000; it.prev()) n++;
      it.seek(rng.bytes(rng.int(8)));
      if (it.valid()) it.entry();
      it.seekForPrev(rng.bytes(rng.int(8)));
      new Block(cut, "in test").get(rng.bytes(rng.int(8)));
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      assert(err.message.startsWith("Cannot decode block: "), err.message);
      assert(err.message.endsWith("in test"), err.message);
    }
  }
});
