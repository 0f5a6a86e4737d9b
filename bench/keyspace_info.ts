/**
 * What INFO keyspace costs (ARCHITECTURE.md § "Operator commands", Keyspace figures): fills a
 * fresh database with N keys (every third with a one-hour TTL), then times five runs each of a
 * count-only scan and of `keyspaceFigures` (count + expires + avg_ttl), with the keys in the
 * memtable and again after a flush and compaction.
 *
 * `deno run -A bench/keyspace_info.ts [N=100000]`
 */

import { Database, type WriteOp } from "../src/mod.ts";
import type { CommandContext } from "../src/server/context.ts";
import { keyspaceFigures } from "../src/server/commands/info.ts";

const n = Number(Deno.args[0] ?? 100_000);
const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-keyspace-" });
const db = await Database.open(dir, { syncMode: "none" });
try {
  const hourMs = 3_600_000;
  for (let i = 0; i < n; i += 1000) {
    const ops: WriteOp[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      ops.push(
        j % 3 === 0
          ? { type: "put", key: `key:${j}`, value: "v".repeat(50), expireAtMs: Date.now() + hourMs }
          : { type: "put", key: `key:${j}`, value: "v".repeat(50) },
      );
    }
    await db.write(ops);
  }
  // keyspaceFigures only reads `ctx.server.db`.
  const ctx = { server: { db } } as unknown as CommandContext;
  for (const where of ["memtable", "sstables"]) {
    if (where === "sstables") {
      await db.flush();
      await db.compact();
    }
    for (let round = 0; round < 5; round++) {
      let t0 = performance.now();
      let keys = 0;
      for await (const _ of db.scan({})) keys++;
      const countMs = performance.now() - t0;
      t0 = performance.now();
      const f = await keyspaceFigures(ctx);
      const figuresMs = performance.now() - t0;
      console.log(
        `${where}: count only ${keys} keys ${countMs.toFixed(0)} ms; keys=${f.keys},` +
          `expires=${f.expires},avg_ttl=${f.avgTtlMs} ${figuresMs.toFixed(0)} ms`,
      );
    }
  }
} finally {
  await db.close();
  await Deno.remove(dir, { recursive: true });
}
