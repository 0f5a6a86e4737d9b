/**
 * kill -9 of a `cityhall serve` child while clients write hashes, sets, sorted sets and lists:
 * after a restart on the same data directory every acknowledged write is there, each key's
 * metadata agrees with its members (HLEN = fields listed, LLEN = items listed …), and lists hold
 * an acknowledged prefix in order.
 */
import { assertEquals } from "@std/assert";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";

Deno.test("acknowledged type writes survive kill -9, and sizes match members", async () => {
  const [dir, cleanup] = await tempDir();
  let serve = await startServe(dir, ["--no-http"]);
  const acked = { list: 0, hash: 0, set: 0, zset: 0 };
  try {
    const writers = await Promise.all(
      [0, 1, 2, 3].map(() => connectRedis(serve.port, { protocol: 2 })),
    );
    let stop = false;
    const loops = writers.map(async (r, w) => {
      for (let i = 0; !stop; i++) {
        try {
          if (w === 0) {
            await r.rpush("l", String(i));
            acked.list = i + 1;
          } else if (w === 1) {
            await r.hset("h", `f${i}`, String(i));
            acked.hash = i + 1;
          } else if (w === 2) {
            await r.sadd("s", `m${i}`);
            acked.set = i + 1;
          } else {
            await r.zadd("z", i, `m${i}`);
            acked.zset = i + 1;
          }
        } catch {
          return;
        }
      }
    });
    while (acked.list < 200 || acked.hash < 200 || acked.set < 200 || acked.zset < 200) {
      await new Promise((res) => setTimeout(res, 20));
    }
    await serve.stop("SIGKILL");
    stop = true;
    await Promise.all(loops);
    for (const r of writers) r.disconnect();
    serve = await startServe(dir, ["--no-http"]);
    const r = await connectRedis(serve.port, { protocol: 2 });
    try {
      const items = await r.lrange("l", 0, -1);
      assertEquals(items.length >= acked.list, true, `list ${items.length} < ${acked.list}`);
      assertEquals(items, items.map((_, i) => String(i)));
      assertEquals(await r.llen("l"), items.length);
      const fields = await r.hkeys("h");
      assertEquals(fields.length >= acked.hash, true);
      assertEquals(await r.hlen("h"), fields.length);
      const members = await r.smembers("s");
      assertEquals(members.length >= acked.set, true);
      assertEquals(await r.scard("s"), members.length);
      const zs = await r.zrange("z", "0", "-1");
      assertEquals(zs.length >= acked.zset, true);
      assertEquals(await r.zcard("z"), zs.length);
      assertEquals(zs, zs.map((_, i) => `m${i}`));
    } finally {
      await closeRedis(r);
    }
  } finally {
    await serve.stop();
    await cleanup();
  }
});
