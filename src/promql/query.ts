/**
 * Running a PromQL query (ARCHITECTURE.md § "PromQL engine"): `instantQuery` and `rangeQuery`
 * set up the shared state (time budget, sample limit, lookback) and shape the evaluator's
 * matrix into Prometheus's result types.
 *
 * @module
 */

import { type Expr, typeOf } from "./ast.ts";
import {
  Evaluator,
  type QueryOptions,
  type QueryResult,
  type QueryState,
  type Series,
} from "./engine.ts";
import { QueryTypeError } from "./errors.ts";
import { compareLabels } from "./labels.ts";
import { parseExpr } from "./parser.ts";
import type { SeriesSource } from "./source.ts";
import {
  PROMQL_LOOKBACK_MS_DEFAULT,
  PROMQL_QUERY_SAMPLES_MAX,
  PROMQL_QUERY_TIMEOUT_MS_MAX,
  PROMQL_SELECT_SERIES_MAX,
  PROMQL_SUBQUERY_STEP_MS_DEFAULT,
} from "../limits.ts";

function state(
  source: SeriesSource,
  start: number,
  end: number,
  opts: QueryOptions,
): QueryState {
  const timeout = Math.min(
    opts.timeoutMs ?? PROMQL_QUERY_TIMEOUT_MS_MAX,
    PROMQL_QUERY_TIMEOUT_MS_MAX,
  );
  return {
    source,
    lookbackMs: opts.lookbackMs ?? PROMQL_LOOKBACK_MS_DEFAULT,
    subqueryStepMs: opts.subqueryStepMs ?? PROMQL_SUBQUERY_STEP_MS_DEFAULT,
    deadline: Date.now() + timeout,
    samplesMax: opts.samplesMax ?? PROMQL_QUERY_SAMPLES_MAX,
    selectSeriesMax: opts.selectSeriesMax ?? PROMQL_SELECT_SERIES_MAX,
    queryStart: start,
    queryEnd: end,
    samples: 0,
  };
}

function exprOf(query: string | Expr): Expr {
  return typeof query === "string" ? parseExpr(query) : query;
}

/** Evaluates `query` at `timeMs` (Prometheus's instant query). */
export function instantQuery(
  source: SeriesSource,
  query: string | Expr,
  timeMs: number,
  opts: QueryOptions = {},
): QueryResult {
  const expr = exprOf(query);
  const ev = new Evaluator(state(source, timeMs, timeMs, opts), timeMs, timeMs, 1);
  const v = ev.eval(expr);
  if (!Array.isArray(v)) return { resultType: "string", result: { t: timeMs, v: v.string } };
  switch (typeOf(expr)) {
    case "scalar":
      return { resultType: "scalar", result: { t: timeMs, v: v[0]!.vs[0]! } };
    case "matrix":
      return { resultType: "matrix", result: v };
    default:
      return {
        resultType: "vector",
        result: v.map((s) => ({ labels: s.labels, t: timeMs, v: s.vs[0]! })),
      };
  }
}

/** Evaluates `query` at `start, start + step, …, ≤ end` (Prometheus's range query). */
export function rangeQuery(
  source: SeriesSource,
  query: string | Expr,
  startMs: number,
  endMs: number,
  stepMs: number,
  opts: QueryOptions = {},
): QueryResult {
  const expr = exprOf(query);
  const t = typeOf(expr);
  if (t !== "vector" && t !== "scalar") {
    throw new QueryTypeError(
      `invalid expression type "${
        t === "matrix" ? "range vector" : t
      }" for range query, must be Scalar or instant Vector`,
    );
  }
  const ev = new Evaluator(state(source, startMs, endMs, opts), startMs, endMs, stepMs);
  const v = ev.eval(expr) as Series[];
  v.sort((a: Series, b: Series) => compareLabels(a.labels, b.labels));
  return { resultType: "matrix", result: v };
}
