/**
 * Functions over instant vectors and scalars, evaluated once per step (ARCHITECTURE.md §
 * "PromQL engine"): math, `clamp*`, `round`, `scalar`, `vector`, `time`, `sort*`,
 * `label_replace`, `label_join`, `absent`, `histogram_quantile`, date functions.
 *
 * Results drop the metric name wherever Prometheus drops it. `log2`/`log10` use Go's formulas
 * (`Log(x)·(1/Ln10)`, `Log(frac)·(1/Ln2) + exp`) rather than JavaScript's, so they agree with
 * Prometheus bit for bit.
 *
 * @module
 */

import { type Call, type Expr, unwrapParens } from "./ast.ts";
import { compileRe2 } from "./regex.ts";
import { isValidLabelName, Labels, METRIC_NAME } from "./labels.ts";
import { formatFloatPlain } from "./format.ts";
import { QueryError } from "./errors.ts";

/** One element of an instant vector at a step; `src` indexes the input series (or -1). */
export interface Sample {
  labels: Labels;
  v: number;
  src: number;
}

/** What a function sees besides its arguments. */
export interface StepContext {
  /** Evaluation time (ms). */
  readonly ts: number;
  /** The call being evaluated. */
  readonly call: Call;
  /** Per-call cache that lives across steps (compiled regexes, relabel results). */
  readonly cache: Map<unknown, unknown>;
}

/** An instant-vector function: argument vectors (scalars as one-element vectors) in, vector out. */
export type InstantFunction = (args: readonly Sample[][], ctx: StepContext) => Sample[];

const INV_LN2 = 1.4426950408889634;
const INV_LN10 = 0.4342944819032518;

/** Go's `math.Frexp`: `x = frac · 2^exp` with `|frac|` in [0.5, 1). */
function frexp(x: number): [number, number] {
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  let e = (view.getUint16(0) >> 4) & 0x7ff;
  let extra = 0;
  if (e === 0) {
    // Subnormal: normalise first.
    view.setFloat64(0, x * 2 ** 64);
    e = (view.getUint16(0) >> 4) & 0x7ff;
    extra = -64;
  }
  const exp = e - 1022 + extra;
  const hi = view.getUint16(0);
  view.setUint16(0, (hi & 0x800f) | (1022 << 4));
  return [view.getFloat64(0), exp];
}

function log2(x: number): number {
  const [frac, exp] = frexp(x);
  if (frac === 0.5) return exp - 1;
  return Math.log(frac) * INV_LN2 + exp;
}

function log10(x: number): number {
  return Math.log(x) * INV_LN10;
}

function simple(f: (v: number) => number): InstantFunction {
  return ([vec]) => vec!.map((s) => ({ labels: s.labels.withoutMetricName(), v: f(s.v), src: -1 }));
}

/** The string value of a string-literal argument. */
function stringArg(e: Expr): string {
  const u = unwrapParens(e);
  if (u.type !== "string") throw new QueryError("expected a string literal argument");
  return u.value;
}

/** Go's `regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`. */
export function expandTemplate(template: string, m: RegExpExecArray): string {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== "$") {
      out += c;
      continue;
    }
    const next = template[i + 1];
    if (next === "$") {
      out += "$";
      i++;
      continue;
    }
    let name: string;
    let end: number;
    if (next === "{") {
      const close = template.indexOf("}", i + 2);
      name = close < 0 ? "" : template.slice(i + 2, close);
      if (close < 0 || !/^[A-Za-z0-9_]+$/.test(name)) {
        out += "$";
        continue;
      }
      end = close;
    } else {
      const word = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (!word) {
        out += "$";
        continue;
      }
      name = word[0];
      end = i + name.length;
    }
    if (/^[0-9]+$/.test(name)) {
      const n = Number(name);
      out += n < m.length ? (m[n] ?? "") : "";
    } else out += m.groups?.[name] ?? "";
    i = end;
  }
  return out;
}

function labelReplace(args: readonly Sample[][], ctx: StepContext): Sample[] {
  const a = ctx.call.args;
  const dst = stringArg(a[1]!);
  const repl = stringArg(a[2]!);
  const src = stringArg(a[3]!);
  const reText = stringArg(a[4]!);
  let re = ctx.cache.get("re") as RegExp | undefined;
  if (!re) {
    try {
      re = compileRe2(reText);
    } catch {
      throw new QueryError(`invalid regular expression in label_replace(): ${reText}`);
    }
    if (!isValidLabelName(dst)) {
      throw new QueryError(`invalid destination label name in label_replace(): ${dst}`);
    }
    ctx.cache.set("re", re);
  }
  return args[0]!.map((s) => {
    let out = ctx.cache.get(s.labels) as Labels | undefined;
    if (!out) {
      const m = re!.exec(s.labels.get(src));
      out = m ? s.labels.with(dst, expandTemplate(repl, m)) : s.labels;
      ctx.cache.set(s.labels, out);
    }
    return { labels: out, v: s.v, src: -1 };
  });
}

function labelJoin(args: readonly Sample[][], ctx: StepContext): Sample[] {
  const a = ctx.call.args;
  const dst = stringArg(a[1]!);
  const sep = stringArg(a[2]!);
  const srcs = a.slice(3).map(stringArg);
  for (const s of srcs) {
    if (!isValidLabelName(s)) {
      throw new QueryError(`invalid source label name in label_join(): ${s}`);
    }
  }
  if (!isValidLabelName(dst)) {
    throw new QueryError(`invalid destination label name in label_join(): ${dst}`);
  }
  return args[0]!.map((s) => {
    let out = ctx.cache.get(s.labels) as Labels | undefined;
    if (!out) {
      out = s.labels.with(dst, srcs.map((n) => s.labels.get(n)).join(sep));
      ctx.cache.set(s.labels, out);
    }
    return { labels: out, v: s.v, src: -1 };
  });
}

/** Labels `absent()` gives its one sample: the selector's equality matchers, once each. */
export function absentLabels(arg: Expr): Labels {
  const e = unwrapParens(arg);
  const sel = e.type === "vector_selector"
    ? e
    : e.type === "matrix_selector"
    ? e.selector
    : undefined;
  if (!sel) return Labels.EMPTY;
  const map = new Map<string, string>();
  const seen = new Set<string>();
  for (const m of sel.matchers) {
    if (m.name === METRIC_NAME) continue;
    if (m.op === "=" && !seen.has(m.name)) {
      map.set(m.name, m.value);
      seen.add(m.name);
    } else map.delete(m.name);
  }
  return Labels.fromMap(map);
}

interface Bucket {
  upper: number;
  count: number;
}

/** Prometheus's `bucketQuantile` over classic histogram buckets. */
export function bucketQuantile(q: number, buckets: Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  buckets.sort((a, b) => (a.upper < b.upper ? -1 : a.upper > b.upper ? 1 : 0));
  if (buckets[buckets.length - 1]!.upper !== Infinity) return NaN;
  // Coalesce buckets with the same upper bound.
  const merged: Bucket[] = [];
  for (const b of buckets) {
    const last = merged[merged.length - 1];
    if (last && last.upper === b.upper) last.count += b.count;
    else merged.push({ ...b });
  }
  // Make counts monotonic (scrapes are not atomic).
  let max = merged[0]!.count;
  for (let i = 1; i < merged.length; i++) {
    if (merged[i]!.count > max) max = merged[i]!.count;
    else if (merged[i]!.count < max) merged[i]!.count = max;
  }
  if (merged.length < 2) return NaN;
  const observations = merged[merged.length - 1]!.count;
  if (observations === 0) return NaN;
  let rank = q * observations;
  let b = 0;
  while (b < merged.length - 1 && !(merged[b]!.count >= rank)) b++;
  if (b === merged.length - 1) return merged[merged.length - 2]!.upper;
  if (b === 0 && merged[0]!.upper <= 0) return merged[0]!.upper;
  let bucketStart = 0;
  const bucketEnd = merged[b]!.upper;
  let count = merged[b]!.count;
  if (b > 0) {
    bucketStart = merged[b - 1]!.upper;
    count -= merged[b - 1]!.count;
    rank -= merged[b - 1]!.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

/** Go's `strconv.ParseFloat` subset accepted for `le` labels. */
function parseBound(s: string): number {
  const t = s.trim() === s ? s : "";
  if (/^[+-]?inf(inity)?$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(t)) return NaN;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || /^[+-]?0[xX][0-9a-fA-F]+$/.test(t)) {
    return Number(t);
  }
  return NaN;
}

function histogramQuantile(args: readonly Sample[][]): Sample[] {
  const q = args[0]![0]!.v;
  const groups = new Map<string, { labels: Labels; buckets: Bucket[] }>();
  const drop = new Set([METRIC_NAME, "le"]);
  for (const s of args[1]!) {
    const le = s.labels.get("le");
    const upper = parseBound(le);
    if (le === "" || Number.isNaN(upper)) continue;
    const labels = s.labels.drop(drop);
    const key = labels.key();
    let g = groups.get(key);
    if (!g) groups.set(key, g = { labels, buckets: [] });
    g.buckets.push({ upper, count: s.v });
  }
  const out: Sample[] = [];
  for (const g of groups.values()) {
    out.push({ labels: g.labels, v: bucketQuantile(q, g.buckets), src: -1 });
  }
  return out;
}

function dateFunction(f: (d: Date) => number): InstantFunction {
  return (args, ctx) => {
    if (args.length === 0) {
      return [{ labels: Labels.EMPTY, v: f(new Date(Math.trunc(ctx.ts / 1000) * 1000)), src: -1 }];
    }
    return args[0]!.map((s) => ({
      labels: s.labels.withoutMetricName(),
      v: f(new Date(Math.trunc(s.v) * 1000)),
      src: -1,
    }));
  };
}

function sortBy(desc: boolean): InstantFunction {
  return ([vec]) =>
    [...vec!].sort((a, b) => {
      // NaN sorts last in both directions.
      if (Number.isNaN(a.v)) return Number.isNaN(b.v) ? 0 : 1;
      if (Number.isNaN(b.v)) return -1;
      return desc ? b.v - a.v || 0 : a.v - b.v || 0;
    });
}

/** Instant-vector and scalar functions by name (`timestamp` of a selector is the engine's). */
export const INSTANT_FUNCTIONS: ReadonlyMap<string, InstantFunction> = new Map<
  string,
  InstantFunction
>([
  ["abs", simple(Math.abs)],
  ["ceil", simple(Math.ceil)],
  ["floor", simple(Math.floor)],
  ["exp", simple(Math.exp)],
  ["sqrt", simple(Math.sqrt)],
  ["ln", simple(Math.log)],
  ["log2", simple(log2)],
  ["log10", simple(log10)],
  ["sin", simple(Math.sin)],
  ["cos", simple(Math.cos)],
  ["tan", simple(Math.tan)],
  ["asin", simple(Math.asin)],
  ["acos", simple(Math.acos)],
  ["atan", simple(Math.atan)],
  ["sinh", simple(Math.sinh)],
  ["cosh", simple(Math.cosh)],
  ["tanh", simple(Math.tanh)],
  ["asinh", simple(Math.asinh)],
  ["acosh", simple(Math.acosh)],
  ["atanh", simple(Math.atanh)],
  ["deg", simple((v) => (v * 180) / Math.PI)],
  ["rad", simple((v) => (v * Math.PI) / 180)],
  ["sgn", simple((v) => (v < 0 ? -1 : v > 0 ? 1 : v))],
  ["clamp", (args) => {
    const min = args[1]![0]!.v;
    const max = args[2]![0]!.v;
    if (max < min) return [];
    return args[0]!.map((s) => ({
      labels: s.labels.withoutMetricName(),
      v: Math.max(min, Math.min(max, s.v)),
      src: -1,
    }));
  }],
  ["clamp_max", (args) => {
    const max = args[1]![0]!.v;
    return args[0]!.map((s) => ({
      labels: s.labels.withoutMetricName(),
      v: Math.min(max, s.v),
      src: -1,
    }));
  }],
  ["clamp_min", (args) => {
    const min = args[1]![0]!.v;
    return args[0]!.map((s) => ({
      labels: s.labels.withoutMetricName(),
      v: Math.max(min, s.v),
      src: -1,
    }));
  }],
  ["round", (args) => {
    const toNearest = args.length > 1 ? args[1]![0]!.v : 1;
    // Prometheus multiplies by the inverse: fewer floating point surprises.
    const inv = 1 / toNearest;
    return args[0]!.map((s) => ({
      labels: s.labels.withoutMetricName(),
      v: Math.floor(s.v * inv + 0.5) / inv,
      src: -1,
    }));
  }],
  [
    "scalar",
    ([vec]) => [{ labels: Labels.EMPTY, v: vec!.length === 1 ? vec![0]!.v : NaN, src: -1 }],
  ],
  ["vector", (args) => [{ labels: Labels.EMPTY, v: args[0]![0]!.v, src: -1 }]],
  ["time", (_args, ctx) => [{ labels: Labels.EMPTY, v: ctx.ts / 1000, src: -1 }]],
  ["pi", () => [{ labels: Labels.EMPTY, v: Math.PI, src: -1 }]],
  [
    "timestamp",
    ([vec], ctx) =>
      vec!.map((s) => ({ labels: s.labels.withoutMetricName(), v: ctx.ts / 1000, src: -1 })),
  ],
  ["sort", sortBy(false)],
  ["sort_desc", sortBy(true)],
  ["label_replace", labelReplace],
  ["label_join", labelJoin],
  [
    "absent",
    ([vec], ctx) =>
      vec!.length > 0 ? [] : [{ labels: absentLabels(ctx.call.args[0]!), v: 1, src: -1 }],
  ],
  ["histogram_quantile", histogramQuantile],
  [
    "days_in_month",
    dateFunction((d) =>
      new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate()
    ),
  ],
  ["day_of_month", dateFunction((d) => d.getUTCDate())],
  ["day_of_week", dateFunction((d) => d.getUTCDay())],
  [
    "day_of_year",
    dateFunction((d) =>
      Math.round(
        (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) -
          Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000,
      ) + 1
    ),
  ],
  ["hour", dateFunction((d) => d.getUTCHours())],
  ["minute", dateFunction((d) => d.getUTCMinutes())],
  ["month", dateFunction((d) => d.getUTCMonth() + 1)],
  ["year", dateFunction((d) => d.getUTCFullYear())],
]);

/** `count_values`' label value: Go's `FormatFloat(v, 'f', -1, 64)`. */
export const countValuesLabel: (v: number) => string = formatFloatPlain;
