/**
 * The decoded-head cache (`src/timeseries/query_heads.ts`) against a fresh `Head.decode()` after
 * every step of random edits: appends one at a time and in runs (decoded incrementally), a
 * replaced newest sample, an insertion and a replacement in the middle, a deletion, a value
 * that turns the head to float mode, an emptied head (each a new epoch); views handed out
 * earlier keep their samples whatever happens to the head later; and the byte bound holds.
 */

import { assert, assertEquals } from "@std/assert";
import { Head } from "../../src/timeseries/head.ts";
import { HeadCache } from "../../src/timeseries/query_heads.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

/** Both arrays as plain numbers, NaN payloads aside (`Object.is` equality on each value). */
function plain(s: { ts: Float64Array; values: Float64Array }): [number[], number[]] {
  return [Array.from(s.ts), Array.from(s.values)];
}

Deno.test("cached head decodings equal a fresh decode after every kind of edit", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let round = 0; round < 40; round++) {
    const cache = new HeadCache();
    const head = new Head();
    let t = 1_700_000_000_000;
    const handedOut: {
      view: [number[], number[]];
      s: { ts: Float64Array; values: Float64Array };
    }[] = [];
    for (let step = 0; step < 300; step++) {
      const r = rng.next();
      if (r < 0.5 || head.count < 4) {
        t += 1 + rng.int(2000);
        head.append(t, Math.round(rng.next() * 1e5) / 100);
      } else if (r < 0.65) {
        const n = 1 + rng.int(200);
        const ts = new Float64Array(n);
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          t += 1 + rng.int(2000);
          ts[i] = t;
          values[i] = rng.int(3) === 0 ? rng.int(2) : Math.round(rng.next() * 1e4) / 10;
        }
        head.appendRun(ts, values, 0, n);
      } else if (r < 0.75) {
        head.upsert(head.lastTs, rng.int(1000)); // the newest replaced
      } else if (r < 0.8) {
        const all = head.decode();
        const i = rng.int(all.ts.length);
        head.upsert(all.ts[i]!, rng.int(1000)); // a middle one replaced
      } else if (r < 0.85) {
        const all = head.decode();
        const i = 1 + rng.int(all.ts.length - 1);
        if (all.ts[i]! - all.ts[i - 1]! > 1) head.upsert(all.ts[i - 1]! + 1, 7.25); // inserted
      } else if (r < 0.9) {
        const all = head.decode();
        const i = rng.int(all.ts.length);
        head.deleteRange(all.ts[i]!, all.ts[Math.min(all.ts.length - 1, i + rng.int(50))]!);
      } else if (r < 0.95) {
        t += 1 + rng.int(2000);
        head.append(t, rng.next() * 1e-9); // float mode from here
      } else {
        const all = head.decode();
        if (all.ts.length > 0) head.deleteRange(all.ts[0]!, all.ts[all.ts.length - 1]!);
      }
      if (rng.chance(0.7)) {
        const got = cache.samples(head);
        assertEquals(plain(got), plain(head.decode()), `round ${round} step ${step}`);
        if (rng.chance(0.1)) handedOut.push({ view: plain(got), s: got });
      }
    }
    for (const h of handedOut) assertEquals(plain(h.s), h.view, "a view handed out changed");
  }
});

Deno.test("the decoded-head cache stays within its bytes", () => {
  const cache = new HeadCache(64 * 1024);
  const heads: Head[] = [];
  for (let k = 0; k < 50; k++) {
    const head = new Head();
    for (let i = 0; i < 500; i++) head.append(1_700_000_000_000 + i * 1000, i / 10);
    heads.push(head);
    assertEquals(cache.samples(head).ts.length, 500);
    assert(cache.bytes <= 64 * 1024, `${cache.bytes} bytes kept`);
  }
  // The most recent heads are kept, and still answer right after more appends.
  const last = heads.at(-1)!;
  last.append(1_700_000_000_000 + 500 * 1000, 1);
  assertEquals(plain(cache.samples(last)), plain(last.decode()));
  cache.clear();
  assertEquals(cache.bytes, 0);
});
