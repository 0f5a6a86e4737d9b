/**
 * The PromQL evaluator's own rules, beyond what the oracle test compares: limits, timeouts,
 * the key-as-metric-name mapping, staleness and lookback edges, and the errors Prometheus
 * raises during evaluation.
 */

import { assertEquals, assertThrows } from "@std/assert";
import {
  instantQuery,
  Labels,
  MemorySource,
  QueryError,
  type QueryResult,
  QueryTimeoutError,
  rangeQuery,
  type Series,
  type SeriesData,
  seriesLabels,
  type SeriesSource,
  writeStaleNaN,
} from "../../src/promql/mod.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const T = 1_700_000_000_000;

function source(): MemorySource {
  const src = new MemorySource();
  const ts = Float64Array.from({ length: 41 }, (_, i) => T + i * 15_000);
  for (const site of ["a", "b"]) {
    src.add(Labels.fromObject({ __name__: "x_total", site }), ts, ts.map((_, i) => i * 10));
    src.add(Labels.fromObject({ __name__: "y_total", site }), ts, ts.map((_, i) => i));
  }
  return src;
}

function vector(r: QueryResult): Record<string, number> {
  if (r.resultType !== "vector") throw new Error(`expected a vector, got ${r.resultType}`);
  return Object.fromEntries(r.result.map((s) => [s.labels.toString(), s.v]));
}

function matrix(r: QueryResult): Series[] {
  if (r.resultType !== "matrix") throw new Error(`expected a matrix, got ${r.resultType}`);
  return r.result;
}

Deno.test("a series without __name__ is named by its key", () => {
  const src = new MemorySource();
  src.add(seriesLabels("temp:1", [["room", "lab"]]), new Float64Array([T]), new Float64Array([21]));
  src.add(
    seriesLabels("other", [["__name__", "named"]]),
    new Float64Array([T]),
    new Float64Array([1]),
  );
  assertEquals(vector(instantQuery(src, '{__name__="temp:1"}', T)), {
    '{__name__="temp:1", room="lab"}': 21,
  });
  assertEquals(vector(instantQuery(src, "temp:1", T)), { '{__name__="temp:1", room="lab"}': 21 });
  assertEquals(vector(instantQuery(src, "named", T)), { '{__name__="named"}': 1 });
});

Deno.test("instant selectors look back 5 minutes inclusive and stop at a staleness marker", () => {
  const src = new MemorySource();
  const values = new Float64Array([1, 2, 0, 4]);
  writeStaleNaN(values, 2);
  src.add(
    Labels.fromObject({ __name__: "g" }),
    new Float64Array([T, T + 60_000, T + 120_000, T + 600_000]),
    values,
  );
  const at = (t: number) => vector(instantQuery(src, "g", t))['{__name__="g"}'];
  assertEquals(at(T), 1);
  assertEquals(at(T + 119_999), 2); // just before the marker
  assertEquals(at(T + 120_000), undefined); // the marker itself hides the series
  assertEquals(at(T + 599_999), undefined);
  assertEquals(at(T + 600_000 + 300_000), 4); // exactly 5 minutes later: still seen
  assertEquals(at(T + 600_001 + 300_000), undefined);
  // Range selectors drop the marker but keep the samples around it.
  assertEquals(matrix(instantQuery(src, "g[10m]", T + 600_000))[0]!.vs, [1, 2, 4]);
});

Deno.test("evaluation errors: duplicate label sets, many-to-many, bad label_replace", () => {
  const src = source();
  assertThrows(
    () => instantQuery(src, 'rate({__name__=~"x_total|y_total"}[5m])', T + 300_000),
    QueryError,
    "vector cannot contain metrics with the same labelset",
  );
  assertThrows(
    () => instantQuery(src, "x_total + on() y_total", T + 300_000),
    QueryError,
    "many-to-many matching not allowed",
  );
  assertThrows(
    () => instantQuery(src, 'label_replace(x_total, "a", "$1", "site", "(")', T),
    QueryError,
    "invalid regular expression in label_replace(): (",
  );
  assertThrows(
    () => instantQuery(src, "topk(Inf, x_total)", T),
    QueryError,
    "Scalar value +Inf overflows int64",
  );
  assertThrows(
    () => instantQuery(src, "holt_winters(x_total[5m], 2, 0.5)", T + 300_000),
    QueryError,
    "invalid smoothing factor",
  );
});

Deno.test("limits: samples held, series selected, and the time budget", () => {
  const src = source();
  assertThrows(
    () => rangeQuery(src, "x_total", T, T + 600_000, 1000, { samplesMax: 100 }),
    QueryError,
    "query processing would load too many samples into memory",
  );
  assertThrows(
    () => instantQuery(src, '{__name__=~".+_total"}', T, { selectSeriesMax: 3 }),
    QueryError,
    "too many series",
  );
  // A source that takes 5 ms per call: a 1 ms budget runs out.
  const slow: SeriesSource = {
    *select(m, s, e): Iterable<SeriesData> {
      const until = Date.now() + 5;
      while (Date.now() < until) { /* busy */ }
      yield* src.select(m, s, e);
    },
    labelNames: (m, s, e) => src.labelNames(m, s, e),
    labelValues: (n, m, s, e) => src.labelValues(n, m, s, e),
  };
  assertThrows(
    () => rangeQuery(slow, "x_total + y_total + x_total", T, T + 600_000, 15_000, { timeoutMs: 1 }),
    QueryTimeoutError,
    "query timed out",
  );
});

Deno.test("range queries step from start by step up to end, sorted by labels", () => {
  const src = source();
  const r = matrix(rangeQuery(src, "y_total", T + 1000, T + 61_000, 20_000));
  assertEquals(r.map((s) => s.labels.get("site")), ["a", "b"]);
  assertEquals(r[0]!.ts, [T + 1000, T + 21_000, T + 41_000, T + 61_000]);
  assertEquals(r[0]!.vs, [0, 1, 2, 4]);
});

Deno.test("predict_linear with @ slides with the step in range queries, as in Prometheus 2.42", () => {
  const src = source();
  const at = (T + 300_000) / 1000;
  const r = matrix(
    rangeQuery(src, `predict_linear(y_total[1m] @ ${at}, 0)`, T + 300_000, T + 360_000, 60_000),
  );
  // y grows by 1 per 15 s; the window moves with the step, the prediction is at each step.
  assertEquals(r[0]!.vs, [20, 24]);
  const fixed = matrix(
    rangeQuery(src, `max_over_time(y_total[1m] @ ${at})`, T + 300_000, T + 360_000, 60_000),
  );
  assertEquals(fixed[0]!.vs, [20, 20]);
});

Deno.test("range aggregations equal the same aggregations evaluated step by step, bit for bit", () => {
  const rng = new Rng(seedFromEnv());
  const src = new MemorySource();
  for (let s = 0; s < 30; s++) {
    const ts: number[] = [];
    const vs: number[] = [];
    for (let i = 0; i < 80; i++) {
      if (rng.chance(0.2)) continue; // gaps
      ts.push(T + i * 10_000 + s);
      vs.push(rng.chance(0.02) ? Infinity : rng.chance(0.02) ? NaN : (rng.next() - 0.3) * 1e6);
    }
    src.add(
      Labels.fromObject({ __name__: "m", g: `g${s % 4}`, s: `${s}` }),
      Float64Array.from(ts),
      Float64Array.from(vs),
    );
  }
  for (const op of ["sum", "avg", "min", "max", "count", "group"]) {
    const q = `${op} by (g) (m)`;
    const range = matrix(rangeQuery(src, q, T, T + 800_000, 30_000));
    for (const series of range) {
      series.ts.forEach((t, i) => {
        const want = vector(instantQuery(src, q, t))[series.labels.toString()];
        assertEquals(
          Object.is(series.vs[i], want) || (Number.isNaN(want) && Number.isNaN(series.vs[i])),
          true,
          `${q} at ${t}: ${series.vs[i]} vs ${want}`,
        );
      });
    }
  }
});
