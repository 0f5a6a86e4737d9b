import { assert, assertEquals } from "@std/assert";
import { Block, BlockBuilder, BlockCache } from "../../src/sstable/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { KIND_PUT } from "../../src/util/entry.ts";

function blockOf(bytes: number): Block {
  const b = new BlockBuilder();
  b.add(toBytes("k"), 1, KIND_PUT, 0, new Uint8Array(bytes));
  return new Block(b.finish().slice(), "in test");
}

Deno.test("BlockCache evicts least recently used blocks by bytes", () => {
  const block = blockOf(1000);
  const charge = block.chargeBytes;
  const cache = new BlockCache(charge * 3);
  cache.insert(1, 0, block);
  cache.insert(1, 100, block);
  cache.insert(2, 0, block);
  assertEquals(cache.size, 3);
  assertEquals(cache.usageBytes, charge * 3);
  // Touch (1, 0) so that (1, 100) is the least recently used.
  assert(cache.get(1, 0) === block);
  cache.insert(3, 0, block);
  assertEquals(cache.size, 3);
  assertEquals(cache.get(1, 100), undefined);
  assert(cache.get(1, 0) !== undefined);
  assert(cache.get(2, 0) !== undefined);
  assert(cache.get(3, 0) !== undefined);
  assertEquals(cache.hits, 4);
  assertEquals(cache.misses, 1);
  assert(cache.usageBytes <= cache.capacityBytes);
});

Deno.test("BlockCache evicts several small blocks for one big block", () => {
  const small = blockOf(100);
  const big = blockOf(5000);
  const cache = new BlockCache(big.chargeBytes + small.chargeBytes);
  for (let i = 0; i < 5; i++) cache.insert(1, i, small);
  cache.insert(1, 99, big);
  assert(cache.usageBytes <= cache.capacityBytes);
  assert(cache.get(1, 99) === big);
  assertEquals(cache.get(1, 0), undefined);
});

Deno.test("BlockCache does not cache a block larger than its capacity", () => {
  const cache = new BlockCache(100);
  cache.insert(1, 0, blockOf(1000));
  assertEquals(cache.size, 0);
  assertEquals(cache.usageBytes, 0);
  const off = new BlockCache(0);
  off.insert(1, 0, blockOf(1));
  assertEquals(off.get(1, 0), undefined);
});

Deno.test("BlockCache.evictFile drops only that file's blocks", () => {
  const block = blockOf(10);
  const cache = new BlockCache(1 << 20);
  for (let i = 0; i < 10; i++) {
    cache.insert(7, i * 4096, block);
    cache.insert(8, i * 4096, block);
  }
  cache.evictFile(7);
  assertEquals(cache.size, 10);
  assertEquals(cache.usageBytes, block.chargeBytes * 10);
  for (let i = 0; i < 10; i++) {
    assertEquals(cache.get(7, i * 4096), undefined);
    assert(cache.get(8, i * 4096) !== undefined);
  }
  cache.evictFile(7);
  cache.evictFile(99);
  // Eviction after evictFile still walks a consistent list.
  const tight = new BlockCache(block.chargeBytes * 2);
  tight.insert(1, 0, block);
  tight.insert(2, 0, block);
  tight.evictFile(1);
  tight.insert(3, 0, block);
  tight.insert(4, 0, block);
  assertEquals(tight.size, 2);
  assertEquals(tight.get(2, 0), undefined);
});

Deno.test("BlockCache re-inserting a key replaces the block", () => {
  const a = blockOf(10);
  const b = blockOf(20);
  const cache = new BlockCache(1 << 20);
  cache.insert(1, 0, a);
  cache.insert(1, 0, b);
  assertEquals(cache.size, 1);
  assertEquals(cache.usageBytes, b.chargeBytes);
  assert(cache.get(1, 0) === b);
  cache.clear();
  assertEquals(cache.size, 0);
});

Deno.test("BlockCache handles: touch hits while cached, empty once evicted, dropped, or cleared", () => {
  // A table keeps the handle of each block it read; a handle must never hand out (or keep
  // alive) a block the cache no longer charges for.
  const block = blockOf(1000);
  const cache = new BlockCache(block.chargeBytes * 2);
  const a = cache.insert(1, 0, block)!;
  const b = cache.insert(1, 100, block)!;
  assert(cache.touch(a) === block);
  assertEquals(cache.hits, 1);
  // (1, 100) is now the least recently used: a third block evicts it.
  const c = cache.insert(2, 0, block)!;
  assertEquals(b.block, undefined);
  assertEquals(cache.touch(b), undefined);
  assertEquals(cache.hits, 1, "a touch of an evicted handle is not a hit");
  assert(cache.lookup(1, 0) === a, "lookup returns the same handle");
  cache.evictFile(2);
  assertEquals(c.block, undefined);
  assertEquals(cache.touch(c), undefined);
  cache.clear();
  assertEquals(a.block, undefined);
  assertEquals(cache.touch(a), undefined);
  assertEquals(cache.insert(1, 0, blockOf(10_000)), undefined, "too large: no handle");
  assertEquals(cache.size, 0);
});
