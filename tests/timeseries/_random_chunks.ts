/**
 * Random chunk timestamps of every shape the codec's predictors meet, shared by the codec's
 * round-trip test and its golden-bytes test (whose digests depend on this exact sequence of
 * `rng` calls: change it and they change).
 */

import type { Rng } from "../_helpers/random.ts";

/**
 * 1 to 300 timestamps (a tenth of the time up to 20,000), strictly increasing from a random
 * start below 2^40: steps of exactly 1 s, random up to 3 s, 1 s with jitter, or anything up to
 * 2^30 ms, chosen per step.
 */
export function randomChunkTimestamps(rng: Rng): number[] {
  const n = 1 + rng.int(rng.chance(0.1) ? 20_000 : 300);
  const ts: number[] = [];
  let t = rng.int(2 ** 40);
  for (let i = 0; i < n; i++) {
    ts.push(t);
    const mode = rng.int(4);
    t += mode === 0
      ? 1000
      : mode === 1
      ? 1 + rng.int(3000)
      : mode === 2
      ? 995 + rng.int(10)
      : 1 + rng.int(2 ** 30);
  }
  return ts;
}
