/**
 * A CityHall test server and a redis-server 7.0 side by side: scenarios (`_compare.ts` step
 * syntax) run against both after a FLUSHALL, every connection's bytes compared.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { startTestServer, type TestServer } from "../server/_helpers.ts";
import { type RedisServer, startRedisServer } from "../server/_redis.ts";
import { runSteps, STANDARD_NORMALIZER, steps } from "../server/_compare.ts";

/** Both servers. */
export interface Pair {
  ours: TestServer;
  redis: RedisServer;
}

/** Runs `fn` with a fresh pair, closing both afterwards. */
export async function withPair(fn: (pair: Pair) => Promise<void>): Promise<void> {
  const ours = await startTestServer();
  const redis = await startRedisServer();
  try {
    await fn({ ours, redis });
  } finally {
    await redis.stop();
    await ours.close();
  }
}

/** Runs scenario `text` on both servers (after FLUSHALL) and compares the transcripts. */
export async function compare(
  pair: Pair,
  name: string,
  text: string,
  normalize: (t: string) => string = STANDARD_NORMALIZER,
): Promise<void> {
  const list = steps("Z: flushall\n" + text);
  const ours = await runSteps(pair.ours.port, list);
  const theirs = await runSteps(pair.redis.port, list);
  for (const [conn, t] of theirs) {
    assertEquals(
      normalize(ours.get(conn) ?? ""),
      normalize(t),
      `${name}: connection ${conn} differs from redis-server`,
    );
  }
}
