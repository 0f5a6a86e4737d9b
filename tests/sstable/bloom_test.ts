import { assert, assertEquals } from "@std/assert";
import {
  BloomFilter,
  bloomHash,
  bloomProbeCount,
  buildBloomFilter,
} from "../../src/sstable/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";

function filterOf(keys: Uint8Array[], bitsPerKey: number): BloomFilter {
  const hashes = Uint32Array.from(keys.map(bloomHash));
  const filter = BloomFilter.decode(buildBloomFilter(hashes, hashes.length, bitsPerKey));
  if (filter === undefined) throw new Error("Filter did not decode");
  return filter;
}

Deno.test("bloomHash matches LevelDB's Hash test vectors (seed 0xbc9f1d34)", () => {
  const h = (bytes: number[]) => bloomHash(new Uint8Array(bytes));
  assertEquals(h([]), 0xbc9f1d34);
  assertEquals(h([0x62]), 0xef1345c4);
  assertEquals(h([0xc3, 0x97]), 0x5b663814);
  assertEquals(h([0xe2, 0x99, 0xa5]), 0x323c078f);
  assertEquals(h([0xe1, 0x80, 0xb9, 0x32]), 0xed21633a);
});

Deno.test("bloomProbeCount is round(bits × 0.69) within [1, 30]", () => {
  assertEquals(bloomProbeCount(10), 7);
  assertEquals(bloomProbeCount(1), 1);
  assertEquals(bloomProbeCount(100), 30);
});

Deno.test("BloomFilter has no false negatives and ~1% false positives at 10 bits/key", () => {
  for (const n of [1, 10, 100, 1000, 10_000, 100_000]) {
    const keys = Array.from({ length: n }, (_, i) => toBytes(`key-${i}`));
    const filter = filterOf(keys, 10);
    for (const k of keys) assert(filter.mayContain(k), `false negative n=${n}`);
    let fp = 0;
    const probes = 10_000;
    for (let i = 0; i < probes; i++) if (filter.mayContain(toBytes(`other-${i}`))) fp++;
    const rate = fp / probes;
    // LevelDB's bloom_test allows 2%; tiny filters are held to the 64-bit minimum instead.
    if (n >= 1000) assert(rate < 0.02, `n=${n} rate=${rate}`);
    if (n >= 10_000) assert(rate > 0.003, `n=${n} rate=${rate} suspiciously low`);
  }
});

Deno.test("BloomFilter.decode rejects malformed filters", () => {
  assertEquals(BloomFilter.decode(new Uint8Array(3)), undefined);
  const bad = new Uint8Array(9);
  bad[8] = 0;
  assertEquals(BloomFilter.decode(bad), undefined);
  bad[8] = 31;
  assertEquals(BloomFilter.decode(bad), undefined);
  bad[8] = 7;
  assert(BloomFilter.decode(bad) !== undefined);
});

Deno.test("BloomFilter of sequential sensor keys keeps its false-positive rate", () => {
  const keys = Array.from(
    { length: 50_000 },
    (_, i) => toBytes(`sensor.ams.temp.${1_700_000_000_000 + i * 1000}`),
  );
  const filter = filterOf(keys, 10);
  let fp = 0;
  for (let i = 0; i < 10_000; i++) {
    if (filter.mayContain(toBytes(`sensor.ams.temp.${1_700_000_000_500 + i * 1000}`))) fp++;
  }
  assert(fp / 10_000 < 0.02, `rate=${fp / 10_000}`);
});
