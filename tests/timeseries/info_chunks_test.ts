/**
 * TS.INFO's chunk count and DEBUG chunk list as RedisTimeSeries 1.8 shows them, whose next chunk
 * is opened by the sample that no longer fits the last one (its flow tests
 * test_ts_del_multi_chunk and test_ts_del_last_chunk).
 */
import { assertEquals } from "@std/assert";
import { type Plain, withServer } from "./_resp.ts";

const OK = "+OK";

Deno.test("TS.INFO counts no empty chunk after full ones, as RedisTimeSeries (its flow test test_ts_del_multi_chunk)", async () => {
  await withServer(async (c) => {
    const chunkCount = async () => {
      const info = await c.send("TS.INFO", "k", "DEBUG") as Plain[];
      const chunks = info[info.indexOf("+Chunks") + 1] as Plain[];
      const count = Number(info[info.indexOf("+chunkCount") + 1]);
      assertEquals(chunks.length, count);
      return count;
    };
    assertEquals(await c.send("TS.CREATE", "k", "CHUNK_SIZE", "48"), OK);
    assertEquals(await chunkCount(), 1); // A new series shows its one empty chunk.
    let n = 0;
    while (await chunkCount() < 2) assertEquals(await c.send("TS.ADD", "k", ++n, "1"), n);
    // The sample that opened the second chunk is the only one left after the first is deleted.
    assertEquals(await c.send("TS.DEL", "k", 0, n - 1), n - 1);
    assertEquals(await chunkCount(), 1);
    assertEquals(await c.send("TS.RANGE", "k", 0, n), [[n, "+1"]]);
    assertEquals(await c.send("TS.DEL", "k", 0, n), 1);
    assertEquals(await chunkCount(), 1);
    // A delete that empties the newest chunk keeps it (test_ts_del_last_chunk): chunks of 48,
    // 48, 48 and a head of 6; deleting the last 50 samples leaves 48, 48, 4 and an empty head.
    for (let t = 1; t <= 150; t++) await c.send("TS.ADD", "k", 1000 + t, "2");
    assertEquals(await chunkCount(), 4);
    assertEquals(await c.send("TS.DEL", "k", 1101, 1150), 50);
    assertEquals(await chunkCount(), 4);
  });
});
