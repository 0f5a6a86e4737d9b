/**
 * A large TS.MRANGE … GROUPBY … REDUCE reply over RESP against the same reduction done here
 * from each member's TS.RANGE reply: the group merge (`mergeAll` in query.ts) and the point encoder
 * (`_ts_reply.ts`) must answer every timestamp of every member, reduced in member order, with
 * the value printed byte for byte as `formatValue` prints it (RedisTimeSeries 1.8's printer).
 *
 * The seeded data mixes what the fast paths special-case and what they must leave alone:
 * jittered 1 Hz series (few shared timestamps) and series on one exact grid (every timestamp
 * shared, so averages of many values print with all their digits), readings with 1–3 decimals,
 * negative ones, values below 1 (printed `dE-x`), zero, large integers, huge and tiny floats;
 * each series spans several sealed chunks (1 KiB) and its head.
 */

import { assertEquals } from "@std/assert";
import { startTestServer } from "../server/_helpers.ts";
import { type Plain, PlainClient } from "./_resp.ts";
import { formatValue } from "../../src/server/commands/_ts_args.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const SERIES = 32;
const SAMPLES = 1_000;
const T0 = 1_700_000_000_000;

/** A value of shape `kind` (see the module comment). */
function valueOf(rng: Rng, kind: number, i: number): number {
  switch (kind) {
    case 0: // a reading with 1–3 decimals
      return Math.round((20 + rng.next() * 200) * 10 ** (1 + (i % 3))) / 10 ** (1 + (i % 3));
    case 1: // negative readings
      return -Math.round(rng.next() * 50_000) / 100;
    case 2: // on/off
      return rng.int(2);
    case 3: // below 1, three decimals
      return rng.int(1000) / 1000;
    case 4: // a large counter
      return 4_000_000_000_000 + i * 17 + rng.int(5);
    default: // huge, tiny and arbitrary floats
      return [1e20 * rng.next(), 1e-7 * rng.next(), rng.next() * 1000, 2 ** 53 + 2 * i][i % 4]!;
  }
}

/** The reference reduction of one timestamp's values, in member order. */
function reduce(reducer: string, vs: number[]): number {
  let sum = 0;
  for (const v of vs) sum += v;
  let min = vs[0]!;
  let max = vs[0]!;
  for (const v of vs) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / vs.length;
  let sq = 0;
  for (const v of vs) sq += (v - mean) ** 2;
  const varP = sq / vs.length;
  const varS = vs.length === 1 ? 0 : sq / (vs.length - 1);
  return {
    avg: mean,
    sum,
    min,
    max,
    range: max - min,
    count: vs.length,
    "std.p": Math.sqrt(varP),
    "var.s": varS,
  }[reducer]!;
}

/** `[[ts, "+value"], …]` as timestamps and numbers. */
function points(reply: Plain): [number, number][] {
  return (reply as [number, string][]).map(([t, v]) => [t, Number(v.slice(1))]);
}

Deno.test("a large TS.MRANGE GROUPBY reply equals each member's TS.RANGE reduced, byte for byte", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const s = await startTestServer();
  const c = await PlainClient.connect(s.port);
  try {
    for (let k = 0; k < SERIES; k++) {
      const labels = k === SERIES - 1
        ? ["kind", "x"] // outside every group
        : ["kind", "x", "site", `site${k % 4}`];
      assertEquals(
        await c.send("TS.CREATE", `s${k}`, "CHUNK_SIZE", 1024, "LABELS", ...labels),
        "+OK",
      );
    }
    for (let k = 0; k < SERIES; k++) {
      const grid = k % 4 === 3;
      const kind = k % 6;
      const phase = rng.int(1000);
      const args: (string | number)[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const t = grid ? T0 + i * 1000 : T0 + phase + i * 1000 + rng.int(5) - 2;
        args.push(`s${k}`, t, formatValue(valueOf(rng, kind, i)));
        if (args.length >= 1500) {
          await c.send("TS.MADD", ...args);
          args.length = 0;
        }
      }
      if (args.length > 0) await c.send("TS.MADD", ...args);
    }
    // Every member's samples, as RedisTimeSeries would read them back.
    const own = new Map<string, [number, number][]>();
    for (let k = 0; k < SERIES; k++) {
      own.set(`s${k}`, points(await c.send("TS.RANGE", `s${k}`, "-", "+")));
    }
    for (const reducer of ["avg", "sum", "min", "max", "range", "count", "std.p", "var.s"]) {
      // Reversed with COUNT for two reducers: the ordering is shared by all.
      for (
        const [command, extra] of [["TS.MRANGE", []], ["TS.MREVRANGE", ["COUNT", "700"]]] as const
      ) {
        const reply = await c.send(
          command,
          "-",
          "+",
          ...extra,
          "WITHLABELS",
          "FILTER",
          "kind=x",
          "GROUPBY",
          "site",
          "REDUCE",
          reducer,
        ) as Plain[][];
        assertEquals(reply.map((g) => g[0]), [
          "site=site0",
          "site=site1",
          "site=site2",
          "site=site3",
        ]);
        let total = 0;
        for (const [name, labels, got] of reply) {
          const source = (labels as string[][]).find((l) => l[0] === "__source__")![1]!;
          const byTs = new Map<number, number[]>();
          for (const key of source.split(",")) {
            for (const [t, v] of own.get(key)!) {
              const list = byTs.get(t);
              if (list) list.push(v);
              else byTs.set(t, [v]);
            }
          }
          let want = [...byTs.keys()].sort((a, b) => a - b);
          if (command === "TS.MREVRANGE") want = want.reverse().slice(0, 700);
          const gotPoints = got as [number, string][];
          assertEquals(gotPoints.length, want.length, `${name} ${reducer}: points`);
          total += gotPoints.length;
          // Mismatches collected, then asserted once (an assertion per point is slow).
          const wrong: string[] = [];
          for (let i = 0; i < want.length && wrong.length < 5; i++) {
            const [t, text] = gotPoints[i]!;
            const vs = byTs.get(want[i]!)!;
            const expected = reduce(reducer, vs);
            const ok = reducer === "std.p" || reducer === "var.s"
              // Other summation orders: equal to a few ulps. The server's sum-of-squares formula
              // (RedisTimeSeries's) cancels catastrophically on values near 4e12 (squares near
              // 1.6e25 keep nothing of a variance below 1): only smaller values are compared.
              ? vs.some((v) => Math.abs(v) > 2 ** 26) ||
                Math.abs(Number(text.slice(1)) - expected) <= 1e-9 * Math.max(1, Math.abs(expected))
              : text === `+${formatValue(expected)}`;
            if (t !== want[i] || !ok) wrong.push(`${t}: ${text}, want ${want[i]}: ${expected}`);
          }
          assertEquals(wrong, [], `${name} ${reducer}`);
        }
        if (command === "TS.MRANGE") assertEquals(total > 20_000, true, `${total} points`);
      }
    }
  } finally {
    c.close();
    await s.close();
  }
});
