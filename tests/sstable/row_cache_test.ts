import { assert, assertEquals } from "@std/assert";
import { bloomHash, type CachedRow, RowCache } from "../../src/sstable/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { type Entry, KIND_DELETE, KIND_PUT } from "../../src/util/entry.ts";
import { ROW_CACHE_ROW_OVERHEAD_BYTES } from "../../src/limits.ts";

function entryOf(key: string, value: string, seq = 7): Entry {
  return { key: toBytes(key), seq, kind: KIND_PUT, expireAtMs: 0, value: toBytes(value) };
}

/** A get, and on a miss the offer a reader makes after asking the tables. */
function read(cache: RowCache, key: string, found: Entry | undefined): CachedRow | undefined {
  const k = toBytes(key);
  const h = bloomHash(k);
  const hit = cache.get(k, h);
  if (hit !== undefined) return hit;
  if (found !== undefined) cache.offer(k, h, found);
  return undefined;
}

Deno.test("RowCache admits a key on its second miss and then answers with a copy", () => {
  const cache = new RowCache(1024 * 1024);
  const source = entryOf("sensor.a", "v1");
  assertEquals(read(cache, "sensor.a", source), undefined); // first miss: remembered
  assertEquals(read(cache, "sensor.a", source), undefined); // second miss: admitted
  const hit = read(cache, "sensor.a", source)!;
  assert(hit !== undefined);
  assertEquals(hit.value, toBytes("v1"));
  assertEquals([hit.seq, hit.kind, hit.expireAtMs], [7, KIND_PUT, 0]);
  // A copy: the source's buffers may change (a reader's key buffer is reused) without effect.
  source.value[0] = 0x58;
  assertEquals(read(cache, "sensor.a", source)!.value, toBytes("v1"));
  assertEquals(cache.hits, 2);
  assertEquals(cache.misses, 2);
  assertEquals(cache.chargedBytes, 8 + 2 + ROW_CACHE_ROW_OVERHEAD_BYTES);
});

Deno.test("RowCache keeps tombstones and expiry times as the tables had them", () => {
  const cache = new RowCache(1024 * 1024);
  const dead: Entry = {
    key: toBytes("d"),
    seq: 3,
    kind: KIND_DELETE,
    expireAtMs: 0,
    value: new Uint8Array(0),
  };
  const ttl: Entry = {
    key: toBytes("t"),
    seq: 4,
    kind: KIND_PUT,
    expireAtMs: 2 ** 40 + 5,
    value: toBytes("x"),
  };
  for (let i = 0; i < 2; i++) {
    read(cache, "d", dead);
    read(cache, "t", ttl);
  }
  const d = read(cache, "d", dead)!;
  assertEquals([d.kind, d.value.length, d.seq], [KIND_DELETE, 0, 3]);
  assertEquals(read(cache, "t", ttl)!.expireAtMs, 2 ** 40 + 5);
});

Deno.test("RowCache.clear drops every row, and views handed out stay intact", () => {
  const cache = new RowCache(1024 * 1024);
  const e = entryOf("k", "value");
  read(cache, "k", e);
  read(cache, "k", e);
  const held = read(cache, "k", e)!;
  cache.clear(5);
  assertEquals(cache.generation, 5);
  assertEquals(cache.chargedBytes, 0);
  assertEquals(read(cache, "k", undefined), undefined);
  // New rows go to a new chunk: the bytes of the view held stay as they were.
  for (let i = 0; i < 100; i++) {
    const other = entryOf(`other${i}`, "zzzzz");
    read(cache, `other${i}`, other);
    read(cache, `other${i}`, other);
  }
  assertEquals(held.value, toBytes("value"));
});

Deno.test("RowCache does not admit keys read once each (a scan's pattern)", () => {
  const cache = new RowCache(1024 * 1024);
  for (let i = 0; i < 5000; i++) read(cache, `key${i}`, entryOf(`key${i}`, "v"));
  // Admitting every key would charge 5,000 rows; the doorkeeper admits only the few whose bit
  // another key had set.
  const everyRow = 5000 * (7 + 1 + ROW_CACHE_ROW_OVERHEAD_BYTES);
  assert(cache.chargedBytes < everyRow / 4, `charged ${cache.chargedBytes} of ${everyRow}`);
});

Deno.test("RowCache stays within its byte budget, starting over when full", () => {
  const capacity = 64 * 1024;
  const cache = new RowCache(capacity);
  const value = "v".repeat(100);
  let hits = 0;
  for (let i = 0; i < 2000; i++) {
    const key = `key${i}`;
    // Read three times: missed, admitted, served.
    for (let j = 0; j < 3; j++) if (read(cache, key, entryOf(key, value)) !== undefined) hits++;
    assert(cache.chargedBytes <= capacity, `charged ${cache.chargedBytes} > ${capacity}`);
  }
  // At least the third read of each key hits (the doorkeeper's false positives admit some
  // keys at their first miss already).
  assert(hits >= 2000, `${hits} hits`);
  assert(cache.chargedBytes > 0);
});

Deno.test("RowCache refuses rows larger than a sixteenth of its budget, and a 0 budget caches nothing", () => {
  const cache = new RowCache(16 * 1024);
  const big = entryOf("big", "x".repeat(2000));
  for (let i = 0; i < 3; i++) assertEquals(read(cache, "big", big), undefined);
  assertEquals(cache.chargedBytes, 0);
  const off = new RowCache(0);
  const e = entryOf("k", "v");
  for (let i = 0; i < 3; i++) assertEquals(read(off, "k", e), undefined);
  assertEquals(off.chargedBytes, 0);
});

Deno.test("RowCache tells apart keys of equal hash", () => {
  const cache = new RowCache(1024 * 1024);
  const a = toBytes("a");
  const b = toBytes("b");
  const h = 12345;
  const ea = entryOf("a", "A");
  for (let i = 0; i < 2; i++) {
    if (cache.get(a, h) === undefined) cache.offer(a, h, ea);
  }
  assertEquals(cache.get(a, h)?.value, toBytes("A"));
  assertEquals(cache.get(b, h), undefined);
});

Deno.test("RowCache: a key whose two buckets are full replaces a row not hit since it was last passed", () => {
  const cache = new RowCache(1024 * 1024);
  // One hash for every key: they share the same two buckets of four slots (and the
  // doorkeeper's bit, so after the first miss every key is admitted at once).
  const hash = 99;
  const offer = (k: string) => {
    const key = toBytes(k);
    if (cache.get(key, hash) === undefined) {
      cache.offer(key, hash, { key, seq: 1, kind: KIND_PUT, expireAtMs: 0, value: key });
    }
  };
  const cached = (k: string) => cache.get(toBytes(k), hash) !== undefined;
  const eight = ["a", "b", "c", "d", "e", "f", "g", "h"];
  offer("a");
  for (const k of eight) offer(k);
  assert(eight.every(cached)); // all eight hit: all referenced
  offer("i"); // a sweep clears the bits, then the first slot goes
  assertEquals([...eight, "i"].map(cached), [
    false,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
  // The other rows were hit again just now; a tenth key takes the slot of the first row the
  // sweep finds unreferenced after clearing: again the first slot ("i").
  cache.get(toBytes("b"), hash);
  offer("j");
  assert(cached("j"));
  assertEquals(["b", "c", "d", "e", "f", "g", "h", "j"].every(cached), true);
  assert(!cached("i"));
});

Deno.test("RowCache: keys one bucket cannot hold all stay cached, in their second bucket", () => {
  const cache = new RowCache(1024 * 1024);
  const hash = 4242;
  const keys = ["k1", "k2", "k3", "k4", "k5", "k6"];
  for (let round = 0; round < 3; round++) {
    for (const k of keys) {
      const key = toBytes(k);
      if (cache.get(key, hash) === undefined) {
        cache.offer(key, hash, { key, seq: 1, kind: KIND_PUT, expireAtMs: 0, value: key });
      }
    }
  }
  const before = cache.misses;
  for (let round = 0; round < 5; round++) {
    for (const k of keys) assertEquals(cache.get(toBytes(k), hash)?.value, toBytes(k));
  }
  assertEquals(cache.misses, before);
});

Deno.test("RowCache tells apart keys of equal hash and length wherever they differ", () => {
  const cache = new RowCache(1024 * 1024);
  const hash = 777;
  // Lengths around the word boundaries and past the 64 bytes compared as words; a row of odd
  // length before each, so that rows do not all start where a chunk's words do.
  for (const n of [1, 3, 4, 5, 31, 64, 65, 67, 100, 300]) {
    const base = new Uint8Array(n).map((_, i) => 0x61 + (i % 26));
    const variants = [base];
    for (const at of [0, n >> 1, n - 1, Math.min(n - 1, 63), Math.min(n - 1, 64)]) {
      const v = base.slice();
      v[at] = v[at]! ^ 0x20;
      if (!variants.some((x) => x.every((b, i) => b === v[i]))) variants.push(v);
    }
    const odd = toBytes(`odd${n}`);
    const other = 1000 + n;
    for (let i = 0; i < 2; i++) {
      if (cache.get(odd, other) === undefined) {
        cache.offer(odd, other, { key: odd, seq: 1, kind: KIND_PUT, expireAtMs: 0, value: odd });
      }
    }
    // Only the first variant is cached (twice offered); every other one must miss.
    for (let i = 0; i < 2; i++) {
      if (cache.get(base, hash) === undefined) {
        cache.offer(base, hash, { key: base, seq: n, kind: KIND_PUT, expireAtMs: 0, value: odd });
      }
    }
    assertEquals(cache.get(base.slice(), hash)?.seq, n, `length ${n}`);
    for (const v of variants.slice(1)) assertEquals(cache.get(v, hash), undefined, `length ${n}`);
    cache.clear(n);
  }
});
