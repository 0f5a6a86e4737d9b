/**
 * Aggregation operators (`sum avg min max count group stddev stdvar topk bottomk quantile
 * count_values`) with `by`/`without`, one step at a time, as Prometheus 2.42 computes them
 * (ARCHITECTURE.md § "PromQL engine"): groups in order of first appearance; `sum` by plain
 * addition; `avg` by an incremental mean that survives infinities; `stddev`/`stdvar` by
 * Welford's method; `topk`/`bottomk` through the same binary heap as Go's `container/heap`, so
 * ties resolve the same way.
 *
 * @module
 */

import type { AggregateOp } from "./ast.ts";
import type { Sample } from "./functions.ts";
import { isValidLabelName, type Labels, METRIC_NAME } from "./labels.ts";
import { quantileOf } from "./range_functions.ts";
import { formatFloatPlain } from "./format.ts";
import { QueryError } from "./errors.ts";

/** How an aggregation groups: precomputed per input series. */
export interface Grouping {
  readonly labels: readonly string[];
  readonly without: boolean;
}

/** The group key and group labels of a label set. */
export function groupOf(g: Grouping, labels: Labels): { key: string; labels: Labels } {
  const out = g.without
    ? labels.drop(new Set([...g.labels, METRIC_NAME]))
    : labels.keep(new Set(g.labels));
  return { key: out.key(), labels: out };
}

interface Group {
  labels: Labels;
  value: number;
  mean: number;
  count: number;
  heap: Sample[];
}

type Less = (a: Sample, b: Sample) => boolean;
// Min-heap for topk with NaN on top (replaced first); max-heap for bottomk, NaN on top too.
const topLess: Less = (a, b) => Number.isNaN(a.v) || a.v < b.v;
const bottomLess: Less = (a, b) => Number.isNaN(a.v) || a.v > b.v;

function heapUp(h: Sample[], j: number, less: Less): void {
  while (j > 0) {
    const i = (j - 1) >> 1;
    if (!less(h[j]!, h[i]!)) break;
    [h[i], h[j]] = [h[j]!, h[i]!];
    j = i;
  }
}

function heapDown(h: Sample[], i: number, n: number, less: Less): void {
  for (;;) {
    const j1 = 2 * i + 1;
    if (j1 >= n) break;
    let j = j1;
    const j2 = j1 + 1;
    if (j2 < n && less(h[j2]!, h[j1]!)) j = j2;
    if (!less(h[j]!, h[i]!)) break;
    [h[i], h[j]] = [h[j]!, h[i]!];
    i = j;
  }
}

function heapPush(h: Sample[], s: Sample, less: Less): void {
  h.push(s);
  heapUp(h, h.length - 1, less);
}

function heapPop(h: Sample[], less: Less): void {
  const n = h.length - 1;
  [h[0], h[n]] = [h[n]!, h[0]!];
  heapDown(h, 0, n, less);
  h.pop();
}

/**
 * Aggregates one step's vector. `keys[i]`/`groupLabels[i]` are the precomputed group of input
 * series `i` (samples carry their series index in `src`); `param` is the scalar or string
 * parameter.
 */
export function aggregate(
  op: AggregateOp,
  grouping: Grouping,
  param: number | string | undefined,
  vec: readonly Sample[],
  keyOf: (s: Sample) => { key: string; labels: Labels },
): Sample[] {
  let k = 0;
  if (op === "topk" || op === "bottomk") {
    const f = param as number;
    if (!(f <= 9223372036854775807 && f >= -9223372036854775808)) {
      throw new QueryError(`Scalar value ${goFloat(f)} overflows int64`);
    }
    k = Math.trunc(f);
    if (k < 1) return [];
  }
  let valueLabel = "";
  if (op === "count_values") {
    valueLabel = param as string;
    if (!isValidLabelName(valueLabel)) throw new QueryError(`invalid label name "${valueLabel}"`);
  }
  const groups = new Map<string, Group>();
  const ordered: Group[] = [];
  for (let i = 0; i < vec.length; i++) {
    const s = vec[i]!;
    let g: { key: string; labels: Labels };
    let sample = s;
    if (op === "count_values") {
      const labels = s.labels.with(valueLabel, formatFloatPlain(s.v));
      sample = { labels, v: s.v, src: -1 };
      const by = grouping.without
        ? grouping
        : { labels: [...grouping.labels, valueLabel], without: false };
      g = groupOf(by, labels);
    } else g = keyOf(s);
    let group = groups.get(g.key);
    if (!group) {
      group = { labels: g.labels, value: s.v, mean: s.v, count: 1, heap: [] };
      groups.set(g.key, group);
      ordered.push(group);
      if (op === "stddev" || op === "stdvar") group.value = 0;
      else if (op === "topk" || op === "bottomk" || op === "quantile") group.heap.push(sample);
      else if (op === "group") group.value = 1;
      continue;
    }
    accumulate(op, group, sample, k);
  }
  const out: Sample[] = [];
  for (const g of ordered) {
    switch (op) {
      case "avg":
        g.value = g.mean;
        break;
      case "count":
      case "count_values":
        g.value = g.count;
        break;
      case "stdvar":
        g.value = g.value / g.count;
        break;
      case "stddev":
        g.value = Math.sqrt(g.value / g.count);
        break;
      case "topk":
      case "bottomk": {
        const desc = op === "topk";
        const sorted = g.heap.slice().sort((a, b) => {
          if (Number.isNaN(a.v)) return Number.isNaN(b.v) ? 0 : 1;
          if (Number.isNaN(b.v)) return -1;
          return desc ? (b.v > a.v ? 1 : b.v < a.v ? -1 : 0) : (a.v > b.v ? 1 : a.v < b.v ? -1 : 0);
        });
        for (const s of sorted) out.push({ labels: s.labels, v: s.v, src: -1 });
        continue;
      }
      case "quantile":
        g.value = quantileOf(param as number, g.heap.map((s) => s.v));
        break;
    }
    out.push({ labels: g.labels, v: g.value, src: -1 });
  }
  return out;
}

function accumulate(op: AggregateOp, g: Group, s: Sample, k: number): void {
  const v = s.v;
  switch (op) {
    case "sum":
      g.value += v;
      return;
    case "avg":
      g.count++;
      if (g.mean === Infinity || g.mean === -Infinity) {
        if ((v === Infinity || v === -Infinity) && (g.mean > 0) === (v > 0)) return;
        if (Number.isFinite(v)) return;
      }
      // Dividing both terms by the count avoids overflow for large values.
      g.mean += v / g.count - g.mean / g.count;
      return;
    case "group":
      return;
    case "max":
      if (g.value < v || Number.isNaN(g.value)) g.value = v;
      return;
    case "min":
      if (g.value > v || Number.isNaN(g.value)) g.value = v;
      return;
    case "count":
    case "count_values":
      g.count++;
      return;
    case "stddev":
    case "stdvar": {
      g.count++;
      const delta = v - g.mean;
      g.mean += delta / g.count;
      g.value += delta * (v - g.mean);
      return;
    }
    case "topk":
    case "bottomk": {
      const less = op === "topk" ? topLess : bottomLess;
      const h = g.heap;
      const top = h[0]!;
      const better = op === "topk" ? top.v < v : top.v > v;
      if (h.length < k || better || Number.isNaN(top.v)) {
        if (h.length === k) {
          if (k === 1) {
            h[0] = s;
            return;
          }
          heapPop(h, less);
        }
        heapPush(h, s, less);
      }
      return;
    }
    case "quantile":
      g.heap.push(s);
      return;
  }
}

/** True for the operators `aggregateColumns` computes. */
export function isColumnarAggregate(op: AggregateOp): boolean {
  return op === "sum" || op === "avg" || op === "min" || op === "max" || op === "count" ||
    op === "group";
}

/**
 * `sum avg min max count group` over every step of a range query at once: one pass over each
 * input series into per-group, per-step columns, no object per sample. For a given group and
 * step the values are combined in input-series order, exactly as the step-by-step path (and
 * Prometheus) combines them, so the floats are the same. Points must lie on the steps.
 */
export function aggregateColumns(
  op: AggregateOp,
  input: readonly { labels: Labels; ts: number[]; vs: number[] }[],
  groups: readonly { key: string; labels: Labels }[],
  start: number,
  interval: number,
  steps: number,
): { labels: Labels; ts: number[]; vs: number[] }[] {
  const index = new Map<string, number>();
  const labels: Labels[] = [];
  const gi = new Int32Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const g = groups[i]!;
    let k = index.get(g.key);
    if (k === undefined) {
      k = labels.length;
      index.set(g.key, k);
      labels.push(g.labels);
    }
    gi[i] = k;
  }
  const value = new Float64Array(labels.length * steps);
  const count = new Float64Array(labels.length * steps);
  for (let i = 0; i < input.length; i++) {
    const s = input[i]!;
    const base = gi[i]! * steps;
    for (let p = 0; p < s.ts.length; p++) {
      const at = base + (s.ts[p]! - start) / interval;
      const v = s.vs[p]!;
      const n = ++count[at]!;
      if (n === 1) {
        value[at] = op === "group" ? 1 : v;
        continue;
      }
      const cur = value[at]!;
      switch (op) {
        case "sum":
          value[at] = cur + v;
          break;
        case "avg":
          // The incremental mean of the step-by-step path, infinities included.
          if (
            (cur === Infinity || cur === -Infinity) &&
            (((v === Infinity || v === -Infinity) && (cur > 0) === (v > 0)) || Number.isFinite(v))
          ) {
            break;
          }
          value[at] = cur + (v / n - cur / n); // Go: mean += v/n - mean/n
          break;
        case "max":
          if (cur < v || Number.isNaN(cur)) value[at] = v;
          break;
        case "min":
          if (cur > v || Number.isNaN(cur)) value[at] = v;
          break;
      }
    }
  }
  const out: { labels: Labels; ts: number[]; vs: number[] }[] = [];
  for (let g = 0; g < labels.length; g++) {
    const series = { labels: labels[g]!, ts: [] as number[], vs: [] as number[] };
    for (let k = 0; k < steps; k++) {
      const n = count[g * steps + k]!;
      if (n === 0) continue;
      series.ts.push(start + k * interval);
      series.vs.push(op === "count" ? n : value[g * steps + k]!);
    }
    if (series.ts.length > 0) out.push(series);
  }
  return out;
}

/** Go's `%v` of a float64 in an error message. */
function goFloat(f: number): string {
  if (Number.isNaN(f)) return "NaN";
  if (f === Infinity) return "+Inf";
  if (f === -Infinity) return "-Inf";
  return String(f);
}
