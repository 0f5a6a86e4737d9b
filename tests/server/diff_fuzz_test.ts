/**
 * A short run of the differential fuzzer (tests/_helpers/resp_diff.ts): seeded random command
 * sequences over every data type, sent to this server and to a real redis-server 7.0, every
 * reply compared. The default seed is one that passes; CITYHALL_SEED explores others and
 * CITYHALL_FUZZ_SCALE runs more sequences (`deno task fuzz`). Longer runs against two running
 * servers: see the tool's header.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { fuzzCases } from "../_helpers/fuzz.ts";
import { runDiff } from "../_helpers/resp_diff.ts";
import { startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";

for (const resp3 of [false, true]) {
  Deno.test(`fuzz: random command sequences answer as redis-server 7.0 does (RESP${resp3 ? 3 : 2})`, async () => {
    const seed = Number(Deno.env.get("CITYHALL_SEED") ?? (resp3 ? 1001 : 1));
    const seqs = fuzzCases(8);
    console.log(`seed ${seed} (CITYHALL_SEED=${seed} to replay), ${seqs} sequences of 150`);
    const t = await startTestServer();
    const redis = await startRedisServer();
    try {
      const result = await runDiff({
        oursPort: t.port,
        redisPort: redis.port,
        seed,
        firstSeq: 0,
        seqs,
        len: 150,
        verbose: true,
        resp3,
      });
      console.log(`${result.commands} commands`);
      assertEquals([...result.groups.values()].map((g) => g.first), []);
    } finally {
      await redis.stop();
      await t.close();
    }
  });
}
