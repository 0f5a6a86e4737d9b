/**
 * The PromQL evaluator (ARCHITECTURE.md § "PromQL engine"). Like Prometheus 2.42 it evaluates
 * every expression over all steps of a query at once: a node's value is a matrix of series
 * with one point per step where it has a value (an instant query is a range query with one
 * step). Steps are `start, start + interval, …, ≤ end`.
 *
 * Selectors: an instant selector at step `t` takes, per series, the newest sample in
 * `[t − offset − lookback, t − offset]`, none when that sample is a staleness marker; a range
 * selector takes the samples in `[t − offset − range, t − offset]` (both ends inclusive, stale
 * markers dropped). `@ T` pins `t` to T (`start()`/`end()`: the query's). Inside
 * `predict_linear` Prometheus applies `@` as an offset relative to the query start, so the
 * window moves with the step in range queries; that is reproduced.
 *
 * Subqueries evaluate their expression at steps aligned to multiples of their step (default
 * `PROMQL_SUBQUERY_STEP_MS_DEFAULT`) from the first one at or after `start − offset − range`.
 *
 * Errors: `QueryError` (execution), `QueryTimeoutError`, `ParseError` (bad data).
 *
 * @module
 */

import {
  type AggregateExpr,
  type AtModifier,
  type BinaryExpr,
  type Call,
  type Expr,
  type MatrixSelector,
  type SubqueryExpr,
  typeOf,
  unwrapParens,
  type VectorSelector,
} from "./ast.ts";
import { aggregate, aggregateColumns, groupOf, isColumnarAggregate } from "./aggregate.ts";
import {
  scalarBinop,
  signatureFunction,
  vectorAnd,
  vectorBinop,
  vectorOr,
  vectorScalarBinop,
  vectorUnless,
} from "./binary.ts";
import { absentLabels, INSTANT_FUNCTIONS, type Sample } from "./functions.ts";
import { QueryError, QueryTimeoutError } from "./errors.ts";
import { compareLabels, Labels } from "./labels.ts";
import { RANGE_FUNCTIONS } from "./range_functions.ts";
import { type SeriesSource, StaleReader } from "./source.ts";

/** A series in a result: points at `ts[i]` (ms) with values `vs[i]`. */
export interface Series {
  labels: Labels;
  ts: number[];
  vs: number[];
}

/** A query's result, shaped like Prometheus's `data`. */
export type QueryResult =
  | { resultType: "vector"; result: { labels: Labels; t: number; v: number }[] }
  | { resultType: "matrix"; result: Series[] }
  | { resultType: "scalar"; result: { t: number; v: number } }
  | { resultType: "string"; result: { t: number; v: string } };

/** Engine settings; every field has Prometheus's default. */
export interface QueryOptions {
  /** Lookback of instant selectors (ms). */
  lookbackMs?: number;
  /** Step of subqueries written without one (ms). */
  subqueryStepMs?: number;
  /** Time budget (ms), at most `PROMQL_QUERY_TIMEOUT_MS_MAX`. */
  timeoutMs?: number;
  /** Samples a query may hold. */
  samplesMax?: number;
  /** Series one selector may select. */
  selectSeriesMax?: number;
}

/** What every evaluator of one query shares. */
export interface QueryState {
  readonly source: SeriesSource;
  readonly lookbackMs: number;
  readonly subqueryStepMs: number;
  readonly deadline: number;
  readonly samplesMax: number;
  readonly selectSeriesMax: number;
  readonly queryStart: number;
  readonly queryEnd: number;
  samples: number;
}

type Value = Series[] | { string: string };

const DUPLICATE = "vector cannot contain metrics with the same labelset";

/** Evaluates expressions over the steps `start, start + interval, …, ≤ end`. */
export class Evaluator {
  readonly #q: QueryState;
  readonly start: number;
  readonly end: number;
  readonly interval: number;
  readonly steps: number;

  constructor(q: QueryState, start: number, end: number, interval: number) {
    this.#q = q;
    this.start = start;
    this.end = end;
    this.interval = interval;
    this.steps = Math.floor((end - start) / interval) + 1;
  }

  #check(samples = 0): void {
    this.#q.samples += samples;
    if (this.#q.samples > this.#q.samplesMax) {
      throw new QueryError(
        "query processing would load too many samples into memory in query execution",
      );
    }
    if (Date.now() > this.#q.deadline) {
      throw new QueryTimeoutError("query timed out in expression evaluation");
    }
  }

  #at(at: AtModifier): number {
    return at.kind === "time" ? at.ms : at.kind === "start" ? this.#q.queryStart : this.#q.queryEnd;
  }

  /** The reference time of a selector or subquery at step `ts`. */
  #refFn(offsetMs: number, at: AtModifier | undefined, slidingAt: boolean): (ts: number) => number {
    if (!at) return (ts) => ts - offsetMs;
    const atMs = this.#at(at);
    if (slidingAt) {
      const shift = this.start - atMs + offsetMs;
      return (ts) => ts - shift;
    }
    return () => atMs - offsetMs;
  }

  eval(e: Expr): Value {
    this.#check();
    switch (e.type) {
      case "number":
        return [this.#constant(e.value)];
      case "string":
        return { string: e.value };
      case "paren":
        return this.eval(e.expr);
      case "unary": {
        const m = this.#matrix(e.expr);
        if (e.op === "+") return m;
        const out = m.map((s) => ({
          labels: s.labels.withoutMetricName(),
          ts: s.ts,
          vs: s.vs.map((v) => -v),
        }));
        assertUnique(out);
        return out;
      }
      case "vector_selector":
        return this.#vectorSelector(e, false);
      case "matrix_selector":
        return this.#matrixSelectorInstant(e);
      case "subquery":
        return this.#subquery(e, false).series;
      case "call":
        return this.#call(e);
      case "aggregate":
        return this.#aggregate(e);
      case "binary":
        return this.#binary(e);
    }
  }

  #matrix(e: Expr): Series[] {
    const v = this.eval(e);
    if (!Array.isArray(v)) throw new QueryError("unexpected string value");
    return v;
  }

  #stepTimes(): number[] {
    const out = new Array<number>(this.steps);
    for (let i = 0; i < this.steps; i++) out[i] = this.start + i * this.interval;
    return out;
  }

  #constant(v: number): Series {
    return { labels: Labels.EMPTY, ts: this.#stepTimes(), vs: new Array(this.steps).fill(v) };
  }

  /** Selects series, sorted by labels as Prometheus's storage returns them (sums depend on it). */
  #select(sel: VectorSelector, mint: number, maxt: number) {
    const out = [];
    for (const s of this.#q.source.select(sel.matchers, mint, maxt)) {
      out.push(s);
      if (out.length > this.#q.selectSeriesMax) {
        throw new QueryError(
          `query selects too many series: more than ${this.#q.selectSeriesMax} for one selector`,
        );
      }
      this.#check(s.timestamps.length);
    }
    return out.sort((a, b) => compareLabels(a.labels, b.labels));
  }

  /** Instant selector at every step; `withTimestamps` yields sample times (for `timestamp`). */
  #vectorSelector(sel: VectorSelector, withTimestamps: boolean): Series[] {
    const lookback = this.#q.lookbackMs;
    const loadRef = this.#refFn(sel.offsetMs, sel.at, false);
    // Prometheus 2.42 evaluates timestamp(x offset d @ T) at T, ignoring the offset, but loads
    // only the samples the offset asks for, [T − d − lookback, T − d]: both reproduced (exact
    // when no other selector of the query widens what Prometheus loads).
    const ref = withTimestamps && sel.at ? this.#refFn(0, sel.at, false) : loadRef;
    const data = this.#select(sel, loadRef(this.start) - lookback, loadRef(this.end));
    const out: Series[] = [];
    for (const d of data) {
      const { timestamps: t, values: v } = d;
      const stale = new StaleReader(v);
      const s: Series = {
        labels: withTimestamps ? d.labels.withoutMetricName() : d.labels,
        ts: [],
        vs: [],
      };
      let j = -1; // index of the newest sample at or before the reference time
      for (let step = 0; step < this.steps; step++) {
        const ts = this.start + step * this.interval;
        const r = ref(ts);
        while (j + 1 < t.length && t[j + 1]! <= r) j++;
        if (j < 0 || t[j]! < r - lookback) continue;
        const value = v[j]!;
        if (value !== value && stale.isStale(j)) continue;
        s.ts.push(ts);
        s.vs.push(withTimestamps ? t[j]! / 1000 : value);
      }
      if (s.ts.length > 0) {
        out.push(s);
        this.#check(s.ts.length);
      }
    }
    if (withTimestamps) assertUnique(out);
    return out;
  }

  /** Samples of a range selector, staleness markers removed, per series. */
  #rangeData(
    sel: VectorSelector,
    rangeMs: number,
    ref: (ts: number) => number,
  ): { labels: Labels; ts: ArrayLike<number>; vs: ArrayLike<number> }[] {
    const data = this.#select(sel, ref(this.start) - rangeMs, ref(this.end));
    return data.map((d) => {
      const stale = new StaleReader(d.values);
      let hasStale = false;
      for (let i = 0; i < d.values.length; i++) {
        const x = d.values[i]!;
        if (x !== x && stale.isStale(i)) {
          hasStale = true;
          break;
        }
      }
      if (!hasStale) return { labels: d.labels, ts: d.timestamps, vs: d.values };
      const ts: number[] = [];
      const vs: number[] = [];
      for (let i = 0; i < d.values.length; i++) {
        const x = d.values[i]!;
        if (x !== x && stale.isStale(i)) continue;
        ts.push(d.timestamps[i]!);
        vs.push(x);
      }
      return { labels: d.labels, ts, vs };
    });
  }

  /** A range selector's value in an instant query: its raw samples. */
  #matrixSelectorInstant(e: MatrixSelector): Series[] {
    if (this.start !== this.end) {
      throw new QueryError("cannot do range evaluation of matrix selector");
    }
    const ref = this.#refFn(e.selector.offsetMs, e.selector.at, false)(this.start);
    const out: Series[] = [];
    for (const d of this.#rangeData(e.selector, e.rangeMs, () => ref)) {
      const s: Series = { labels: d.labels, ts: [], vs: [] };
      for (let i = 0; i < d.ts.length; i++) {
        if (d.ts[i]! < ref - e.rangeMs || d.ts[i]! > ref) continue;
        s.ts.push(d.ts[i]!);
        s.vs.push(d.vs[i]!);
      }
      if (s.ts.length > 0) out.push(s);
    }
    return out;
  }

  /** Evaluates a subquery's expression at its own aligned steps. */
  #subquery(
    e: SubqueryExpr,
    slidingAt: boolean,
  ): { series: Series[]; ref: (ts: number) => number } {
    const ref = this.#refFn(e.offsetMs, e.at, slidingAt);
    const step = e.stepMs > 0 ? e.stepMs : this.#q.subqueryStepMs;
    const from = ref(this.start) - e.rangeMs;
    // First multiple of the step at or after `from` (Go's truncating division, then a bump).
    let start = from - (from % step);
    if (start < from) start += step;
    const inner = new Evaluator(this.#q, start, ref(this.end), step);
    const series = inner.steps > 0 && start <= ref(this.end) ? inner.#matrix(e.expr) : [];
    return { series, ref };
  }

  #call(e: Call): Series[] {
    const name = e.func.name;
    if (name === "timestamp") {
      const arg = unwrapParens(e.args[0]!);
      if (arg.type === "vector_selector") return this.#vectorSelector(arg, true);
    }
    const matrixIndex = e.args.findIndex((a) => {
      const u = unwrapParens(a);
      return u.type === "matrix_selector" || u.type === "subquery";
    });
    if (matrixIndex < 0) {
      const fn = INSTANT_FUNCTIONS.get(name);
      if (!fn) throw new QueryError(`function "${name}" is not implemented`);
      const args = e.args.map((a) => (typeOf(a) === "string" ? undefined : this.#matrix(a)));
      const cache = new Map<unknown, unknown>();
      return this.#rangeEval(args, (vecs, ts) => fn(vecs, { ts, call: e, cache }));
    }
    return this.#rangeCall(e, matrixIndex);
  }

  /** A function with a range-vector argument, one series at a time. */
  #rangeCall(e: Call, matrixIndex: number): Series[] {
    const name = e.func.name;
    const fn = RANGE_FUNCTIONS.get(name);
    if (!fn) throw new QueryError(`function "${name}" is not implemented`);
    const scalarArgs = e.args.map((a, i) => (i === matrixIndex ? undefined : this.#matrix(a)));
    const arg = unwrapParens(e.args[matrixIndex]!);
    const sliding = name === "predict_linear" && this.start !== this.end;
    let rangeMs: number;
    let ref: (ts: number) => number;
    let data: { labels: Labels; ts: ArrayLike<number>; vs: ArrayLike<number> }[];
    if (arg.type === "matrix_selector") {
      rangeMs = arg.rangeMs;
      ref = this.#refFn(arg.selector.offsetMs, arg.selector.at, sliding);
      data = this.#rangeData(arg.selector, rangeMs, ref);
    } else {
      const sq = arg as SubqueryExpr;
      rangeMs = sq.rangeMs;
      const r = this.#subquery(sq, sliding);
      ref = r.ref;
      data = r.series;
    }
    const out: Series[] = [];
    // Hot loop (series × steps): no allocation per step, indexed loops only.
    const scalarSeries: Series[] = [];
    for (const m of scalarArgs) {
      if (m) scalarSeries.push(m[0] ?? { labels: Labels.EMPTY, ts: [], vs: [] });
    }
    const scalars: number[] = new Array(scalarSeries.length).fill(NaN);
    const ctx = { evalTs: 0, rangeStart: 0, rangeEnd: 0, rangeMs, scalars };
    const keepName = name === "last_over_time";
    for (let si = 0; si < data.length; si++) {
      const d = data[si]!;
      const dts = d.ts;
      const n = dts.length;
      const s: Series = {
        labels: keepName ? d.labels : d.labels.withoutMetricName(),
        ts: [],
        vs: [],
      };
      let lo = 0;
      let hi = 0;
      for (let step = 0; step < this.steps; step++) {
        const ts = this.start + step * this.interval;
        const maxt = ref(ts);
        const mint = maxt - rangeMs;
        // Windows only move forward with the step (or stay put under @): two pointers.
        while (lo < n && dts[lo]! < mint) lo++;
        if (hi < lo) hi = lo;
        while (hi < n && dts[hi]! <= maxt) hi++;
        if (hi <= lo) continue;
        for (let k = 0; k < scalarSeries.length; k++) scalars[k] = scalarSeries[k]!.vs[step] ?? NaN;
        ctx.evalTs = ts;
        ctx.rangeStart = mint;
        ctx.rangeEnd = maxt;
        const v = fn(dts, d.vs, lo, hi, ctx);
        if (v === undefined) continue;
        s.ts.push(ts);
        s.vs.push(v);
      }
      if (s.ts.length > 0) {
        out.push(s);
        this.#check(s.ts.length);
      }
    }
    if (name === "absent_over_time") return this.#absentOverTime(e, out);
    assertUnique(out);
    return out;
  }

  #absentOverTime(e: Call, present: Series[]): Series[] {
    const found = new Set<number>();
    for (const s of present) for (const t of s.ts) found.add(t);
    const s: Series = { labels: absentLabels(e.args[0]!), ts: [], vs: [] };
    for (const t of this.#stepTimes()) {
      if (!found.has(t)) {
        s.ts.push(t);
        s.vs.push(1);
      }
    }
    return s.ts.length > 0 ? [s] : [];
  }

  #aggregate(e: AggregateExpr): Series[] {
    const param = e.param ? this.eval(e.param) : undefined;
    const input = this.#matrix(e.expr);
    const grouping = { labels: [...e.grouping].sort(), without: e.without };
    const groups = input.map((s) => groupOf(grouping, s.labels));
    if (this.steps > 1 && param === undefined && isColumnarAggregate(e.op)) {
      const out = aggregateColumns(e.op, input, groups, this.start, this.interval, this.steps);
      for (const s of out) this.#check(s.ts.length);
      return out;
    }
    const keyOf = (s: Sample) => groups[s.src]!;
    const paramSeries = Array.isArray(param) ? param : undefined;
    return this.#rangeEval([paramSeries, input], (vecs, _ts) => {
      const p = param === undefined
        ? undefined
        : Array.isArray(param)
        ? vecs[0]![0]?.v ?? NaN
        : param.string;
      return aggregate(e.op, grouping, p, vecs[1]!, keyOf);
    });
  }

  #binary(e: BinaryExpr): Series[] {
    const lhs = this.#matrix(e.lhs);
    const rhs = this.#matrix(e.rhs);
    const lt = typeOf(e.lhs);
    const rt = typeOf(e.rhs);
    if (lt === "scalar" && rt === "scalar") {
      return this.#rangeEval([lhs, rhs], ([l, r]) => [
        { labels: Labels.EMPTY, v: scalarBinop(e.op, l![0]!.v, r![0]!.v), src: -1 },
      ]);
    }
    if (lt === "vector" && rt === "vector") {
      const m = e.matching!;
      const sig = signatureFunction(m);
      const ls = lhs.map((s) => sig(s.labels));
      const rs = rhs.map((s) => sig(s.labels));
      const cache = new Map<string, Labels>();
      return this.#rangeEval([lhs, rhs], ([l, r]) => {
        switch (e.op) {
          case "and":
            return vectorAnd(l!, r!, ls, rs);
          case "or":
            return vectorOr(l!, r!, ls, rs);
          case "unless":
            return vectorUnless(l!, r!, ls, rs);
          default:
            return vectorBinop(e.op, l!, r!, m, e.returnBool, ls, rs, cache);
        }
      });
    }
    const swap = lt === "scalar";
    return this.#rangeEval(
      [lhs, rhs],
      ([l, r]) =>
        swap
          ? vectorScalarBinop(e.op, r!, l![0]!.v, true, e.returnBool)
          : vectorScalarBinop(e.op, l!, r![0]!.v, false, e.returnBool),
    );
  }

  /**
   * Calls `fn` at every step with each argument's vector at that step and assembles the
   * results into series (Prometheus's `rangeEval`). Instant queries keep the result order.
   */
  #rangeEval(
    args: readonly (Series[] | undefined)[],
    fn: (vecs: Sample[][], ts: number) => Sample[],
  ): Series[] {
    const cursors = args.map((m) => (m ? new Int32Array(m.length) : undefined));
    const byKey = new Map<string, Series>();
    const vecs: Sample[][] = args.map(() => []);
    for (let step = 0; step < this.steps; step++) {
      const ts = this.start + step * this.interval;
      for (let a = 0; a < args.length; a++) {
        const m = args[a];
        const vec: Sample[] = [];
        if (m) {
          const cur = cursors[a]!;
          for (let i = 0; i < m.length; i++) {
            const s = m[i]!;
            const c = cur[i]!;
            if (c < s.ts.length && s.ts[c] === ts) {
              vec.push({ labels: s.labels, v: s.vs[c]!, src: i });
              cur[i] = c + 1;
            }
          }
        }
        vecs[a] = vec;
      }
      const result = fn(vecs, ts);
      if (result.length > 1) {
        const seen = new Set<string>();
        for (const s of result) {
          const k = s.labels.key();
          if (seen.has(k)) throw new QueryError(DUPLICATE);
          seen.add(k);
        }
      }
      this.#check(result.length);
      if (this.start === this.end) {
        return result.map((s) => ({ labels: s.labels, ts: [ts], vs: [s.v] }));
      }
      for (const s of result) {
        const k = s.labels.key();
        let series = byKey.get(k);
        if (!series) byKey.set(k, series = { labels: s.labels, ts: [], vs: [] });
        series.ts.push(ts);
        series.vs.push(s.v);
      }
    }
    return [...byKey.values()];
  }
}

function assertUnique(m: readonly Series[]): void {
  if (m.length < 2) return;
  const seen = new Set<string>();
  for (const s of m) {
    const k = s.labels.key();
    if (seen.has(k)) throw new QueryError(DUPLICATE);
    seen.add(k);
  }
}
